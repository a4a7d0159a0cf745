"""word2vec -> spaCy Vectors: duplicate keys, dedupe, prune, truncate, dtype."""
import warnings

import numpy
import pytest
import spacy
from spacy.strings import StringStore

from spacy_elmo.word2vec.convert import dedupe_rows, load_word2vec_vectors, word2vec_to_vectors
from spacy_elmo.word2vec.read import read_word2vec

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402


def test_special_keys_and_duplicates(tmp_path):
    path = tmp_path / "keys.txt"
    rows = ["été 1 2", "🙂 3 4", "NOUN 5 6", "IS_ALPHA 7 8", "kangaroo.n.01 9 10", "été 11 12", "a\u00a0b 13 14", "Été 15 16"]
    path.write_text(f"{len(rows)} 2\n" + "\n".join(rows) + "\n", encoding="utf8")
    with pytest.warns(UserWarning, match="1 duplicate"):
        table = read_word2vec(path)
    assert table.keys == ["été", "🙂", "NOUN", "IS_ALPHA", "kangaroo.n.01", "a\u00a0b", "Été"]
    assert table.data[0].tolist() == [1, 2] and table.data[-1].tolist() == [15, 16]
    with pytest.warns(UserWarning, match="2 duplicate"):
        lower = read_word2vec(path, lowercase=True)
    assert lower.keys[0] == "été" and "Été" not in lower.keys
    nlp = spacy.blank("en")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_word2vec_vectors(nlp, path)
    nlp.to_disk(tmp_path / "nlp")
    nlp2 = spacy.load(tmp_path / "nlp")
    for key, vec in [("été", [1, 2]), ("🙂", [3, 4]), ("NOUN", [5, 6]), ("IS_ALPHA", [7, 8]), ("Été", [15, 16])]:
        assert nlp2.vocab.vectors[nlp2.vocab.strings[key]].tolist() == vec
        assert nlp2(key)[0].vector.tolist() == vec


def test_truncate_prune_dedupe_dtype(shared_data):
    path = shared_data / "word2vec-gensim-fixtures" / "word2vec_pre_kv_c"
    kv = KeyedVectors.load_word2vec_format(str(path))
    nlp = spacy.blank("en")
    load_word2vec_vectors(nlp, path, truncate=100, prune=10, dtype="float16")
    vectors = nlp.vocab.vectors
    assert vectors.shape == (10, 10) and vectors.data.dtype == numpy.float16
    assert len(vectors.key2row) == 100
    kept = kv.vectors[:10]
    for i, key in enumerate(kv.index_to_key[:100]):
        row = vectors.key2row[nlp.vocab.strings[key]]
        if i < 10:
            assert row == i
        else:  # nearest kept row by cosine
            sims = kept @ kv.vectors[i] / numpy.linalg.norm(kept, axis=1)
            assert row == int(sims.argmax())
    assert numpy.allclose(vectors.data, kept, atol=1e-2)


def test_dedupe_keeps_file_order(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("4 2\na 1 2\nb 3 4\nc 1 2\nd 5 6\n", encoding="utf8")
    strings = StringStore()
    vectors = word2vec_to_vectors(path, strings)
    assert vectors.data.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert [vectors.key2row[strings[k]] for k in "abcd"] == [0, 1, 0, 2]


def test_dedupe_rows_finds_every_duplicate():
    """Duplicates planted at random places, and rows that share only their
    first values, against numpy.unique over whole rows."""
    rng = numpy.random.default_rng(0)
    data = rng.standard_normal((20000, 300)).astype(numpy.float32)
    src = rng.integers(0, 20000, 500)
    dst = rng.integers(0, 20000, 500)
    data[dst] = data[src]
    data[rng.integers(0, 20000, 200), :40] = data[0, :40]  # same head, different rest
    ref = data.copy()
    expected = len(numpy.unique(ref.view(numpy.uint32), axis=0))
    n, new_row = dedupe_rows(data)
    assert n == expected
    assert (data[:n][new_row] == ref).all()
    first = {}
    order = [first.setdefault(row.tobytes(), i) for i, row in enumerate(ref)]  # file order kept
    assert (data[:n] == ref[sorted(set(order))]).all()
