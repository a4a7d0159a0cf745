"""Every config in configs/ resolves, and the downstream ones train a few
steps with `spacy train` on real data (UD English-EWT, WNUT-17), save, load
and evaluate."""
import os
import subprocess
import sys

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.training import Corpus
from thinc.api import Config

from helpers import ROOT
from spacy_elmo.corpora import create_conll_ner_corpus_v1

CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))
DOWNSTREAM = [p for p in CONFIGS if not p.name.startswith("bilm_")]
TASKS = ["tagger", "ner", "parser", "textcat"]


def test_every_task_has_elmo_and_baseline_twins():
    names = {p.name for p in CONFIGS}
    for task in TASKS:
        assert {f"{task}_elmo.cfg", f"{task}_baseline.cfg"} <= names


@pytest.fixture(scope="module")
def ud(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ud")
    ewt = shared_data / "ud-english-ewt"
    for split, n in (("train", 40), ("dev", 20)):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_ud.py"), str(ewt / f"en_ewt-ud-{split}.conllu.gz"),
                        str(out / f"{split}.spacy"), "--limit", str(n)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def wnut(shared_data, tmp_path_factory):
    # 80 sentences of each split, so a few training steps see entities
    out = tmp_path_factory.mktemp("wnut")
    for name, src in (("train", "wnut17train.conll"), ("dev", "emerging.dev.conll")):
        blocks = (shared_data / "wnut17" / src).read_text(encoding="utf8").split("\n\n")
        (out / f"{name}.conll").write_text("\n\n".join(blocks[:80]) + "\n", encoding="utf8")
    return out


@pytest.fixture(scope="module")
def vectors_dir(shared_data, tmp_path_factory):
    """A spaCy vectors pipeline from a real fastText .vec file."""
    from spacy_elmo.word2vec.convert import init_vectors

    out = tmp_path_factory.mktemp("vectors") / "vectors"
    init_vectors("en", shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec", out)
    return out


def paths_for(config, ud, wnut):
    if config.name.startswith("ner_"):
        return str(wnut / "train.conll"), str(wnut / "dev.conll")
    return str(ud / "train.spacy"), str(ud / "dev.spacy")


@pytest.mark.parametrize("config", DOWNSTREAM, ids=lambda p: p.stem)
def test_config_resolves(config, ud, wnut):
    train, dev = paths_for(config, ud, wnut)
    cfg = spacy.util.load_config(config, overrides={"paths.train": train, "paths.dev": dev})
    listener = cfg["components"][cfg["nlp"]["pipeline"][1]]["model"]["tok2vec"]
    uses_vectors = listener.get("static_vectors") is not None or cfg["components"].get("tok2vec", {}).get(
        "model", {}).get("embed", {}).get("include_static_vectors", False)
    assert ("_vectors" in config.stem) == bool(uses_vectors)
    nlp = spacy.util.load_model_from_config(cfg, auto_fill=True, validate=True)
    resolved = spacy.util.registry.resolve(nlp.config.interpolate()["training"], schema=spacy.schemas.ConfigSchemaTraining)
    assert resolved["max_steps"] > 0
    if "_elmo" in config.stem:
        assert nlp.pipe_names[0] == "elmo"
        assert nlp.get_pipe("elmo").listening_components == [nlp.pipe_names[1]]


@pytest.mark.parametrize("config", [p for p in DOWNSTREAM if p.stem != "tagger_elmo_tiny"], ids=lambda p: p.stem)
def test_config_trains_saves_and_evaluates(config, ud, wnut, fixture_bilm_dir, vectors_dir, tmp_path):
    train, dev = paths_for(config, ud, wnut)
    overrides = {"paths.train": train, "paths.dev": dev, "training.max_steps": 4, "training.eval_frequency": 2,
                 "training.logger.progress_bar": False}
    if "_vectors" in config.stem:
        overrides["paths.vectors"] = str(vectors_dir)
    if "_elmo" in config.stem:
        overrides["paths.elmo"] = str(fixture_bilm_dir)  # the tiny fixture biLM keeps this fast
    spacy_train(config, tmp_path / "out", overrides=overrides)
    best = tmp_path / "out" / "model-best"
    nlp = spacy.load(best)
    task = config.stem.split("_")[0]
    assert task in nlp.pipe_names
    if "_vectors" in config.stem:
        assert nlp.vocab.vectors.shape == (1762, 10)
    if dev.endswith(".spacy"):
        examples = list(Corpus(dev)(nlp))
    else:
        examples = list(create_conll_ner_corpus_v1(path=dev)(nlp))
    scores = nlp.evaluate(examples)
    key = {"tagger": "tag_acc", "parser": "dep_las", "textcat": "cats_macro_f", "ner": "ents_f"}[task]
    assert key in scores  # ents_f is 0.0 (not None) when the few-step model finds no entity
    doc = nlp("Apple is looking at buying a U.K. startup in London.")
    if "_elmo" in config.stem:
        assert doc._.elmo_layers.shape[1] == len(doc)


NER_CONFIGS = [p for p in DOWNSTREAM if p.name.startswith("ner_")]


@pytest.fixture(scope="module")
def wnut_spacy(wnut, tmp_path_factory):
    """The same WNUT-17 sentences as DocBin files, written by scripts/convert_ner.py."""
    out = tmp_path_factory.mktemp("wnut_spacy")
    for name in ("train", "dev"):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_ner.py"), str(wnut / f"{name}.conll"),
                        str(out / f"{name}.spacy")], check=True, capture_output=True)
    return out


def corpus_summary(corpus, nlp):
    return sorted(([t.text for t in eg.reference], [(e.start, e.end, e.label_) for e in eg.reference.ents])
                  for eg in corpus(nlp))


@pytest.mark.parametrize("config", NER_CONFIGS, ids=lambda p: p.stem)
def test_ner_config_reads_spacy_files(config, wnut, wnut_spacy):
    """--paths.train corpus/train.spacy works with every NER config: the same
    sentences and entities as the token-per-line files."""
    nlp = spacy.blank("en")
    read = {}
    for kind, folder, suffix in (("spacy", wnut_spacy, ".spacy"), ("conll", wnut, ".conll")):
        overrides = {"paths.train": str(folder / f"train{suffix}"), "paths.dev": str(folder / f"dev{suffix}")}
        cfg = spacy.util.load_config(config, overrides=overrides, interpolate=True)
        corpora = spacy.util.registry.resolve(cfg["corpora"])
        read[kind] = [corpus_summary(corpora[split], nlp) for split in ("train", "dev")]
    assert read["spacy"] == read["conll"]
    assert len(read["spacy"][0]) >= 80 and sum(len(ents) for _, ents in read["spacy"][0]) > 10


def test_spacy_train_cli_on_spacy_files(wnut_spacy, fixture_bilm_dir, tmp_path):
    """`python -m spacy train configs/ner_elmo.cfg --paths.train train.spacy ...`
    trains (a few steps) and the NER learns the labels of the DocBin's entities."""
    from spacy.tokens import DocBin

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "ner_elmo.cfg"), "--output", str(out),
         "--paths.train", str(wnut_spacy / "train.spacy"), "--paths.dev", str(wnut_spacy / "dev.spacy"),
         "--paths.elmo", str(fixture_bilm_dir), "--training.max_steps", "2", "--training.eval_frequency", "1",
         "--training.logger.progress_bar", "false"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    nlp = spacy.load(out / "model-last")
    docs = DocBin().from_disk(wnut_spacy / "train.spacy").get_docs(nlp.vocab)
    assert set(nlp.get_pipe("ner").labels) == {e.label_ for doc in docs for e in doc.ents}
