"""The biLSTM at inference as replayed CUDA graphs: no per-timestep Python.

Eagerly, every time step of every layer launches about fifteen small kernels
from Python, so on a GPU the recurrence is bound by launch overhead, not by
arithmetic. The static formulation of `BiLstm.forward(static=True)` runs every
row for the whole padded length (finished rows keep their state through masks),
so its kernel sequence depends on the shapes alone and can be captured once
into a CUDA graph and replayed (PyTorch's "whole-network capture", CUDA
semantics notes). Batches are padded up to buckets of rows and steps so that a
few graphs serve every batch; each graph reads its inputs from, and writes its
outputs to, static buffers. A wide batch whose rows differ much in length is
run as row groups (`row_groups`), each replayed at its own longest row's
step bucket, so short rows are not stepped to the longest row's length.

All graphs share one memory pool, as vLLM does for its decode graphs: safe
because replays run one at a time on one stream and each replay's outputs are
copied out before the next replay. Graphs are captured with autocast's weight
cache off (required for capture) and inside the same precision scope as eager
code, so a graph computes what the eager static path computes.

If capture fails at run time, the runner warns once (W060, with the reason),
turns itself off and the caller runs the eager loop: a first GPU run reports
numbers instead of crashing.
"""
import warnings
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import Warnings
from .lstm import BiLstm, LstmState
from .precision import autocast, compute_dtype, fp32_flags

GraphKey = Tuple[int, int, str]
MAX_STEPS = 512  # longer batches (with markers) run eagerly
# The cost of one more replay (its launch, its copies in and out), counted in
# padded row-steps when `row_groups` weighs a split; not measured on a GPU yet.
REPLAY_COST = 1024


def bucket_rows(n: int) -> int:
    """Rows of the graph that runs a batch of n rows: powers of two up to 16,
    then multiples of 16."""
    if n <= 16:
        return 1 << max(n - 1, 0).bit_length()
    return -(-n // 16) * 16


def bucket_steps(n: int) -> Optional[int]:
    """Steps of the graph for a batch whose longest row has n positions:
    multiples of 4 up to 64 (at least 8), of 8 up to 128, then of 32 up to
    MAX_STEPS; None beyond. On the 80k-token WikiText-2 test slice in
    length-sorted batches of 64 the graphs run 1.14x the real row-steps
    (coarser buckets, multiples of 16 then 64: 1.36x)."""
    if n > MAX_STEPS:
        return None
    if n <= 64:
        return max(-(-n // 4) * 4, 8)
    if n <= 128:
        return -(-n // 8) * 8
    return -(-n // 32) * 32


def row_groups(lengths: Sequence[int]) -> List[List[int]]:
    """Rows of one batch as groups that each replay one graph, longest rows
    first: consecutive runs of the length-sorted rows, chosen to minimise the
    padded row-steps (bucket_rows x bucket_steps of each group) plus
    REPLAY_COST per group. A batch that fits one graph well stays one group
    (its rows in their own order). RETURNS: row indices, a list per group.

    On the 80k-token WikiText-2 test slice in length-sorted batches the graphs
    run 1.10x the real row-steps at batch 64 (49 replays) and 1.15x at 256
    (14 replays); one graph per batch: 1.14x (48) and 1.40x (12).
    """
    order = sorted(range(len(lengths)), key=lambda r: -lengths[r])
    runs: List[Tuple[int, int]] = []  # (step bucket, rows) of equal-bucket runs
    for r in order:
        steps = bucket_steps(max(lengths[r], 1)) or MAX_STEPS
        if runs and runs[-1][0] == steps:
            runs[-1] = (steps, runs[-1][1] + 1)
        else:
            runs.append((steps, 1))
    # best[k]: least cost of the first k runs; cut[k]: where its last group starts
    best, cut = [0.0] + [float("inf")] * len(runs), [0] * (len(runs) + 1)
    for end in range(1, len(runs) + 1):
        rows = 0
        for start in range(end - 1, -1, -1):
            rows += runs[start][1]
            cost = best[start] + bucket_rows(rows) * runs[start][0] + REPLAY_COST
            if cost < best[end]:
                best[end], cut[end] = cost, start
    bounds, end = [], len(runs)
    while end:
        bounds.append((cut[end], end))
        end = cut[end]
    if len(bounds) == 1:
        return [list(range(len(lengths)))]
    first_row = [0]
    for _, count in runs:
        first_row.append(first_row[-1] + count)
    return [order[first_row[a] : first_row[b]] for a, b in reversed(bounds)]


class _Captured:
    """One graph and its static buffers."""

    def __init__(self, graph, tokens, lengths, h0, c0, outputs, final):
        self.graph = graph
        self.tokens, self.lengths, self.h0, self.c0 = tokens, lengths, h0, c0
        self.outputs: List[torch.Tensor] = outputs
        self.final: LstmState = final


class LstmGraphs:
    """CUDA graphs of `BiLstm.forward(static=True)` for one biLSTM, one per
    (row bucket, step bucket, precision), least recently used dropped past
    `max_graphs`.

    lstm (BiLstm): the module (its parameters must stay where they are: the
        graphs read them in place, and are dropped when a parameter moves).
    max_graphs (int): graphs kept.
    """

    def __init__(self, lstm: BiLstm, max_graphs: int = 32):
        self.lstm = lstm
        self.max_graphs = max_graphs
        self.graphs: "OrderedDict[GraphKey, _Captured]" = OrderedDict()
        self.captures = 0  # graphs captured so far (tests check they are reused)
        self.replays = 0
        self.disabled: Optional[str] = None  # why graphs are off, once they failed
        self._pool: Optional[Any] = None  # the graphs' shared memory pool
        self._signature: Tuple = ()

    def run(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: Optional[LstmState], precision: str
    ) -> Optional[Tuple[List[torch.Tensor], LstmState]]:
        """`BiLstm.forward` by graph replay, or None when this batch cannot use
        a graph (too long, graphs off): the caller then runs it eagerly.

        tokens (torch.Tensor): *Shape:* (batch, seq, projection_dim) on CUDA.
        lengths (torch.Tensor[int64]): *Shape:* (batch,)
        state (Optional[LstmState]): initial state, None for zeros.
        precision (str): the precision the caller's scope runs in.
        """
        batch, seq, _ = tokens.shape
        if self.disabled is not None or bucket_steps(seq) is None or batch == 0:
            return None
        host_lengths = lengths.tolist()  # the eager loop reads them on the host too
        groups = row_groups(host_lengths)
        if len(groups) == 1:
            return self._run_group(tokens, lengths, state, precision)
        outputs: List[torch.Tensor] = []
        finals: List[torch.Tensor] = []
        for rows in groups:
            index = torch.tensor(rows, device=tokens.device)
            part_lengths = lengths.index_select(0, index.to(lengths.device))
            longest = max(max(host_lengths[r] for r in rows), 1)
            part_state = None if state is None else (state[0].index_select(2, index), state[1].index_select(2, index))
            result = self._run_group(tokens.index_select(0, index)[:, :longest], part_lengths, part_state, precision)
            if result is None:  # graphs turned off on the way: the caller runs the batch eagerly
                return None
            part_outputs, part_final = result
            if not outputs:
                outputs = [o.new_zeros(batch, seq, o.shape[-1]) for o in part_outputs]
                finals = [f.new_zeros(*f.shape[:2], batch, f.shape[-1]) for f in part_final]
            for out, part in zip(outputs, part_outputs):
                out[index, :longest] = part
            for final, part in zip(finals, part_final):
                final[:, :, index] = part
        h, c = finals
        return outputs, (h, c)

    def _run_group(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: Optional[LstmState], precision: str
    ) -> Optional[Tuple[List[torch.Tensor], LstmState]]:
        """One replay: the graph of this batch's row and step buckets."""
        batch, seq, _ = tokens.shape
        rows, steps = bucket_rows(batch), bucket_steps(seq)
        assert steps is not None
        signature = tuple(t.data_ptr() for t in self._tensors())
        if signature != self._signature:  # parameters moved: old graphs read stale memory
            self.graphs.clear()
            self._signature = signature
        key = (rows, steps, precision)
        captured = self.graphs.get(key)
        if captured is None:
            try:
                captured = self._capture(rows, steps, precision, tokens)
            except Exception as err:  # capture is best effort: fall back to eager
                self.disable(f"{type(err).__name__}: {err}")
                return None
            self.graphs[key] = captured
            while len(self.graphs) > self.max_graphs:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        # The graphs read the weights' casts in place: refresh them if the
        # parameters changed since (a copy into the same memory).
        dtype = compute_dtype(tokens)
        for layer in self.lstm.layers:
            layer.cast_weights(dtype)
        return self._replay(captured, tokens, lengths, state)

    def disable(self, reason: str) -> None:
        """Turn graphs off for good (with a warning) and free them and their pool."""
        self.disabled = reason
        for captured in self.graphs.values():
            captured.graph.reset()
        self.graphs.clear()
        self._pool = None
        warnings.warn(Warnings.W060.format(reason=reason), stacklevel=3)

    def _tensors(self) -> List[torch.Tensor]:
        return [*self.lstm.parameters(), *self.lstm.buffers()]

    def _capture(self, rows: int, steps: int, precision: str, like: torch.Tensor) -> _Captured:
        cfg, device = self.lstm.config, like.device
        n, p, d = cfg.n_layers, cfg.projection_dim, cfg.lstm_dim
        tokens = torch.zeros(rows, steps, p, device=device, dtype=like.dtype)
        lengths = torch.full((rows,), steps, dtype=torch.long, device=device)
        h0 = torch.zeros(n, 2, rows, p, device=device, dtype=like.dtype)
        c0 = torch.zeros(n, 2, rows, d, device=device, dtype=like.dtype)

        def step() -> Tuple[List[torch.Tensor], LstmState]:
            with fp32_flags(precision), autocast(precision, "cuda", cache_enabled=False):
                return self.lstm(tokens, lengths, (h0, c0), static=True)

        graph, (outputs, final) = self._record(step, device)
        self.captures += 1
        return _Captured(graph, tokens, lengths, h0, c0, outputs, final)

    def _record(self, step: Callable[[], Any], device: torch.device) -> Tuple[Any, Any]:
        """Capture `step` into a CUDA graph sharing this runner's pool, with
        `device` the current device (a capture records the current device's
        stream only: ops on another device would run outside it). A capture
        that fails is ended and its graph's memory freed before the error
        goes on. RETURNS: the graph and step's outputs (static tensors)."""
        with torch.cuda.device(device):
            # Warm up on a side stream (cuBLAS handles and workspaces, autotuning),
            # as the CUDA semantics notes prescribe before capture.
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    step()
            torch.cuda.current_stream(device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            try:
                # torch.cuda.graph ends the capture on the way out, also on an error.
                with torch.cuda.graph(graph, pool=self._pool):
                    result = step()
            except BaseException:
                graph.reset()
                raise
            self._pool = graph.pool()
        return graph, result

    def _replay(
        self, captured: _Captured, tokens: torch.Tensor, lengths: torch.Tensor, state: Optional[LstmState]
    ) -> Tuple[List[torch.Tensor], LstmState]:
        batch, seq, _ = tokens.shape
        # Rows past the batch get length 0 (masked out); steps past seq are
        # beyond every row's length. Stale values there are finite and masked.
        captured.tokens[:batch, :seq].copy_(tokens)
        captured.lengths[:batch].copy_(lengths)
        captured.lengths[batch:].zero_()
        if state is None:
            captured.h0.zero_()
            captured.c0.zero_()
        else:
            captured.h0[:, :, :batch].copy_(state[0])
            captured.c0[:, :, :batch].copy_(state[1])
        captured.graph.replay()
        self.replays += 1
        # Copy out before any other replay reuses the shared pool.
        outputs = [o[:batch, :seq].clone() for o in captured.outputs]
        h, c = captured.final
        return outputs, (h[:, :, :batch].clone(), c[:, :, :batch].clone())

    def __getstate__(self) -> Dict[str, object]:
        """Copies and pickles carry no graphs (they hold device memory)."""
        state = dict(self.__dict__)
        state.update(graphs=OrderedDict(), _pool=None, _signature=())
        return state

    def stats(self) -> Dict[str, object]:
        return {"captures": self.captures, "replays": self.replays, "graphs": len(self.graphs),
                "disabled": self.disabled}
