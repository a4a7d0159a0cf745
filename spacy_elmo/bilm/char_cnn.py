"""The character-CNN token encoder of ELMo (Peters et al. 2018, sec. 3.1;
Kim et al. 2016 "Character-Aware Neural Language Models")."""
from typing import List, Sequence, cast

import torch
from torch import nn
from torch.nn import functional as F

from .config import BiLMConfig


class Highway(nn.Module):
    """Highway layers as bilm-tf computes them (Srivastava et al. 2015):
    t = sigmoid(W_carry x + b_carry); y = t * relu(W_transform x + b_transform)
    + (1 - t) * x.

    *Shape:* (n, dim) -> (n, dim)
    """

    def __init__(self, dim: int, n_layers: int):
        super().__init__()
        self.transform = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        self.carry = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for transform, carry in zip(self.transform, self.carry):
            gate = torch.sigmoid(carry(x))
            x = gate * F.relu(transform(x)) + (1.0 - gate) * x
        return x


class CharCNN(nn.Module):
    """Token vectors from character ids: embedding -> convolutions of several
    widths -> max over positions -> activation -> highway -> projection.

    Row 0 of the character table is the batch-padding row (zeros); rows 1..261
    are bilm-tf's `char_embed`.
    """

    def __init__(self, config: BiLMConfig):
        super().__init__()
        self.config = config
        self.char_embed = nn.Embedding(262, config.char_dim, padding_idx=0)
        # A ModuleList (its convolutions are submodules), typed as what it holds.
        self.convs = cast(Sequence[nn.Conv1d], nn.ModuleList(
            nn.Conv1d(config.char_dim, n_filters, kernel_size=width)
            for width, n_filters in config.filters
        ))
        self.highway = Highway(config.n_filters, config.n_highway)
        self.proj = nn.Linear(config.n_filters, config.projection_dim)
        self._act = torch.relu if config.activation == "relu" else torch.tanh

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """char_ids (torch.Tensor[int64]): *Shape:* (n_tokens, max_chars)
        RETURNS (torch.Tensor): *Shape:* (n_tokens, projection_dim)
        """
        # (n, max_chars) -> per convolution, max over positions -> (n, n_filters_i)
        pooled = [self._act(features) for features in char_features(char_ids, self.char_embed, self.convs)]
        tokens = torch.cat(pooled, dim=-1)  # (n, n_filters)
        tokens = self.highway(tokens)
        return self.proj(tokens)  # (n, projection_dim)


def char_features(ids: torch.Tensor, embed: nn.Embedding, convs: Sequence[nn.Conv1d]) -> List[torch.Tensor]:
    """Each convolution's max over positions of the character embeddings,
    *Shape:* (n, n_filters_i) per convolution, before the activation. With
    autograd in float32 / float64 (pretraining, fine-tuning) the gradients
    come from ConvMax; otherwise (inference, autocast) from conv1d + amax. The
    values are the same bit for bit.

    ids (torch.Tensor[int64]): *Shape:* (n, max_chars).
    """
    table = embed.weight
    fused = torch.is_grad_enabled() and table.dtype in (torch.float32, torch.float64) \
        and not torch.is_autocast_enabled(table.device.type)
    if not fused:
        chars = embed(ids).transpose(1, 2)  # (n, char_dim, max_chars) for conv1d
        return [conv(chars).amax(dim=-1) for conv in convs]
    with torch.no_grad():
        chars = embed(ids).transpose(1, 2)
    pad = -1 if embed.padding_idx is None else embed.padding_idx
    return [ConvMax.apply(chars, ids, table, conv.weight, conv.bias, pad) for conv in convs]


class ConvMax(torch.autograd.Function):
    """One convolution of the character embeddings and the max over
    positions, with its own backward. The gradient of a max reaches one
    position per (token, filter), and the window there holds characters of
    the table: with H_k[ch, f] the sum of the gradients of filter f's maxima
    whose window holds character ch at offset k, the weight gradient at
    offset k is H_k^T @ table and the table's gradient sum_k H_k @ W[:, :, k],
    a scatter of n x f numbers and two small matmuls per offset, where
    autograd runs the whole convolution backward over every position (46 of
    them for a width-5 filter over 50 characters) and the embedding's.

    At a tie autograd splits a max's gradient evenly and this gives it to one
    of the tied positions: where the tie comes from equal windows (a token's
    padding characters), both give the same gradients, as the tied windows
    hold the same characters.

    chars (Tensor): *Shape:* (n, c, L), table[ids] transposed (no gradient
        is returned for it: the table's is).
    ids (Tensor[int64]): *Shape:* (n, L). table: *Shape:* (V, c).
    weight (f, c, width), bias (f,) or None; pad: the table's padding row
        (no gradient), -1 for none.
    """

    @staticmethod
    def forward(ctx, chars, ids, table, weight, bias, pad):
        values, positions = F.conv1d(chars, weight, bias).max(dim=-1)
        ctx.save_for_backward(ids, table, weight, positions)
        ctx.has_bias, ctx.pad = bias is not None, pad
        return values

    @staticmethod
    def backward(ctx, grad):
        ids, table, weight, positions = ctx.saved_tensors
        f, _, width = weight.shape
        want_table, want_weight = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        grad_table = torch.zeros_like(table) if want_table else None
        grad_weight = torch.empty_like(weight) if want_weight else None
        column = torch.arange(f, device=ids.device)
        flat_grad = grad.reshape(-1)
        for k in range(width):
            held = ids.gather(1, positions + k)  # (n, f): the character at offset k of each max's window
            h = grad.new_zeros(table.shape[0] * f).index_add_(0, (held * f + column).reshape(-1), flat_grad)
            h = h.view(table.shape[0], f)
            if grad_weight is not None:
                grad_weight[:, :, k] = h.t() @ table
            if grad_table is not None:
                grad_table.addmm_(h, weight[:, :, k])
        if grad_table is not None and ctx.pad >= 0:
            grad_table[ctx.pad] = 0
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[4] else None
        return None, None, grad_table, grad_weight, grad_bias, None
