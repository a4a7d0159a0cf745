"""Parity with the original TensorFlow bilm-tf: AllenNLP's fixture outputs."""

import h5py
import numpy
import torch

from spacy_elmo.bilm.chars import CharEncoder, batch_to_ids

from helpers import reference_batches


def test_top_layer_matches_bilm_tf_in_carry_mode(fixture_model, fixtures_dir):
    fixture_model.reset_carry()
    n_checked = 0
    for sentences, expected in reference_batches(fixtures_dir):
        layers, n_tokens = fixture_model.embed(batch_to_ids(sentences), mode="carry")
        for k in range(3):
            assert int(n_tokens[k]) == len(sentences[k]) == expected[k].shape[0]
            got = layers[k, -1, : n_tokens[k]].numpy()
            numpy.testing.assert_allclose(got, expected[k], rtol=0, atol=1e-6)
            n_checked += 1
    assert n_checked == 30


def test_carry_differs_from_reset(fixture_model, fixtures_dir):
    """The fixture is stateful: without carried state batch 1 does not match,
    so the parity test above really exercises the carry path."""
    batches = list(reference_batches(fixtures_dir))
    sentences, expected = batches[1]
    layers, n = fixture_model.embed(batch_to_ids(sentences), mode="reset")
    assert not numpy.allclose(layers[0, -1, : n[0]].numpy(), expected[0], atol=1e-4)


def test_char_cnn_matches_token_embedding_fixture(fixture_model, fixtures_dir):
    vocab = (fixtures_dir / "vocab_test.txt").read_text(encoding="utf8").split("\n")
    expected = h5py.File(fixtures_dir / "elmo_token_embeddings.hdf5", "r")["embedding"][...]
    ids = torch.from_numpy(CharEncoder(50).encode(vocab))
    with torch.no_grad():
        got = fixture_model.char_cnn(ids).numpy()
    assert got.shape == expected.shape == (458, 16)
    numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_dedup_token_embeddings_equal_direct(fixture_model):
    sentences = [["the", "cat", "the", "dog"], ["the", "dog"]]
    ids = batch_to_ids(sentences)
    with torch.no_grad():
        dedup = fixture_model.token_embeddings(ids)
        direct = fixture_model.char_cnn(ids.view(-1, 50)).view(2, 6, -1)
    direct[1, 4:] = 0  # padding rows are zero in the dedup path
    numpy.testing.assert_allclose(dedup.numpy(), direct.numpy(), atol=1e-6)
    assert torch.equal(dedup[0, 1], dedup[0, 3])  # "the" computed once
