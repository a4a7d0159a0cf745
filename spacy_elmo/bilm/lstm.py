"""The stacked biLSTM with cell projection and clipping of bilm-tf.

Both directions of a layer run in one loop: the backward direction reads each
row reversed within its own length, so at every step the same rows are active
in both directions and the two recurrences are one batched matmul (bmm) per
step. Rows are sorted by length (longest first) so that the active rows of step
t are the first n_t rows: finished rows cost nothing and keep their state.
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .config import BiLMConfig

# (h, c) per layer and direction. *Shape:* (n_layers, 2, batch, projection_dim),
# (n_layers, 2, batch, lstm_dim)
LstmState = Tuple[torch.Tensor, torch.Tensor]


class BiLstmLayer(nn.Module):
    """One layer, both directions: LSTM cells with a projection of the hidden
    state (Sak et al. 2014), cell clipping and projection clipping.

    Gate order is bilm-tf's (input, new memory j, forget, output) and TF's
    forget-gate bias of 1.0 is added at run time, as in the published weights.
    Parameters are stacked over directions: index 0 forward, 1 backward.
    """

    def __init__(
        self,
        input_dim: int,
        lstm_dim: int,
        projection_dim: int,
        cell_clip: Optional[float],
        proj_clip: Optional[float],
    ):
        super().__init__()
        self.lstm_dim = lstm_dim
        self.projection_dim = projection_dim
        self.cell_clip = cell_clip
        self.proj_clip = proj_clip
        d4 = 4 * lstm_dim
        self.weight_ih = nn.Parameter(torch.zeros(2, input_dim, d4))  # x @ W (TF orientation)
        self.weight_hh = nn.Parameter(torch.zeros(2, projection_dim, d4))
        self.bias = nn.Parameter(torch.zeros(2, d4))
        self.weight_proj = nn.Parameter(torch.zeros(2, lstm_dim, projection_dim))
        forget = torch.zeros(d4)
        forget[2 * lstm_dim : 3 * lstm_dim] = 1.0
        self.register_buffer("forget_bias", forget, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / (self.lstm_dim**0.5)
        for param in (self.weight_ih, self.weight_hh, self.weight_proj):
            nn.init.uniform_(param, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(
        self,
        inputs: torch.Tensor,
        batch_sizes: List[int],
        h0: torch.Tensor,
        c0: torch.Tensor,
        resets: Optional[Dict[int, torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run both directions.

        inputs (torch.Tensor): *Shape:* (2, batch, seq, input_dim); direction 1
            already reversed within each row's length. Rows sorted by length.
        batch_sizes (List[int]): active rows at each step (non-increasing).
        h0, c0 (torch.Tensor): *Shape:* (2, batch, projection_dim), (2, batch, lstm_dim)
        resets (Optional[Dict[int, Tensor]]): step -> keep mask *Shape:*
            (1, batch, 1), 0.0 for rows whose state is zeroed before that step
            (pretraining's state resets; full-length rows only).
        RETURNS (Tuple[Tensor, Tensor, Tensor]): outputs *Shape:*
            (2, batch, seq, projection_dim), zero at padding; final h and c,
            each row's state after its last token.
        """
        n_dir, batch, seq, _ = inputs.shape
        d = self.lstm_dim
        # One big matmul for the input part of all steps: (2, batch * seq, 4d)
        pre = torch.bmm(inputs.reshape(n_dir, batch * seq, -1), self.weight_ih)
        pre = (pre + (self.bias + self.forget_bias).unsqueeze(1)).view(n_dir, batch, seq, 4 * d)
        out = inputs.new_zeros(n_dir, batch, seq, self.projection_dim)
        h, c = h0, c0
        for t, n in enumerate(batch_sizes):
            if resets is not None and t in resets:
                h, c = h * resets[t], c * resets[t]
            # gates: (2, n, 4d)
            gates = torch.baddbmm(pre[:, :n, t], h[:, :n], self.weight_hh)
            i, j, f, o = gates.chunk(4, dim=-1)
            cell = torch.sigmoid(f) * c[:, :n] + torch.sigmoid(i) * torch.tanh(j)
            if self.cell_clip is not None:
                cell = cell.clamp(-self.cell_clip, self.cell_clip)
            # (2, n, d) @ (2, d, p) -> (2, n, p)
            hidden = torch.bmm(torch.sigmoid(o) * torch.tanh(cell), self.weight_proj)
            if self.proj_clip is not None:
                hidden = hidden.clamp(-self.proj_clip, self.proj_clip)
            out[:, :n, t] = hidden
            if n == batch:
                h, c = hidden, cell
            else:
                h = torch.cat([hidden, h[:, n:]], dim=1)
                c = torch.cat([cell, c[:, n:]], dim=1)
        return out, h, c


class BiLstm(nn.Module):
    """n stacked BiLstmLayers with optional skip connections (layers > 0 add
    their input to their output, bilm-tf's ResidualWrapper) and dropout between
    layers during training."""

    def __init__(self, config: BiLMConfig, dropout: float = 0.0):
        super().__init__()
        self.config = config
        self.dropout = dropout
        p = config.projection_dim
        self.layers = nn.ModuleList(
            BiLstmLayer(p, config.lstm_dim, p, config.cell_clip, config.proj_clip)
            for _ in range(config.n_layers)
        )

    def zero_state(self, batch: int, like: torch.Tensor) -> LstmState:
        n, p, d = self.config.n_layers, self.config.projection_dim, self.config.lstm_dim
        return like.new_zeros(n, 2, batch, p), like.new_zeros(n, 2, batch, d)

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: Optional[LstmState] = None
    ) -> Tuple[List[torch.Tensor], LstmState]:
        """tokens (torch.Tensor): *Shape:* (batch, seq, projection_dim), padded
            after each row's length.
        lengths (torch.Tensor[int64]): *Shape:* (batch,) on the CPU or device.
        state (Optional[LstmState]): initial (h, c), None for zeros.
        RETURNS (Tuple[List[Tensor], LstmState]): per layer [forward; backward]
            outputs *Shape:* (batch, seq, 2 * projection_dim), zero at padding;
            the final state of every row, in the input row order.
        """
        batch, seq, _ = tokens.shape
        if state is None:
            state = self.zero_state(batch, tokens)
        lengths_cpu = lengths.cpu()
        sorted_lengths, order = torch.sort(lengths_cpu, descending=True, stable=True)
        longest = int(sorted_lengths[0]) if batch else 0
        # Active rows at each step: rows are sorted, so the first n_t rows.
        batch_sizes = (sorted_lengths.unsqueeze(0) > torch.arange(longest).unsqueeze(1)).sum(1).tolist()
        order_dev = order.to(tokens.device)
        # Zero the padding so that outputs (and skip connections) are zero there.
        x = tokens.index_select(0, order_dev) * _mask(sorted_lengths, seq, tokens)[0]
        # Per-row reversal within each length: position t <-> len - 1 - t.
        steps = torch.arange(seq)
        rev = torch.where(
            steps < sorted_lengths.unsqueeze(1), sorted_lengths.unsqueeze(1) - 1 - steps, steps
        ).to(tokens.device)
        rev_index = rev.unsqueeze(-1).expand(batch, seq, x.shape[-1])
        h_all = state[0].index_select(2, order_dev)
        c_all = state[1].index_select(2, order_dev)
        inputs = torch.stack([x, torch.gather(x, 1, rev_index)])  # (2, batch, seq, p)
        outputs: List[torch.Tensor] = []
        final_h: List[torch.Tensor] = []
        final_c: List[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            if self.training and self.dropout > 0 and index > 0:
                inputs = nn.functional.dropout(inputs, self.dropout, True)
            out, h, c = layer(inputs, batch_sizes, h_all[index], c_all[index])
            if index > 0 and self.config.use_skip_connections:
                out = out + inputs  # both are zero at padding
            final_h.append(h)
            final_c.append(c)
            # Back to reading order for direction 1, concatenate [fw; bw].
            backward = torch.gather(out[1], 1, rev_index)
            outputs.append(torch.cat([out[0], backward], dim=-1))
            inputs = out
        unsort = torch.argsort(order_dev)
        layer_outputs = [o.index_select(0, unsort) for o in outputs]
        h_final = torch.stack(final_h).index_select(2, unsort)
        c_final = torch.stack(final_c).index_select(2, unsort)
        return layer_outputs, (h_final, c_final)


def _mask(lengths: torch.Tensor, seq: int, like: torch.Tensor) -> torch.Tensor:
    """*Shape:* (1, batch, seq, 1), 1.0 where a position holds a token."""
    mask = torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)
    return mask.to(device=like.device, dtype=like.dtype).unsqueeze(0).unsqueeze(-1)
