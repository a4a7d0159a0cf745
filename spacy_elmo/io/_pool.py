"""Parse text blocks in parallel, results in input order.

Two backends behind `parse_blocks`:
- processes (Linux, fork): each worker is forked once and parses the blocks
  sent to it. Blocks go to the workers through shared memory (an anonymous
  mmap made before the fork), the float32 rows come back the same way, and
  only the keys travel through a pipe. Measured on 2 cores, reading a
  200,000 x 300 text file: 2.15-2.35 s, against 2.40-2.41 s with threads
  (interleaved runs). With threads each block took ~1.5x as long as alone,
  likely because its ~100 numpy calls hand the GIL back and forth; two
  parsing processes each ran as fast as one alone.
- threads (elsewhere): `parse_text_block_fast` is numpy work that releases
  the GIL, so threads also parse side by side, without copying anything.

At most 2 blocks per worker are in flight, so memory stays bounded.
"""
import ctypes
import ctypes.util
import mmap
import multiprocessing
import os
import sys
import signal
import traceback
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Deque, Iterable, Iterator, List, Optional, Tuple

import numpy

from ._numbers import BlockResult, parse_text_block, release_scratch

Parsed = Tuple[BlockResult, int]
FORK = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _parse(block: bytes, dims: int) -> Parsed:
    """The block's result and its number of lines."""
    result = parse_text_block(block, dims)
    keys, _, line_of_row, problem = result
    if line_of_row is None and problem is None:  # every line was a row
        return result, len(keys)
    return result, block.count(b"\n") + 1


def parse_blocks(
    blocks: Iterable[bytes], dims: int, n_workers: int, *, max_block: int = 1 << 20,
    processes: Optional[bool] = None,
) -> Iterator[Parsed]:
    """Parse blocks of whole lines; yield (result, number of lines) in input order.

    blocks (Iterable[bytes]): blocks of whole lines (no trailing newline).
    dims (int): values per row.
    n_workers (int): parallel parsers; 0 parses in the calling thread.
    max_block (int): the usual largest block (processes get shared buffers of
        this size; a larger block is parsed in the calling thread).
    processes (Optional[bool]): forked processes (True) or threads (False);
        None: processes where fork is available (Linux), unless this process
        is itself a daemonic multiprocessing worker.
    YIELDS: the rows of a result are only valid until the next item is
        requested (with processes they sit in a buffer that is then reused):
        copy them before that.
    """
    if n_workers <= 0:
        try:
            for block in blocks:
                yield _parse(block, dims)
        finally:
            release_scratch()
        return
    if processes is None:  # a daemonic process may not start children
        processes = FORK and not multiprocessing.current_process().daemon
    if processes:
        yield from _parse_in_processes(blocks, dims, n_workers, max_block)
    else:
        yield from _parse_in_threads(blocks, dims, n_workers)


def _parse_in_threads(blocks: Iterable[bytes], dims: int, n_threads: int) -> Iterator[Parsed]:
    pending: Deque[Future] = deque()
    with ThreadPoolExecutor(n_threads, thread_name_prefix="spacy-elmo-vectors") as pool:
        try:
            for block in blocks:
                pending.append(pool.submit(_parse, block, dims))
                if len(pending) >= 2 * n_threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # the reader stopped early (--truncate, an error): drop the rest
            for future in pending:
                future.cancel()
    _release_freed_memory()


def _max_rows(block_bytes: int, dims: int) -> int:
    """The most rows `block_bytes` of text can hold: a row is at least a
    1-byte key and `dims` 1-byte values, each after a separator, and rows are
    separated by a newline."""
    return (block_bytes + 1) // (2 * dims + 2) + 1


def _serve(conn, parent_ends: List, inputs: mmap.mmap, outputs: mmap.mmap, max_block: int, dims: int) -> None:
    """A worker process: parse (slot, size) tasks until None. The block is
    read from input slot `slot`, its rows are written to output slot `slot`,
    and (keys, n_rows, line_of_row, problem, n_lines) is sent back.

    `parent_ends` are the parent's ends of the workers' pipes, inherited by
    the fork: closed first, so that when the parent dies (even by SIGKILL)
    the worker's recv() ends with EOFError and the worker exits. Ctrl-C is
    left to the parent, which stops the workers; SIGTERM kills, whatever
    handler the parent had installed."""
    for end in parent_ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    rows_cap = _max_rows(max_block, dims)
    out = numpy.frombuffer(outputs, dtype=numpy.float32).reshape(-1, rows_cap, dims)
    try:
        while True:
            task = conn.recv()
            if task is None:
                return
            slot, size = task
            try:
                (keys, values, line_of_row, problem), n_lines = _parse(
                    inputs[slot * max_block : slot * max_block + size], dims
                )
                out[slot, : len(values)] = values
                conn.send(("ok", keys, len(values), line_of_row, problem, n_lines))
            except Exception:  # a bug: reported by the parent with this traceback
                conn.send(("error", traceback.format_exc()))
    except (EOFError, OSError):  # the parent went away
        return


def _parse_in_processes(blocks: Iterable[bytes], dims: int, n_procs: int, max_block: int) -> Iterator[Parsed]:
    ctx = multiprocessing.get_context("fork")
    n_slots = 2 * n_procs
    rows_cap = _max_rows(max_block, dims)
    inputs = mmap.mmap(-1, n_slots * max_block)
    outputs = mmap.mmap(-1, n_slots * rows_cap * dims * 4)
    out = numpy.frombuffer(outputs, dtype=numpy.float32).reshape(n_slots, rows_cap, dims)
    conns: List = []
    procs: List = []
    pending: Deque[Tuple[int, int, Optional[Parsed]]] = deque()  # (slot, worker, inline result)
    try:
        try:
            for _ in range(n_procs):
                ours, theirs = ctx.Pipe()
                conns.append(ours)
                proc = ctx.Process(
                    target=_serve, args=(theirs, list(conns), inputs, outputs, max_block, dims),
                    name="spacy-elmo-vectors", daemon=True,
                )
                try:
                    proc.start()
                finally:  # the worker's end is the worker's alone
                    theirs.close()
                procs.append(proc)
        except OSError as err:  # fork failed (no memory for another process?): threads
            warnings.warn(f"Could not start vectors parsing processes ({err}); parsing in threads.")
            _stop(conns, procs, early=True)
            conns, procs = [], []
            yield from _parse_in_threads(blocks, dims, n_procs)
            return

        def died(worker: int) -> RuntimeError:
            procs[worker].join(timeout=5)
            return RuntimeError(
                f"A vectors parsing process ended unexpectedly (exit code {procs[worker].exitcode}). "
                "Out of memory? Run again with --workers 0 to parse in the main process."
            )

        def collect() -> Parsed:
            slot, worker, inline = pending[0]
            if inline is not None:
                pending.popleft()
                return inline
            try:
                msg = conns[worker].recv()
            except (EOFError, OSError):
                raise died(worker) from None
            pending.popleft()  # only now: if recv was interrupted, _stop knows a result is on its way
            if msg[0] == "error":
                raise RuntimeError(f"A vectors parsing process failed:\n{msg[1]}")
            _, keys, n_rows, line_of_row, problem, n_lines = msg
            return (keys, out[slot, :n_rows], line_of_row, problem), n_lines

        submitted = 0
        for block in blocks:
            if len(pending) >= n_slots:
                yield collect()
            if len(block) > max_block:  # a huge line: parse it here, in turn
                pending.append((-1, -1, _parse(block, dims)))
                continue
            # The slot of submission `submitted - n_slots`, already collected.
            slot, worker = submitted % n_slots, submitted % n_procs
            inputs[slot * max_block : slot * max_block + len(block)] = block
            try:
                conns[worker].send((slot, len(block)))
            except OSError:
                raise died(worker) from None
            pending.append((slot, worker, None))
            submitted += 1
        while pending:
            yield collect()
    finally:
        _stop(conns, procs, early=bool(pending))
        release_scratch()


def _stop(conns: List, procs: List, early: bool) -> None:
    """End the workers: ask them to stop, or (stopping early, when they may be
    busy or blocked sending a result nobody reads) terminate them."""
    for conn, proc in zip(conns, procs):
        if early:
            proc.terminate()
        else:
            try:
                conn.send(None)
            except OSError:
                proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    for conn in conns:
        conn.close()


def _release_freed_memory() -> None:
    """Give the finished threads' freed memory back to the OS (glibc keeps it in
    per-thread malloc arenas: ~25 MB of parser scratch, measured, that would
    otherwise stay in RSS while the vectors are built and saved)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass
