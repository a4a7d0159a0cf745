"""Character ids exactly as bilm-tf defines them."""
import numpy

from spacy_elmo.bilm.chars import CharEncoder, batch_to_ids, token_char_ids


def test_word_ids():
    ids = token_char_ids("ab", 50)
    assert ids[:4].tolist() == [259, 98, 99, 260]  # BOW, 'a'+1, 'b'+1, EOW (all +1)
    assert (ids[4:] == 261).all()


def test_sentence_markers():
    assert token_char_ids("<S>", 50)[:4].tolist() == [259, 257, 260, 261]
    assert token_char_ids("</S>", 50)[:4].tolist() == [259, 258, 260, 261]


def test_long_and_multibyte_tokens_truncate_to_48_bytes():
    ids = token_char_ids("é" * 30, 50)  # 60 bytes -> first 48 bytes
    assert ids[0] == 259 and ids[49] == 260
    assert ids[1:49].tolist() == [0xC3 + 1, 0xA9 + 1] * 24


def test_lone_surrogate_and_empty_token_encode():
    assert token_char_ids("\ud800", 50)[0] == 259
    assert token_char_ids("", 50)[:2].tolist() == [259, 260]


def test_batch_padding_is_zero():
    ids = batch_to_ids([["a", "b", "c"], ["d"]])
    assert ids.shape == (2, 5, 50)
    assert (ids[1, 3:] == 0).all() and (ids[1, :3] > 0).all()
    assert ids[1, 0, 1] == 257 and ids[1, 2, 1] == 258


def test_encoder_cache_matches_direct():
    enc = CharEncoder(50)
    tokens = ["the", "the", "🙂", "x" * 100]
    numpy.testing.assert_array_equal(enc.encode(tokens), numpy.stack([token_char_ids(t) for t in tokens]))
