"""reset/warm are deterministic: a sentence's vectors do not depend on the
batch it runs in (padding, masking and length sorting never leak)."""
import numpy
import pytest
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.io.pretrained import load_pretrained_bilm

SENTENCES = [
    "The bank raised interest rates again .".split(),
    "She sat on the river bank .".split(),
    "Go !".split(),
    "A considerably longer sentence , with many more tokens than the others in this batch , so there is padding .".split(),
    ["🙂", "naïve", "x" * 80, "\u200b", "日本語"],
]


@pytest.fixture(scope="module")
def bilm():
    return load_pretrained_bilm("default")


@pytest.mark.parametrize("mode", ["reset", "warm"])
def test_alone_equals_in_any_batch(bilm, mode):
    alone = [bilm.embed(batch_to_ids([s]), mode=mode)[0][0] for s in SENTENCES]
    rng = numpy.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(len(SENTENCES))
        layers, n_tokens = bilm.embed(batch_to_ids([SENTENCES[i] for i in order]), mode=mode)
        for row, i in enumerate(order):
            n = len(SENTENCES[i])
            assert int(n_tokens[row]) == n
            torch.testing.assert_close(layers[row, :, :n], alone[i][:, :n], rtol=2e-6, atol=2e-6)
            assert torch.all(layers[row, :, n:] == 0)


def test_warm_state_is_set_and_differs_from_reset(bilm):
    assert bilm.warm_h.abs().sum() > 0
    s = [SENTENCES[0]]
    warm = bilm.embed(batch_to_ids(s), mode="warm")[0]
    reset = bilm.embed(batch_to_ids(s), mode="reset")[0]
    assert torch.equal(warm[:, 0], reset[:, 0])  # layer 0 (char CNN) is context-free
    assert not torch.allclose(warm[:, 1:], reset[:, 1:])


def test_carry_depends_on_history_and_reset_carry_restores(bilm):
    s = batch_to_ids([SENTENCES[0]])
    bilm.reset_carry()
    first = bilm.embed(s, mode="carry")[0]
    second = bilm.embed(s, mode="carry")[0]
    assert not torch.allclose(first, second)
    bilm.reset_carry()
    again = bilm.embed(s, mode="carry")[0]
    assert torch.equal(first, again)
    # carry from zero state == reset for the first batch
    assert torch.equal(first, bilm.embed(s, mode="reset")[0])


def test_inference_builds_no_graph(bilm):
    bilm.train()
    layers, _ = bilm.embed(batch_to_ids([SENTENCES[0]]), mode="warm")
    assert not layers.requires_grad
    assert bilm.training  # embed restores the mode it found
    bilm.eval()


def test_unknown_mode(bilm):
    with pytest.raises(ValueError, match="warm"):
        bilm.embed(batch_to_ids([SENTENCES[0]]), mode="sticky")


def test_bf16_mode_is_close_to_fp32(bilm):
    ids = batch_to_ids(SENTENCES[:4])
    exact, n = bilm.embed(ids, mode="reset")
    approx, n2 = bilm.embed(ids, mode="reset", precision="bf16")
    assert torch.equal(n, n2) and approx.dtype == torch.float32
    deviation = (exact - approx).abs().max().item()
    assert 0 < deviation < 0.1  # bf16 has ~3 significant digits
