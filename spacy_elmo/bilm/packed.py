"""The biLSTM's fast loop: packed sequences, one direction at a time.

ELMo's two directions are two independent stacks of layers (the backward
stack reads each sentence reversed and never sees the forward one), so each
direction runs its whole stack on its own, and on a CPU with two or more
threads the two stacks run at the same time in two threads (`run_directions`).
That keeps each thread's small ops out of OpenMP regions shared with the
other: when another process takes a core, a barrier per op would wait for a
descheduled thread at every one of the ~12 ops of every layer-step.

A direction's tokens are packed time-major, like torch's PackedSequence: rows
sorted by length (longest first), step t holds the first `batch_sizes[t]` rows,
so the loop never touches padding and a finished row costs nothing. Per layer:
one matmul for the input part of every step (bias and forget bias folded in),
then per step one `addmm_` of the recurrent part into that step's gates, the
cell update in place, and the projection written straight into the packed
output, which is the next step's recurrent input (no concatenation, no copy).
Weights are cast to the compute dtype once, then reused
until they change (`BiLstmLayer.cast_weights`).
"""
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

import torch

T = TypeVar("T")

# One direction's weights in the compute dtype: W_ih (in, 4d), W_hh (p, 4d),
# bias with the forget bias added (4d,), W_proj (d, p).
DirectionWeights = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Packing:
    """Where each packed row comes from, for a batch sorted by length.

    batch_sizes (List[int]): rows active at each step (non-increasing).
    offsets (List[int]): first packed row of each step.
    order (Tensor[int64]): *Shape:* (batch,), sorted position -> input row.
    sources (Tuple[Tensor, Tensor]): per direction, *Shape:* (total,), the flat
        (row * seq + position) index of each packed row in the input; the
        backward direction's positions run from each row's end to its start.
    last (Tensor[int64]): *Shape:* (batch,), packed row of each sorted row's
        last step (where its final h is).
    """

    batch_sizes: List[int]
    offsets: List[int]
    order: torch.Tensor
    sources: Tuple[torch.Tensor, torch.Tensor]
    last: torch.Tensor

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor, seq: int, device: torch.device) -> "Packing":
        """lengths (Tensor[int64]): *Shape:* (batch,), any device (read on the host)."""
        sorted_lengths, order = torch.sort(lengths.cpu(), descending=True, stable=True)
        longest = int(sorted_lengths[0]) if len(sorted_lengths) else 0
        steps = torch.arange(longest)
        active = sorted_lengths.unsqueeze(0) > steps.unsqueeze(1)  # (longest, batch)
        sizes = active.sum(1)
        offsets = torch.cumsum(sizes, 0) - sizes
        # Packed rows in order: step-major, then sorted row.
        step_of, row_of = active.nonzero(as_tuple=True)
        input_row = order[row_of]
        forward = input_row * seq + step_of
        backward = input_row * seq + (sorted_lengths[row_of] - 1 - step_of)
        last = offsets[(sorted_lengths - 1).clamp(min=0)] + torch.arange(len(sorted_lengths))
        return cls(
            batch_sizes=sizes.tolist(),
            offsets=offsets.tolist(),
            order=order.to(device),
            sources=(forward.to(device), backward.to(device)),
            last=last.to(device),
        )


def recur(
    inputs: torch.Tensor,
    batch_sizes: Sequence[int],
    offsets: Sequence[int],
    h0: torch.Tensor,
    c0: torch.Tensor,
    weights: DirectionWeights,
    cell_clip: Optional[float],
    proj_clip: Optional[float],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One direction of one layer over packed inputs, without autograd.

    inputs (torch.Tensor): *Shape:* (total, in), the compute dtype.
    h0, c0 (torch.Tensor): *Shape:* (batch, p), (batch, d), sorted rows.
    RETURNS (Tuple[Tensor, Tensor]): packed outputs *Shape:* (total, p) in
        the compute dtype, and each row's final c *Shape:* (batch, d) in
        float32 or wider (the cell state is kept in c0's dtype, at least
        float32, also when the gates are bfloat16).
    """
    w_ih, w_hh, bias, w_proj = weights
    d = w_hh.shape[1] // 4
    gates = torch.addmm(bias, inputs, w_ih)  # (total, 4d): input part of every step
    out = inputs.new_empty(inputs.shape[0], w_proj.shape[1])
    c = c0.to(torch.promote_types(c0.dtype, torch.float32), copy=True)
    h = h0.to(inputs.dtype)
    for n, start in zip(batch_sizes, offsets):
        g = gates[start : start + n]
        g.addmm_(h[:n], w_hh)
        cell = c[:n]
        cell.mul_(torch.sigmoid(g[:, 2 * d : 3 * d]))
        cell.addcmul_(torch.sigmoid(g[:, :d]), torch.tanh(g[:, d : 2 * d]))
        if cell_clip is not None:
            cell.clamp_(-cell_clip, cell_clip)
        m = torch.tanh(cell).mul_(torch.sigmoid(g[:, 3 * d :]))
        h = out[start : start + n]
        torch.mm(m.to(out.dtype), w_proj, out=h)
        if proj_clip is not None:
            h.clamp_(-proj_clip, proj_clip)
    return out, c


class DirectionRunner:
    """Runs the two directions' stacks at the same time on the CPU: the
    backward stack in a worker thread, the forward one in the caller's, each
    with half of torch's intra-op threads (at least one). With one thread in
    all, or on CUDA, they run one after the other in the caller's thread.

    torch's thread count is per thread for OpenMP, but a thread created later
    inherits the last value set, so the caller's own count is set back after
    each run.
    """

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_threads = 0
        self._lock = threading.Lock()

    def run(self, first: Callable[[], T], second: Callable[[], T], parallel: bool) -> Tuple[T, T]:
        threads = torch.get_num_threads()
        if not parallel or threads < 2:
            return first(), second()
        half = max(1, threads // 2)
        with self._lock:
            pool = self._worker(half, threads)
            future = pool.submit(_with_grad_mode(second, torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
            try:
                torch.set_num_threads(threads - half)
                result = first()
            finally:
                # Wait for the worker (also when `first` failed: no stack runs
                # on after its caller has returned), and only then set the
                # caller's count back: set back while the worker still ran,
                # a row of its outputs came out 1 ulp apart now and then.
                wait([future])
                torch.set_num_threads(threads)
            other = future.result()
        return result, other

    def _worker(self, half: int, threads: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_threads != half:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool = ThreadPoolExecutor(1, "spacy-elmo-bilstm", initializer=torch.set_num_threads, initargs=(half,))
            self._pool_threads = half
            self._pool.submit(lambda: None).result()  # start it now, then restore ours
            torch.set_num_threads(threads)
        return self._pool

    def __getstate__(self):
        return {}

    def __setstate__(self, state) -> None:
        self._start()


def _with_grad_mode(fn: Callable[[], T], grad: bool, inference: bool) -> Callable[[], T]:
    """`fn` under the caller's autograd modes (they are per thread)."""

    def run() -> T:
        if inference:
            with torch.inference_mode():
                return fn()
        with torch.set_grad_enabled(grad):
            return fn()

    return run


DIRECTIONS = DirectionRunner()


def gather_layers(
    outputs: Sequence[Tuple[torch.Tensor, torch.Tensor]], packing: Packing, batch: int, seq: int
) -> List[torch.Tensor]:
    """Packed outputs per layer (forward, backward) -> [forward; backward]
    *Shape:* (batch, seq, 2p) in input row order and reading order, zero at
    padding."""
    layers = []
    for forward, backward in outputs:
        p = forward.shape[-1]
        out = forward.new_zeros(batch * seq, 2 * p)
        out[:, :p].index_copy_(0, packing.sources[0], forward)
        out[:, p:].index_copy_(0, packing.sources[1], backward)
        layers.append(out.view(batch, seq, 2 * p))
    return layers


class WindowRecurrence(torch.autograd.Function):
    """One direction of one layer over a whole window, with its own backward:
    the forward keeps the gate activations, the cell states and the clipping
    masks; the backward runs BPTT as one loop (one matmul per step for the
    recurrent part, one for the projection) and then computes each weight
    gradient as one matmul over the window, where autograd would accumulate
    every weight gradient at every step. Every row runs every step (a
    pretraining window); `keep` zeroes a row's state before a step.

    inputs (Tensor): *Shape:* (steps * batch, in), time-major.
    h0, c0 (Tensor): *Shape:* (batch, p), (batch, d).
    w_ih (in, 4d), w_hh (p, 4d), bias (4d,) with the forget bias, w_proj (d, p).
    keep (Optional[Tensor]): *Shape:* (steps, batch, 1), 0.0 where the state is
        reset before the step.
    RETURNS: outputs *Shape:* (steps * batch, p), final h and c.
    """

    @staticmethod
    def forward(ctx, inputs, h0, c0, w_ih, w_hh, bias, w_proj, keep, cell_clip, proj_clip):
        batch = h0.shape[0]
        steps = inputs.shape[0] // batch if batch else 0
        d = w_hh.shape[1] // 4
        acts = torch.addmm(bias, inputs, w_ih)  # (total, 4d): pre-activations, then activations
        cells = inputs.new_empty(inputs.shape[0], d)
        out = inputs.new_empty(inputs.shape[0], w_proj.shape[1])
        cell_ok = torch.ones(0, dtype=torch.bool) if cell_clip is None else \
            torch.empty(inputs.shape[0], d, dtype=torch.bool, device=inputs.device)
        proj_ok = torch.ones(0, dtype=torch.bool) if proj_clip is None else \
            torch.empty(inputs.shape[0], w_proj.shape[1], dtype=torch.bool, device=inputs.device)
        h, c = h0, c0
        for t in range(steps):
            rows = slice(t * batch, (t + 1) * batch)
            if keep is not None:
                h, c = h * keep[t], c * keep[t]
            g = acts[rows]
            g.addmm_(h, w_hh)
            g[:, :d].sigmoid_()
            g[:, d : 2 * d].tanh_()
            g[:, 2 * d :].sigmoid_()
            i, j, f, o = g[:, :d], g[:, d : 2 * d], g[:, 2 * d : 3 * d], g[:, 3 * d :]
            cell = torch.addcmul(f * c, i, j)
            if cell_clip is not None:
                torch.logical_and(cell >= -cell_clip, cell <= cell_clip, out=cell_ok[rows])
                cell.clamp_(-cell_clip, cell_clip)
            cells[rows] = cell
            hidden = torch.mm(o * torch.tanh(cell), w_proj, out=out[rows])
            if proj_clip is not None:
                torch.logical_and(hidden >= -proj_clip, hidden <= proj_clip, out=proj_ok[rows])
                hidden.clamp_(-proj_clip, proj_clip)
            h, c = hidden, cell
        ctx.save_for_backward(inputs, h0, c0, w_ih, w_hh, w_proj, keep, acts, cells, out, cell_ok, proj_ok)
        ctx.clips = (cell_clip, proj_clip)
        h_final = out[(steps - 1) * batch :] if steps else h0
        c_final = cells[(steps - 1) * batch :] if steps else c0
        ctx.mark_non_differentiable(cell_ok, proj_ok)
        return out, h_final.clone(), c_final.clone()

    @staticmethod
    def backward(ctx, grad_out, grad_h, grad_c):
        inputs, h0, c0, w_ih, w_hh, w_proj, keep, acts, cells, out, cell_ok, proj_ok = ctx.saved_tensors
        cell_clip, proj_clip = ctx.clips
        batch = h0.shape[0]
        total = inputs.shape[0]
        steps = total // batch if batch else 0
        d = w_hh.shape[1] // 4
        grad_out = grad_out if grad_out is not None else out.new_zeros(out.shape)
        dh_next = grad_h.clone() if grad_h is not None else h0.new_zeros(h0.shape)
        dc_next = grad_c.clone() if grad_c is not None else c0.new_zeros(c0.shape)
        d_gates = acts.new_empty(total, 4 * d)
        d_hidden = out.new_empty(out.shape)  # gradient at the projection's output (after its clip mask)
        for t in range(steps - 1, -1, -1):
            rows = slice(t * batch, (t + 1) * batch)
            dh = grad_out[rows] + dh_next
            if proj_clip is not None:
                dh = dh * proj_ok[rows]
            d_hidden[rows] = dh
            a = acts[rows]
            i, j, f, o = a[:, :d], a[:, d : 2 * d], a[:, 2 * d : 3 * d], a[:, 3 * d :]
            tanh_c = torch.tanh(cells[rows])
            dm = dh @ w_proj.t()
            dc = dm * o * (1 - tanh_c * tanh_c) + dc_next
            if cell_clip is not None:
                dc = dc * cell_ok[rows]
            if t > 0:
                c_prev = cells[(t - 1) * batch : t * batch]
            else:
                c_prev = c0
            if keep is not None:
                c_prev = c_prev * keep[t]
            g = d_gates[rows]
            torch.mul(dc * j, i * (1 - i), out=g[:, :d])
            torch.mul(dc * i, 1 - j * j, out=g[:, d : 2 * d])
            torch.mul(dc * c_prev, f * (1 - f), out=g[:, 2 * d : 3 * d])
            torch.mul(dm * tanh_c, o * (1 - o), out=g[:, 3 * d :])
            dh_next = g @ w_hh.t()
            dc_next = dc * f
            if keep is not None:
                dh_next = dh_next * keep[t]
                dc_next = dc_next * keep[t]
        # Each weight gradient once, over the whole window.
        h_prev = torch.cat([h0.unsqueeze(0), out.view(steps, batch, -1)[:-1]]).view(total, -1) if steps else out
        if keep is not None:
            h_prev = h_prev * keep.reshape(total, 1)
        m = acts[:, 3 * d :] * torch.tanh(cells)
        grad_inputs = d_gates @ w_ih.t() if ctx.needs_input_grad[0] else None
        grad_w_ih = inputs.t() @ d_gates if ctx.needs_input_grad[3] else None
        grad_w_hh = h_prev.t() @ d_gates if ctx.needs_input_grad[4] else None
        grad_bias = d_gates.sum(0) if ctx.needs_input_grad[5] else None
        grad_w_proj = m.t() @ d_hidden if ctx.needs_input_grad[6] else None
        return grad_inputs, dh_next, dc_next, grad_w_ih, grad_w_hh, grad_bias, grad_w_proj, None, None, None
