"""`from spacy_elmo import ElmoEmbedder`: the same numbers as EFML's outputs,
bilm-tf's stateful outputs, the `embed` command and the component."""
import json

import h5py
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from typer.testing import CliRunner

from spacy_elmo import ElmoEmbedder
from spacy_elmo.cli._app import app


@pytest.fixture(scope="module")
def efml(shared_data):
    root = shared_data / "efml-fixture"
    sentences = json.loads((root / "sentences.json").read_text(encoding="utf8"))
    with h5py.File(root / "reference" / "cnn_word_char.hdf5", "r") as handle:
        refs = [handle[str(i)][...] for i in range(len(sentences))]
    return root / "models" / "cnn_word_char", sentences, refs


def test_efml_model_matches_efml(efml):
    model_dir, sentences, refs = efml
    embedder = ElmoEmbedder(str(model_dir), state_mode="reset", batch_size=7)
    outputs = embedder.embed_batch(sentences)
    assert len(outputs) == len(sentences)
    for out, ref in zip(outputs, refs):
        assert out.dtype == numpy.float32 and out.shape == ref.shape
        if out.size:
            assert numpy.abs(out - ref).max() < 1e-5
    single = embedder.embed_sentence(sentences[3])
    numpy.testing.assert_allclose(single, outputs[3], rtol=0, atol=2e-6)
    assert embedder.embed_sentence([]).shape == (3, 0, 64)


def test_bilm_tf_carry_reproduces_published_stateful_outputs(fixtures_dir, fixture_bilm_dir):
    lists = json.loads((fixtures_dir / "sentences.json").read_text())
    lines = [lists[k][i].split() for i in range(10) for k in range(3)]  # bilm-tf's batch order
    embedder = ElmoEmbedder(str(fixture_bilm_dir), state_mode="carry", batch_size=3)
    got = list(embedder.embed_sentences(iter(lines)))
    refs = [h5py.File(fixtures_dir / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    for index, out in enumerate(got):
        i, k = divmod(index, 3)
        expected = numpy.concatenate(list(refs[k][str(i)][...]), axis=-1)
        numpy.testing.assert_allclose(out[2], expected, rtol=0, atol=1e-6)
    embedder.reset_state()
    again = embedder.embed_batch(lines[:3])
    assert all(numpy.array_equal(a, b) for a, b in zip(again, got[:3]))


def test_same_numbers_as_embed_and_the_component(fixture_bilm_dir, tmp_path):
    lines = [["The", "bank", "closed", "."], ["A", "river", "bank", "."], ["word"] * 300, ["Hi"]]
    embedder = ElmoEmbedder(str(fixture_bilm_dir), state_mode="warm")
    ours = embedder.embed_batch(lines)
    (tmp_path / "in.txt").write_text("\n".join(" ".join(s) for s in lines) + "\n")
    result = CliRunner().invoke(
        app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--weights", str(fixture_bilm_dir)]
    )
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "o.hdf5", "r") as handle:
        for i, out in enumerate(ours):
            assert numpy.array_equal(handle[str(i)][...], out)  # the same batches: bit for bit
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(fixture_bilm_dir)}}})
    nlp.initialize()
    for words, out in zip(lines, ours):
        doc = nlp(Doc(nlp.vocab, words=words))
        numpy.testing.assert_allclose(doc._.elmo_layers, out, rtol=2e-6, atol=2e-6)
    assert ours[2].shape == (3, 300, 32)  # 256 + 44 tokens, in two chunks as the component cuts them


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "batch_size is 0"),
        ({"state_mode": "stateful"}, "stateful"),
        ({"device": "gpu"}, "not a torch device"),
        ({"precision": "fp8"}, "fp8"),
    ],
)
def test_bad_settings_fail_before_loading(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        ElmoEmbedder(str(tmp_path / "no-such-model"), **kwargs)


def test_bad_sentences(fixture_bilm_dir):
    embedder = ElmoEmbedder(str(fixture_bilm_dir))
    with pytest.raises(ValueError, match="sentence 1 is 'not tokenized', not a list of token strings"):
        embedder.embed_batch([["ok"], "not tokenized"])
    with pytest.raises(ValueError, match="sentence 0"):
        embedder.embed_sentence([1, 2])
