"""bilm/char_cnn.py's char_features / ConvMax: the character convolutions +
max over positions, with a backward that needs only each max's characters."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spacy_elmo.bilm.char_cnn import CharCNN, ConvMax, char_features
from spacy_elmo.bilm.config import BiLMConfig


def _layers(dtype, seed=0, padding_idx=0):
    torch.manual_seed(seed)
    embed = nn.Embedding(30, 4, padding_idx=padding_idx).to(dtype)
    convs = [nn.Conv1d(4, f, w).to(dtype) for w, f in ((1, 3), (2, 5), (3, 6))]
    return embed, convs


def _ids(ties, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 30, (9, 12), generator=g)
    if ties:  # a padding-like tail: equal windows, tied maxima
        ids[:, 4:] = 3
    ids[0, 8:] = 0  # the table's padding row
    return ids


def _reference(ids, embed, convs):
    chars = embed(ids).transpose(1, 2)
    return [F.conv1d(chars, conv.weight, conv.bias).amax(-1) for conv in convs]


def _grads(features, embed, convs, seed=1):
    scale = [torch.randn(f.shape, generator=torch.Generator().manual_seed(seed), dtype=f.dtype) for f in features]
    loss = sum((f * s).sum() for f, s in zip(features, scale))
    params = [embed.weight] + [p for conv in convs for p in (conv.weight, conv.bias)]
    return torch.autograd.grad(loss, params)


def test_conv_max_gradcheck():
    # No ties here: a tied max has no derivative for finite differences to find.
    embed, convs = _layers(torch.float64)
    ids = _ids(ties=False)
    chars = embed(ids).transpose(1, 2).detach()
    for conv in convs:
        def fn(table, weight, bias):
            return ConvMax.apply(table[ids].transpose(1, 2), ids, table, weight, bias, -1)
        assert torch.autograd.gradcheck(fn, (embed.weight.detach().clone().requires_grad_(),
                                             conv.weight.detach().clone().requires_grad_(),
                                             conv.bias.detach().clone().requires_grad_()))
        assert torch.equal(ConvMax.apply(chars, ids, embed.weight, conv.weight, conv.bias, -1),
                           F.conv1d(chars, conv.weight, conv.bias).amax(-1))


@pytest.mark.parametrize("padding_idx", [0, None])
@pytest.mark.parametrize("ties", [False, True])
def test_char_features_equal_autograd_through_the_table(ties, padding_idx):
    """Values bit for bit, and the gradients of the char table (its padding
    row none), the weights and the biases those of embedding + conv1d + amax
    through autograd (ties included: tied windows hold the same characters),
    in float64 to 1e-12."""
    embed, convs = _layers(torch.float64, padding_idx=padding_idx)
    ids = _ids(ties)
    ours, reference = char_features(ids, embed, convs), _reference(ids, embed, convs)
    assert all(torch.equal(a, b) for a, b in zip(ours, reference))
    ours, reference = _grads(ours, embed, convs), _grads(reference, embed, convs)
    for a, b in zip(ours, reference):
        assert float((a - b).abs().max()) <= 1e-12
    if padding_idx is not None:
        assert not ours[0][padding_idx].any()


def test_char_features_without_autograd_are_the_same_values():
    embed, convs = _layers(torch.float32)
    ids = _ids(ties=True)
    with torch.no_grad():
        plain = char_features(ids, embed, convs)
    assert all(torch.equal(a, b.detach()) for a, b in zip(plain, char_features(ids, embed, convs)))


def test_char_cnn_trains_through_conv_max(monkeypatch):
    """A CharCNN's float32 gradients with ConvMax equal autograd's (embedding +
    conv1d + amax) to float32 rounding: the same model, the same tokens."""
    config = BiLMConfig(char_dim=4, filters=((1, 4), (2, 8), (3, 16)), n_highway=1, projection_dim=8)
    torch.manual_seed(0)
    cnn = CharCNN(config)
    ids = torch.randint(1, 262, (20, 50))
    ids[:, 8:] = 260  # bilm-tf's padding character after the word

    def grads():
        cnn.zero_grad()
        cnn(ids).pow(2).sum().backward()
        return [p.grad.clone() for p in cnn.parameters()]

    ours = grads()
    monkeypatch.setattr("spacy_elmo.bilm.char_cnn.char_features", _reference)
    reference = grads()
    for a, b in zip(ours, reference):
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))
