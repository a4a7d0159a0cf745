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
Gate weights are stored torch-style, (out, in), so their matmuls are x @ W.T
(the layout BLAS runs fastest), and all weights are cast to the compute dtype once, then reused
until they change (`BiLstmLayer.cast_weights`).
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

import torch

T = TypeVar("T")

# One direction's weights in the compute dtype: W_ih (4d, in), W_hh (4d, p),
# bias with the forget bias added (4d,), W_proj (d, p).
DirectionWeights = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Packing:
    """Where each packed row comes from, for a batch sorted by length.

    batch_sizes (List[int]): rows active at each step (non-increasing).
    offsets (List[int]): first packed row of each step.
    order (Tensor[int64]): *Shape:* (batch,), sorted position -> input row.
    lengths (Tensor[int64]): *Shape:* (batch,), sorted lengths, on the CPU.
    sources (Tuple[Tensor, Tensor]): per direction, *Shape:* (total,), the flat
        (row * seq + position) index of each packed row in the input; the
        backward direction's positions run from each row's end to its start.
    last (Tensor[int64]): *Shape:* (batch,), packed row of each sorted row's
        last step (where its final h is).
    """

    batch_sizes: List[int]
    offsets: List[int]
    order: torch.Tensor
    lengths: torch.Tensor
    sources: Tuple[torch.Tensor, torch.Tensor]
    last: torch.Tensor

    @property
    def total(self) -> int:
        return self.offsets[-1] + self.batch_sizes[-1] if self.batch_sizes else 0

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
            lengths=sorted_lengths,
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
    d = w_hh.shape[0] // 4
    gates = torch.addmm(bias, inputs, w_ih.t())  # (total, 4d): input part of every step
    out = inputs.new_empty(inputs.shape[0], w_proj.shape[1])
    c = c0.to(torch.promote_types(c0.dtype, torch.float32), copy=True)
    h = h0.to(inputs.dtype)
    for n, start in zip(batch_sizes, offsets):
        g = gates[start : start + n]
        g.addmm_(h[:n], w_hh.t())
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
                torch.set_num_threads(threads)
                # Wait for the worker also when `first` failed, so that no
                # stack runs on after its caller has returned.
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
        self.__init__()


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
