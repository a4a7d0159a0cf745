import pytest


@pytest.fixture(scope="module")
def wiki_kv(shared_data):
    """gensim vectors trained on 1,500 lines of WikiText-2 (24 dims)."""
    from gensim.models import Word2Vec

    lines = (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8").splitlines()[:1500]
    sents = [line.split() for line in lines if line.strip()]
    model = Word2Vec(sents, vector_size=24, min_count=3, epochs=1, workers=1, seed=1)
    return model.wv

