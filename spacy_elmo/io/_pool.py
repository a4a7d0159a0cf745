"""Parse text blocks in threads, results in input order.

`parse_text_block_fast` is numpy operations on whole arrays, which release
the GIL, so threads parse blocks side by side without copying them to other
processes (measured on 2 cores: ~2x one thread). At most 2 blocks per thread
are in flight, so memory stays bounded.
"""
import ctypes
import ctypes.util
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Deque, Iterable, Iterator, Tuple

from ._numbers import BlockResult, parse_text_block, release_scratch


def _parse(block: bytes, dims: int) -> Tuple[BlockResult, int]:
    """The block's result and its number of lines."""
    result = parse_text_block(block, dims)
    keys, _, line_of_row, problem = result
    if line_of_row is None and problem is None:  # every line was a row
        return result, len(keys)
    return result, block.count(b"\n") + 1


def parse_blocks(blocks: Iterable[bytes], dims: int, n_threads: int) -> Iterator[Tuple[BlockResult, int]]:
    """Parse blocks of whole lines; yield (result, number of lines) in input order.

    blocks (Iterable[bytes]): blocks of whole lines (no trailing newline).
    dims (int): values per row.
    n_threads (int): parsing threads; 0 parses in the calling thread.
    """
    if n_threads <= 0:
        try:
            for block in blocks:
                yield _parse(block, dims)
        finally:
            release_scratch()
        return
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
