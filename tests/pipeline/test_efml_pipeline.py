"""An ELMoForManyLangs model directory wherever a biLM is named: the component
(and its save/load round trips), `embed`, `dump-token-embeddings`, `demo`
and a listener in `spacy train`."""
import shutil
import subprocess
import sys

import h5py
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from typer.testing import CliRunner

from efml_helpers import fixture_reference, fixture_sentences
from helpers import ROOT
from spacy_elmo.cli._app import app
from spacy_elmo.models.bilm import get_bilm

runner = CliRunner()


@pytest.fixture(scope="module")
def fixture_dir(shared_data):
    return shared_data / "efml-fixture"


@pytest.fixture(scope="module")
def sentences(fixture_dir):
    return fixture_sentences(fixture_dir)


@pytest.fixture(scope="module")
def reference(fixture_dir, sentences):
    return fixture_reference(fixture_dir, len(sentences))


@pytest.fixture
def model_copy(fixture_dir, tmp_path):
    out = tmp_path / "efml_model"
    shutil.copytree(fixture_dir / "models" / "cnn_word_char", out)
    return out


def make_nlp(weights, state_mode="reset"):
    nlp = spacy.blank("xx")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(weights), "state_mode": state_mode}}})
    nlp.initialize()
    return nlp


def test_component_matches_efml_and_saves_self_contained(model_copy, sentences, reference, tmp_path):
    nlp = make_nlp(model_copy)
    docs = [Doc(nlp.vocab, words=s) for s in sentences if s]
    refs = [r for s, r in zip(sentences, reference) if s]
    docs = list(nlp.pipe(docs))
    for doc, ref in zip(docs, refs):
        assert doc._.elmo_layers.shape == ref.shape
        assert numpy.abs(doc._.elmo_layers - ref).max() < 1e-5
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model_copy)  # the saved pipeline needs no EFML file
    loaded = spacy.load(tmp_path / "pipeline")
    ours, theirs = get_bilm(nlp.get_pipe("elmo").model), get_bilm(loaded.get_pipe("elmo").model)
    assert type(ours) is type(theirs) and ours.vocab.chars == theirs.vocab.chars
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert torch.equal(a, b), name
    again = list(loaded.pipe([Doc(loaded.vocab, words=s) for s in sentences if s]))
    for doc, other in zip(docs, again):
        assert numpy.array_equal(doc._.elmo_layers, other._.elmo_layers)
    elmo = loaded.get_pipe("elmo")
    clone = spacy.blank("xx").add_pipe("elmo", config={"model": {"bilm": {"weights": None}}})
    clone.from_bytes(elmo.to_bytes())
    assert torch.equal(get_bilm(clone.model).char_cnn.word_embed.weight, theirs.char_cnn.word_embed.weight)


def test_warm_mode_is_deterministic(model_copy, sentences):
    nlp = make_nlp(model_copy, "warm")
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    assert bilm.warm_h.abs().sum() > 0  # estimated on the warm-up text
    first = nlp(Doc(nlp.vocab, words=sentences[0]))._.elmo_layers
    nlp(Doc(nlp.vocab, words=sentences[1]))
    second = nlp(Doc(nlp.vocab, words=sentences[0]))._.elmo_layers
    assert numpy.array_equal(first, second)


def test_embed_command(model_copy, sentences, reference, tmp_path):
    lines = [" ".join(s) for s in sentences[:12] if s and all(" " not in t and t for t in s)]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    out = tmp_path / "out.hdf5"
    result = runner.invoke(
        app, ["embed", str(tmp_path / "in.txt"), str(out), "--weights", str(model_copy), "--state-mode", "reset"]
    )
    assert result.exit_code == 0, result.output
    by_line = {" ".join(s): r for s, r in zip(sentences, reference)}
    with h5py.File(out, "r") as handle:
        for i, line in enumerate(lines):
            assert numpy.abs(handle[str(i)][...] - by_line[line]).max() < 1e-5


def test_dump_token_embeddings(model_copy, sentences, reference, tmp_path):
    words = list(dict.fromkeys(t for s in sentences[:5] for t in s))
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf8")
    out = tmp_path / "emb.hdf5"
    result = runner.invoke(app, ["dump-token-embeddings", str(model_copy), str(tmp_path / "vocab.txt"), str(out)])
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as handle:
        table = handle["embedding"][...]
    p = table.shape[1]
    for s, ref in zip(sentences[:5], reference):
        for j, token in enumerate(s):
            assert numpy.abs(table[words.index(token)] - ref[0, j, :p]).max() < 1e-5


def test_demo_runs_on_an_efml_model(model_copy):
    result = runner.invoke(app, ["demo", "--weights", str(model_copy)])
    assert result.exit_code == 0, result.output


def test_bad_efml_dir_is_a_clear_error_everywhere(model_copy, tmp_path):
    (model_copy / "word.dic").unlink()
    with pytest.raises(ValueError, match=r"word\.dic: the file does not exist"):
        make_nlp(model_copy)
    (tmp_path / "in.txt").write_text("a b\n")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--weights", str(model_copy)])
    assert result.exit_code == 1 and "word.dic" in result.output
    assert not (tmp_path / "o.hdf5").exists()


def test_spacy_train_with_a_listener_on_an_efml_model(model_copy, tmp_path):
    import gzip

    from spacy.tokens import DocBin

    vocab = spacy.blank("en").vocab
    docs, words, tags = [], [], []
    with gzip.open(ROOT.parent / "shared/data/ud-english-ewt/en_ewt-ud-train.conllu.gz", "rt", encoding="utf8") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 10 and cols[0].isdigit():
                words.append(cols[1])
                tags.append(cols[3])
            elif not line.strip() and words:
                docs.append(Doc(vocab, words=words, tags=tags))
                words, tags = [], []
                if len(docs) == 40:
                    break
    DocBin(docs=docs[:30]).to_disk(tmp_path / "train.spacy")
    DocBin(docs=docs[30:]).to_disk(tmp_path / "dev.spacy")
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "tagger_elmo_tiny.cfg"),
         "--output", str(tmp_path / "out"), "--paths.train", str(tmp_path / "train.spacy"),
         "--paths.dev", str(tmp_path / "dev.spacy"), "--training.max_steps", "6",
         "--training.eval_frequency", "3", "--components.elmo.model.bilm.weights", str(model_copy)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    shutil.rmtree(model_copy)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    doc = nlp("Le chat est noir .")
    assert doc._.elmo_layers.shape == (3, 5, 64) and all(t.tag_ for t in doc)
