"""Property tests of the one char-id encoder (bilm/chars.py, owned by the biLM
as BiLM.chars / BiLM.char_ids): any Unicode string (lone surrogates included),
any length, any batch, against a plain reference written here from bilm-tf's
definition."""
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_elmo.bilm.chars import CharEncoder, batch_to_ids, token_char_ids
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.model import BiLM

FAST = settings(max_examples=300, derandomize=True, deadline=None, database=None)
SLOW = settings(max_examples=1000, deadline=None, database=None)

BOS, EOS, BOW, EOW, PAD = 256, 257, 258, 259, 260


def utf8_bytes(token):
    """UTF-8 by hand from the code points (a surrogate takes 3 bytes, as
    Python's 'surrogatepass' writes it): independent of str.encode."""
    out = []
    for char in token:
        cp = ord(char)
        if cp < 0x80:
            out.append(cp)
        elif cp < 0x800:
            out += [0xC0 | cp >> 6, 0x80 | cp & 0x3F]
        elif cp < 0x10000:
            out += [0xE0 | cp >> 12, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F]
        else:
            out += [0xF0 | cp >> 18, 0x80 | cp >> 12 & 0x3F, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F]
    return out


def reference_token(token, max_chars):
    """bilm-tf: [BOW, bytes[:max_chars - 2], EOW, PAD...]; <S> and </S> are
    [BOW, BOS/EOS, EOW, PAD...]; every id + 1 (0 = batch padding)."""
    if token == "<S>":
        inner = [BOS]
    elif token == "</S>":
        inner = [EOS]
    else:
        inner = utf8_bytes(token)[: max_chars - 2]
    ids = [BOW] + inner + [EOW]
    ids += [PAD] * (max_chars - len(ids))
    return [i + 1 for i in ids]


def reference_batch(sentences, max_chars):
    seq = max((len(s) for s in sentences), default=0) + 2
    out = numpy.zeros((len(sentences), seq, max_chars), dtype=numpy.int64)
    for i, sentence in enumerate(sentences):
        for j, token in enumerate(["<S>", *sentence, "</S>"]):
            out[i, j] = reference_token(token, max_chars)
    return out


any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
tokens = st.one_of(
    st.text(any_char, max_size=12),
    st.text(any_char, min_size=20, max_size=120),  # longer than max_chars - 2 bytes
    st.sampled_from(["<S>", "</S>", "", "\ud800", "\udfff", "\U0010ffff" * 20, "a" * 48, "a" * 49]),
)
sentences = st.lists(st.lists(tokens, max_size=6), max_size=4)


def check_token(token, max_chars):
    ids = token_char_ids(token, max_chars)
    assert ids.dtype == numpy.int64 and ids.shape == (max_chars,)
    assert ids.tolist() == reference_token(token, max_chars)
    assert ids.min() >= 1 and ids.max() <= PAD + 1
    assert ids[0] == BOW + 1
    if token not in ("<S>", "</S>"):  # truncation at max_chars - 2 bytes, then EOW, then padding
        n_bytes = min(len(utf8_bytes(token)), max_chars - 2)
        assert (ids[1 : n_bytes + 1] <= 256).all() and ids[n_bytes + 1] == EOW + 1
        assert (ids[n_bytes + 2 :] == PAD + 1).all()


def check_batch(batch, max_chars, cache_size):
    expected = reference_batch(batch, max_chars)
    encoder = CharEncoder(max_chars, cache_size=cache_size)
    for _ in range(2):  # the second pass reads the cache
        got = encoder.encode_batch(batch)
        assert got.dtype == numpy.int64 and got.shape == expected.shape
        numpy.testing.assert_array_equal(got, expected)
    assert len(encoder._cache) <= cache_size
    numpy.testing.assert_array_equal(batch_to_ids(batch, max_chars).numpy(), expected)
    lengths = [len(s) for s in batch]
    for i, n in enumerate(lengths):  # markers around each sentence, zeros after
        assert got[i, 0, 1] == BOS + 1 and got[i, n + 1, 1] == EOS + 1
        assert (got[i, n + 2 :] == 0).all() and (got[i, : n + 2] > 0).all()


@FAST
@given(tokens, st.integers(3, 60))
def test_token_ids(token, max_chars):
    check_token(token, max_chars)


@FAST
@given(sentences, st.integers(3, 60), st.integers(0, 5))
def test_batch_ids(batch, max_chars, cache_size):
    check_batch(batch, max_chars, cache_size)


_BILM = BiLM(BiLMConfig(lstm_dim=4, projection_dim=2, n_layers=1, filters=((1, 2),), n_highway=0))


@FAST
@given(sentences)
def test_the_bilms_own_encoder(batch):
    numpy.testing.assert_array_equal(_BILM.char_ids(batch).numpy(), reference_batch(batch, 50))


@pytest.mark.slow
@SLOW
@given(tokens, st.integers(3, 60))
def test_token_ids_many(token, max_chars):
    check_token(token, max_chars)


@pytest.mark.slow
@SLOW
@given(sentences, st.integers(3, 60), st.integers(0, 5))
def test_batch_ids_many(batch, max_chars, cache_size):
    check_batch(batch, max_chars, cache_size)
