"""The training-time recurrence of one biLSTM layer with projection and
clipping (Sak et al. 2014; bilm-tf's LSTMCell with num_proj, cell_clip,
proj_clip), for windows where every row is full length.

Same parameters and the same arithmetic as `BiLstmLayer.forward` (tests check
outputs and gradients agree to float tolerance), with less work per step,
which is what dominates training time on CPU:
- the gate columns are permuted once per window to (i, f, o, j), so the three
  sigmoid gates are one kernel and the new memory one tanh;
- `c = f * c + i * j` is one `addcmul`;
- step outputs are collected and stacked once, instead of written into a
  preallocated tensor (an autograd copy-slice node per step);
- the input projection of all steps is one `baddbmm`, laid out (T, 2, B, 4d)
  so that every step reads a contiguous block.
"""
from typing import Tuple

import torch

from ..bilm.lstm import BiLstmLayer


def _gate_order(d: int, device: torch.device) -> torch.Tensor:
    """Column permutation (i, j, f, o) -> (i, f, o, j)."""
    i, j, f, o = (torch.arange(k * d, (k + 1) * d, device=device) for k in range(4))
    return torch.cat([i, f, o, j])


def run_layer(
    layer: BiLstmLayer, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both directions of one layer over full-length windows.

    inputs (torch.Tensor): *Shape:* (2, batch, unroll, input_dim), each
        direction in its own reading order.
    h0, c0 (torch.Tensor): *Shape:* (2, batch, projection_dim), (2, batch, lstm_dim)
    RETURNS: outputs *Shape:* (2, batch, unroll, projection_dim), final h, final c.
    """
    n_dir, B, T, n_in = inputs.shape
    d = layer.lstm_dim
    order = _gate_order(d, inputs.device)
    w_ih = layer.weight_ih.index_select(2, order)  # (2, in, 4d)
    w_hh = layer.weight_hh.index_select(2, order)  # (2, p, 4d)
    bias = (layer.bias + layer.forget_bias).index_select(1, order)  # (2, 4d)
    # (2, T, B, in) @ (2, in, 4d) -> (2, T * B, 4d) -> (T, 2, B, 4d)
    x = inputs.transpose(1, 2).reshape(n_dir, T * B, n_in)
    pre = torch.baddbmm(bias.unsqueeze(1), x, w_ih).view(n_dir, T, B, 4 * d).transpose(0, 1)
    h, c = h0, c0
    outs = []
    cell_clip, proj_clip = layer.cell_clip, layer.proj_clip
    for t in range(T):
        gates = torch.baddbmm(pre[t], h, w_hh)  # (2, B, 4d)
        ifo = torch.sigmoid(gates[..., : 3 * d])
        j = torch.tanh(gates[..., 3 * d :])
        i, f, o = ifo[..., :d], ifo[..., d : 2 * d], ifo[..., 2 * d :]
        c = torch.addcmul(f * c, i, j)
        if cell_clip is not None:
            c = c.clamp(-cell_clip, cell_clip)
        h = torch.bmm(o * torch.tanh(c), layer.weight_proj)  # (2, B, p)
        if proj_clip is not None:
            h = h.clamp(-proj_clip, proj_clip)
        outs.append(h)
    return torch.stack(outs, dim=2), h, c
