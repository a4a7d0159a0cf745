"""The demo (README's main job): nearest contexts by ELMo vs static vectors."""
import subprocess
import sys

import pytest

from spacy_elmo.demo import DEMO_SENSES, nearest_contexts


@pytest.fixture(scope="module")
def vectors_pipeline(shared_data, tmp_path_factory):
    from spacy_elmo.word2vec.convert import init_vectors

    out = tmp_path_factory.mktemp("demo") / "vectors"
    init_vectors("en", shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec", out)
    return out


def test_nearest_contexts_with_static_vectors(vectors_pipeline):
    rows = nearest_contexts("default", vectors=str(vectors_pipeline))
    assert len(rows) == sum(len(v) for v in DEMO_SENSES.values()) == 10
    for word, sent, nearest, cos_elmo, cos_l0, cos_static, same in rows:
        assert word in sent.lower() and word in nearest.lower() and sent != nearest
        assert -1.0 <= cos_elmo <= 1.0 and cos_elmo < 0.9999  # contexts differ
        assert cos_l0 == pytest.approx(1.0, abs=1e-5)  # same word: same context-free vector
        if cos_static is not None:  # "bank"/"play" may be missing from the small .vec file
            assert cos_static == pytest.approx(1.0, abs=1e-5)
        assert same in (True, False)


def test_demo_cli_runs():
    proc = subprocess.run([sys.executable, "-m", "spacy", "elmo", "demo"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("nearest by ELMo:") == 10
    assert "has the same sense for" in proc.stdout
