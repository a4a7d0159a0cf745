"""`spacy train` with configs/tagger_elmo_tiny.cfg on real UD English-EWT data."""
import gzip
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from helpers import ROOT, fixture_bilm_path


def conllu_docs(path, vocab, n):
    docs, words, tags = [], [], []
    with gzip.open(path, "rt", encoding="utf8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                if words:
                    docs.append(Doc(vocab, words=words, tags=tags))  # UPOS as tag_
                    words, tags = [], []
                    if len(docs) == n:
                        break
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if "-" in cols[0] or "." in cols[0]:
                continue  # multi-word token ranges and empty nodes
            words.append(cols[1])
            tags.append(cols[3])
    return docs


@pytest.fixture(scope="module")
def ud_corpus(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ud")
    vocab = spacy.blank("en").vocab
    ud = shared_data / "ud-english-ewt"
    DocBin(docs=conllu_docs(ud / "en_ewt-ud-train.conllu.gz", vocab, 60)).to_disk(out / "train.spacy")
    DocBin(docs=conllu_docs(ud / "en_ewt-ud-dev.conllu.gz", vocab, 30)).to_disk(out / "dev.spacy")
    return out


def test_debug_config_resolves():
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "debug", "config", str(ROOT / "configs" / "tagger_elmo_tiny.cfg"),
         "--paths.train", "x", "--paths.dev", "y"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Config is valid" in proc.stdout


def test_spacy_train_with_elmo_listener(ud_corpus, tmp_path):
    config = ROOT / "configs" / "tagger_elmo_tiny.cfg"
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(config), "--output", str(tmp_path / "out"),
         "--paths.train", str(ud_corpus / "train.spacy"), "--paths.dev", str(ud_corpus / "dev.spacy"),
         "--training.max_steps", "30", "--training.eval_frequency", "15",
         "--components.elmo.model.bilm.weights", fixture_bilm_path()],  # tiny biLM: fast
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["elmo", "tagger"]
    doc = nlp("The bank closed early today .")
    assert doc._.elmo_layers.shape == (3, 6, 32)
    assert all(t.tag_ for t in doc)
    # training improved the dev score over the first evaluation
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    scores = [float(row[-1]) for row in rows]
    assert len(scores) >= 2 and scores[-1] > scores[0], proc.stdout
