"""The stacked biLSTM with cell projection and clipping of bilm-tf.

Both directions of a layer run in one loop: the backward direction reads each
row reversed within its own length, so at every step the same rows are active
in both directions and the two recurrences are one batched matmul (bmm) per
step. Rows are sorted by length (longest first) so that the active rows of step
t are the first n_t rows: finished rows cost nothing and keep their state.

That dynamic plan is the fastest eager loop (the CPU's). A static plan runs
every row for the whole padded length instead, finished rows keeping their
state through masks, so that the kernels depend on the shapes alone and a CUDA
graph can replay them (cuda_graphs.py; pretraining's step.py). `StepPlan` says
which; `lstm_cell` is the one cell both use.
"""
from dataclasses import dataclass
from typing import AbstractSet, Dict, List, Optional, Sequence, Tuple, cast

import torch
from torch import nn

from .config import BiLMConfig
from .precision import compute_dtype
from .packed import DIRECTIONS, DirectionWeights, Packing, WindowRecurrence, gather_layers, recur

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

    forget_bias: torch.Tensor  # a buffer

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
        # bilm-tf's orientation, x @ W: its summation order stays within 1e-6
        # of bilm-tf on the fixture (x @ W.T: 1.2e-6) and as fast on an AMD EPYC.
        self.weight_ih = nn.Parameter(torch.zeros(2, input_dim, d4))
        self.weight_hh = nn.Parameter(torch.zeros(2, projection_dim, d4))
        self.bias = nn.Parameter(torch.zeros(2, d4))
        self.weight_proj = nn.Parameter(torch.zeros(2, lstm_dim, projection_dim))
        forget = torch.zeros(d4)
        forget[2 * lstm_dim : 3 * lstm_dim] = 1.0
        self.register_buffer("forget_bias", forget, persistent=False)
        self.casts = 0  # times the weights were cast to another dtype without autograd
        self._cast: Dict[torch.dtype, Tuple[Tuple, List[torch.Tensor]]] = {}
        self.reset_parameters()

    def cast_weights(self, dtype: torch.dtype) -> List[torch.Tensor]:
        """(W_ih, W_hh, bias + forget bias, W_proj) of both directions in
        `dtype`, without autograd. Casts are kept and reused until a parameter
        changes (its version or storage), then refreshed in place, so that a
        CUDA graph that reads them sees the new values once this is called."""
        params = (self.weight_ih, self.weight_hh, self.bias, self.weight_proj)
        with torch.no_grad():
            if dtype == self.weight_ih.dtype:
                return [self.weight_ih, self.weight_hh, self.bias + self.forget_bias, self.weight_proj]
            signature = tuple((p.data_ptr(), p._version, p.device) for p in params)
            cached = self._cast.get(dtype)
            if cached is not None and cached[0] == signature:
                return cached[1]
            values = [self.weight_ih, self.weight_hh, self.bias + self.forget_bias, self.weight_proj]
            if cached is not None and all(
                a.shape == b.shape and a.device == b.device for a, b in zip(cached[1], values)
            ):
                for old, new in zip(cached[1], values):
                    old.copy_(new)
                tensors = cached[1]
            else:
                tensors = [v.to(dtype, copy=True) for v in values]
            self.casts += 1
            self._cast[dtype] = (signature, tensors)
            return tensors

    def _apply(self, fn, *args, **kwargs):
        self._cast.clear()  # .to(), .cuda(), .half(): the casts follow the parameters anew
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cast"] = {}
        return state

    def reset_parameters(self) -> None:
        bound = 1.0 / (self.lstm_dim**0.5)
        for param in (self.weight_ih, self.weight_hh, self.weight_proj):
            nn.init.uniform_(param, -bound, bound)
        nn.init.zeros_(self.bias)

    def window(
        self, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, keep: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` on full-length rows through WindowRecurrence (its own
        backward, each weight gradient one matmul per window), one direction
        after the other. keep: *Shape:* (seq, 1, batch, 1) or None."""
        step_keep = keep[:, 0] if keep is not None else None  # (seq, batch, 1)
        results = [_window_direction(self, inputs[k], h0[k], c0[k], step_keep, k) for k in (0, 1)]
        out, h, c = (torch.stack(parts) for parts in zip(*results))
        return out, h, c

    def forward(
        self, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, plan: "StepPlan"
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run both directions.

        inputs (torch.Tensor): *Shape:* (2, batch, seq, input_dim); direction 1
            already reversed within each row's length.
        h0, c0 (torch.Tensor): *Shape:* (2, batch, projection_dim), (2, batch, lstm_dim)
        plan (StepPlan): which rows run at each step and where states reset.
        RETURNS (Tuple[Tensor, Tensor, Tensor]): outputs *Shape:*
            (2, batch, seq, projection_dim), zero at padding; final h and c,
            each row's state after its last token.
        """
        n_dir, batch, seq, _ = inputs.shape
        d = self.lstm_dim
        dtype = compute_dtype(inputs)
        # Weights in the compute dtype once per call with autograd, else kept
        # between calls (autocast would cast them again at every step).
        if torch.is_grad_enabled():
            w_ih, w_hh, w_proj = (w.to(dtype) for w in (self.weight_ih, self.weight_hh, self.weight_proj))
            bias = (self.bias + self.forget_bias).to(dtype)
        else:
            w_ih, w_hh, bias, w_proj = self.cast_weights(dtype)
        bias = bias.unsqueeze(1)
        # One big matmul for the input part of all steps: (2, batch * seq, 4d)
        pre = torch.baddbmm(bias, inputs.reshape(n_dir, batch * seq, -1).to(dtype), w_ih).view(n_dir, batch, seq, 4 * d)
        out = inputs.new_zeros(n_dir, batch, seq, self.projection_dim, dtype=dtype)
        h, c = h0.to(dtype), c0
        for t in range(seq):
            n = plan.batch_sizes[t] if plan.batch_sizes is not None else batch
            if plan.keep is not None and (plan.reset_steps is None or t in plan.reset_steps):
                h, c = h * plan.keep[t].to(h.dtype), c * plan.keep[t]
            hidden, cell = lstm_cell(
                pre[:, :n, t], h[:, :n], c[:, :n], w_hh, w_proj, self.cell_clip, self.proj_clip,
            )
            if plan.active is not None:  # static: every row steps, finished rows keep their state
                active = plan.active[t]  # (1, batch, 1)
                out[:, :, t] = hidden * active.to(hidden.dtype)
                h, c = torch.where(active, hidden, h), torch.where(active, cell, c)
                continue
            out[:, :n, t] = hidden
            if n == batch:
                h, c = hidden, cell
            else:
                h = torch.cat([hidden, h[:, n:]], dim=1)
                c = torch.cat([cell, c[:, n:]], dim=1)
        return out, h, c


def _window_direction(layer: "BiLstmLayer", x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                      keep: Optional[torch.Tensor], direction: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, seq, _ = x.shape
    out, h, c = WindowRecurrence.apply(
        x.transpose(0, 1).reshape(seq * batch, -1), h0, c0,
        layer.weight_ih[direction], layer.weight_hh[direction], layer.bias[direction] + layer.forget_bias,
        layer.weight_proj[direction], keep, layer.cell_clip, layer.proj_clip,
    )
    return out.view(seq, batch, -1).transpose(0, 1), h, c


def lstm_cell(
    pre: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_hh: torch.Tensor,
    weight_proj: torch.Tensor,
    cell_clip: Optional[float],
    proj_clip: Optional[float],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One time step of both directions: the LSTM cell with projection and
    clipping (bilm-tf's LSTMCell(num_proj=..., cell_clip=..., proj_clip=...)),
    the one implementation used by every execution path.

    pre (torch.Tensor): input part of the gates, x W_ih + b + forget bias,
        *Shape:* (2, n, 4 * lstm_dim), gate order (i, j, f, o).
    h, c (torch.Tensor): *Shape:* (2, n, projection_dim), (2, n, lstm_dim)
    weight_hh, weight_proj (torch.Tensor): *Shape:* (2, p, 4d), (2, d, p).
    RETURNS (Tuple[Tensor, Tensor]): the new h *Shape:* (2, n, projection_dim)
        and c *Shape:* (2, n, lstm_dim).
    """
    gates = torch.baddbmm(pre, h, weight_hh)  # (2, n, 4d)
    i, j, f, o = gates.chunk(4, dim=-1)
    # f * c + i * j with the product in c's dtype (float32 under bf16), as packed.py computes it
    cell = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(j))
    if cell_clip is not None:
        cell = cell.clamp(-cell_clip, cell_clip)
    # (2, n, d) @ (2, d, p) -> (2, n, p)
    hidden = torch.bmm((torch.sigmoid(o) * torch.tanh(cell)).to(weight_proj.dtype), weight_proj)
    if proj_clip is not None:
        hidden = hidden.clamp(-proj_clip, proj_clip)
    return hidden, cell


@dataclass
class StepPlan:
    """How the layers step through time: which rows run at each step, and
    where a row's state is reset to zero.

    Dynamic plans (the default on the CPU) drop finished rows: rows are sorted
    by length and step t runs the first `batch_sizes[t]` rows. Static plans
    run every row at every step of the padded length and mask finished rows
    (their state is kept, their outputs are zero), so the sequence of kernels
    depends on the shapes alone: what a CUDA graph needs.

    batch_sizes (Optional[List[int]]): active rows per step (non-increasing);
        None: every row at every step.
    active (Optional[Tensor[bool]]): static plans, *Shape:* (seq, 1, batch, 1),
        whether step t is inside row b's length.
    keep (Optional[Tensor]): *Shape:* (seq, 1, batch, 1), 0.0 where a row's
        state is zeroed before step t (pretraining's state resets), else 1.0.
    reset_steps (Optional[AbstractSet[int]]): the steps where `keep` has a zero;
        None: apply `keep` at every step (static plans).
    """

    batch_sizes: Optional[List[int]] = None
    active: Optional[torch.Tensor] = None
    keep: Optional[torch.Tensor] = None
    reset_steps: Optional[AbstractSet[int]] = None

    @classmethod
    def full_length(
        cls,
        resets: Optional[torch.Tensor] = None,
        static: bool = False,
        reset_steps: Optional[AbstractSet[int]] = None,
    ) -> "StepPlan":
        """Every row is full length (pretraining windows).

        resets (Optional[Tensor[bool]]): *Shape:* (batch, seq), True where the
            state is zeroed before that step.
        static (bool): apply the resets at every step instead of reading on
            the host which steps have one.
        reset_steps (Optional[AbstractSet[int]]): the steps with a reset, known
            on the host already (training's `Batch.reset_steps`); None: read
            from `resets` (a device sync where `resets` is on a GPU).
        """
        if resets is None:
            return cls()
        keep = (~resets).t().to(torch.float32)[:, None, :, None]  # (seq, 1, batch, 1)
        if static:
            return cls(keep=keep)
        if reset_steps is None:
            reset_steps = set(resets.any(0).nonzero().flatten().tolist())
        return cls(keep=keep, reset_steps=reset_steps)


class BiLstm(nn.Module):
    """n stacked BiLstmLayers with optional skip connections (layers > 0 add
    their input to their output, bilm-tf's ResidualWrapper) and dropout between
    layers during training."""

    def __init__(self, config: BiLMConfig, dropout: float = 0.0):
        super().__init__()
        self.config = config
        self.dropout = dropout
        # Training on full-length windows runs WindowRecurrence (packed.py);
        # False: the batched autograd loop, the reference the tests compare with.
        self.window_backward = True
        p = config.projection_dim
        # A ModuleList (its layers are submodules), typed as what it holds.
        self.layers = cast(Sequence[BiLstmLayer], nn.ModuleList(
            BiLstmLayer(p, config.lstm_dim, p, config.cell_clip, config.proj_clip)
            for _ in range(config.n_layers)
        ))

    def zero_state(self, batch: int, like: torch.Tensor) -> LstmState:
        n, p, d = self.config.n_layers, self.config.projection_dim, self.config.lstm_dim
        return like.new_zeros(n, 2, batch, p), like.new_zeros(n, 2, batch, d)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        state: Optional[LstmState] = None,
        static: bool = False,
    ) -> Tuple[List[torch.Tensor], LstmState]:
        """tokens (torch.Tensor): *Shape:* (batch, seq, projection_dim), padded
            after each row's length.
        lengths (torch.Tensor[int64]): *Shape:* (batch,) on the CPU or device.
        state (Optional[LstmState]): initial (h, c), None for zeros.
        static (bool): run every row at every step with masks (StepPlan): no
            host sync and a kernel sequence fixed by the shapes (CUDA graphs);
            otherwise rows are sorted by length and finished rows drop out
            (the fastest eager loop).
        RETURNS (Tuple[List[Tensor], LstmState]): per layer [forward; backward]
            outputs *Shape:* (batch, seq, 2 * projection_dim), zero at padding;
            the final state of every row, in the input row order.
        """
        batch, seq, _ = tokens.shape
        if state is None:
            state = self.zero_state(batch, tokens)
        if static:
            return self._forward_static(tokens, lengths.to(tokens.device), state)
        if not torch.is_grad_enabled():
            return self._forward_packed(tokens, lengths, state)
        lengths_cpu = lengths.cpu()
        sorted_lengths, order = torch.sort(lengths_cpu, descending=True, stable=True)
        longest = int(sorted_lengths[0]) if batch else 0
        # Active rows at each step: rows are sorted, so the first n_t rows.
        batch_sizes = (sorted_lengths.unsqueeze(0) > torch.arange(longest).unsqueeze(1)).sum(1).tolist()
        order_dev = order.to(tokens.device)
        # Zero the padding so that outputs (and skip connections) are zero there.
        x = tokens.index_select(0, order_dev) * _mask(sorted_lengths, seq, tokens)[0]
        rev_index = _reversal(sorted_lengths.to(tokens.device), seq, x.shape[-1])
        h_all = state[0].index_select(2, order_dev)
        c_all = state[1].index_select(2, order_dev)
        inputs = torch.stack([x, torch.gather(x, 1, rev_index)])  # (2, batch, seq, p)
        outs, (h_final, c_final) = self.run_layers(inputs, h_all, c_all, StepPlan(batch_sizes=batch_sizes))
        unsort = torch.argsort(order_dev)
        layer_outputs = [_to_reading_order(o, rev_index).index_select(0, unsort) for o in outs]
        return layer_outputs, (h_final.index_select(2, unsort), c_final.index_select(2, unsort))

    def _forward_packed(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: LstmState
    ) -> Tuple[List[torch.Tensor], LstmState]:
        """`forward` without autograd: each direction's stack over packed
        rows (packed.py), the two stacks in two threads on a multi-core CPU."""
        batch, seq, p = tokens.shape
        if batch == 0 or seq == 0:
            return self._forward_static(tokens, lengths.to(tokens.device), state)
        packing = Packing.from_lengths(lengths, seq, tokens.device)
        dtype = compute_dtype(tokens)
        flat = tokens.reshape(batch * seq, p)
        h_all = state[0].index_select(2, packing.order)
        c_all = state[1].index_select(2, packing.order)

        weights = [layer.cast_weights(dtype) for layer in self.layers]  # here, not racing in two threads

        def stack(direction: int):
            x = flat.index_select(0, packing.sources[direction]).to(dtype)
            outs, hs, cs = [], [], []
            for index, layer in enumerate(self.layers):
                out, c = recur(
                    x, packing.batch_sizes, packing.offsets, h_all[index, direction], c_all[index, direction],
                    _direction(weights[index], direction), layer.cell_clip, layer.proj_clip,
                )
                hs.append(out.index_select(0, packing.last))
                cs.append(c)
                if index > 0 and self.config.use_skip_connections:
                    out.add_(x)
                outs.append(out)
                x = out
            return outs, torch.stack(hs), torch.stack(cs)

        (f_out, f_h, f_c), (b_out, b_h, b_c) = DIRECTIONS.run(
            lambda: stack(0), lambda: stack(1), parallel=tokens.device.type == "cpu"
        )
        unsort = torch.argsort(packing.order)
        h = torch.stack([f_h, b_h], 1).index_select(2, unsort).to(state[0].dtype)
        c = torch.stack([f_c, b_c], 1).index_select(2, unsort).to(state[1].dtype)
        layers = gather_layers(list(zip(f_out, b_out)), packing, batch, seq)
        return layers, (h, c)

    def _forward_static(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: LstmState
    ) -> Tuple[List[torch.Tensor], LstmState]:
        """`forward(static=True)`: rows in input order, all of them at every
        step; only device ops (capturable in a CUDA graph)."""
        batch, seq, p = tokens.shape
        valid = torch.arange(seq, device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)  # (batch, seq)
        x = tokens * valid.unsqueeze(-1).to(tokens.dtype)
        rev_index = _reversal(lengths, seq, p)
        inputs = torch.stack([x, torch.gather(x, 1, rev_index)])
        plan = StepPlan(active=valid.t()[:, None, :, None])  # (seq, 1, batch, 1)
        outs, final = self.run_layers(inputs, state[0], state[1], plan)
        return [_to_reading_order(o, rev_index) for o in outs], final

    def _windows(self, inputs: torch.Tensor, plan: StepPlan) -> bool:
        """Whether run_layers uses `WindowRecurrence` (its own backward): with
        autograd on full-length rows (pretraining) in float32 or float64;
        under autocast the batched loop runs (its casts are autograd ops)."""
        return (
            self.window_backward and torch.is_grad_enabled() and plan.batch_sizes is None
            and plan.active is None and inputs.dtype in (torch.float32, torch.float64)
            and compute_dtype(inputs) == inputs.dtype
        )

    def run_layers(
        self, inputs: torch.Tensor, h_all: torch.Tensor, c_all: torch.Tensor, plan: StepPlan
    ) -> Tuple[List[torch.Tensor], LstmState]:
        """The layer loop: dropout between layers in training mode, skip
        connections above the first layer (bilm-tf's ResidualWrapper).

        inputs (torch.Tensor): *Shape:* (2, batch, seq, projection_dim), direction
            1 reversed within each row's length (or its own stream, in pretraining).
        h_all, c_all (torch.Tensor): *Shape:* (n_layers, 2, batch, projection_dim),
            (n_layers, 2, batch, lstm_dim)
        plan (StepPlan): which rows run at each step, where states reset.
        RETURNS (Tuple[List[Tensor], LstmState]): each layer's outputs *Shape:*
            (2, batch, seq, projection_dim) in the inputs' order, and the final
            (h, c) stacked over layers.
        """
        outputs: List[torch.Tensor] = []
        final_h: List[torch.Tensor] = []
        final_c: List[torch.Tensor] = []
        windows = self._windows(inputs, plan)
        for index, layer in enumerate(self.layers):
            if self.training and self.dropout > 0 and index > 0:
                inputs = nn.functional.dropout(inputs, self.dropout, True)
            if windows:
                out, h, c = layer.window(inputs, h_all[index], c_all[index], plan.keep)
            else:
                out, h, c = layer(inputs, h_all[index], c_all[index], plan)
            if index > 0 and self.config.use_skip_connections:
                out = out + inputs  # both are zero at padding
            final_h.append(h)
            final_c.append(c)
            outputs.append(out)
            inputs = out
        return outputs, (torch.stack(final_h).to(h_all.dtype), torch.stack(final_c).to(c_all.dtype))


def _direction(weights: List[torch.Tensor], direction: int) -> DirectionWeights:
    w_ih, w_hh, bias, w_proj = (w[direction] for w in weights)
    return w_ih, w_hh, bias, w_proj


def _reversal(lengths: torch.Tensor, seq: int, dim: int) -> torch.Tensor:
    """Gather index reversing each row within its length (position t <-> len - 1 - t;
    padding stays), *Shape:* (batch, seq, dim), on the lengths' device."""
    steps = torch.arange(seq, device=lengths.device)
    length = lengths.unsqueeze(1)
    rev = torch.where(steps < length, length - 1 - steps, steps)
    return rev.unsqueeze(-1).expand(lengths.shape[0], seq, dim)


def _to_reading_order(out: torch.Tensor, rev_index: torch.Tensor) -> torch.Tensor:
    """(2, batch, seq, p) layer outputs -> [forward; backward] *Shape:* (batch,
    seq, 2p), the backward direction put back in reading order."""
    return torch.cat([out[0], torch.gather(out[1], 1, rev_index)], dim=-1)


def _mask(lengths: torch.Tensor, seq: int, like: torch.Tensor) -> torch.Tensor:
    """*Shape:* (1, batch, seq, 1), 1.0 where a position holds a token."""
    mask = torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)
    return mask.to(device=like.device, dtype=like.dtype).unsqueeze(0).unsqueeze(-1)
