"""What keeps a long `embed` run's memory from growing: a oneDNN setting and
a heap trimmer (`HeapTrimmer`, below).

oneDNN, which runs the char CNN's convolutions on the CPU, caches a compiled
primitive per convolution shape, up to 1,024 of them, and the char CNN sees
a new shape (the number of distinct tokens in the batch) almost every
batch. With the default model that cache alone grows the peak resident set
by hundreds of MiB over a long run; a cache of 8 bounds it at little cost
(docs/results_memory.md has both, measured).

It is process-wide and read once, when oneDNN first runs, so the `embed`
command sets it before it loads a model (it owns its process); library
functions do not. A value set in the environment wins.
"""
import ctypes
import ctypes.util
import os
from typing import Callable, Optional

TRIM_SLACK_MIB = 128.0
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE = 8


def bound_onednn_cache() -> str:
    """Set oneDNN's primitive cache to ONEDNN_CACHE entries for this process,
    unless the environment sets it. Call it before the first convolution.
    RETURNS (str): the capacity in effect."""
    return os.environ.setdefault(ONEDNN_CACHE_ENV, str(ONEDNN_CACHE))


def _load_trim() -> Optional[Callable[[int], int]]:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


_MALLOC_TRIM = _load_trim()
_PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0


def resident_mib() -> Optional[float]:
    """This process's resident set now, in MiB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_MIB
    except (OSError, ValueError, IndexError):
        return None


class HeapTrimmer:
    """Gives the pages of freed heap blocks back to the OS (glibc's
    malloc_trim) whenever the resident set has grown by `slack_mib` over its
    level one batch after the last trim; a no-op without glibc or /proc.

    Why: glibc serves blocks up to its mmap threshold (raised, as its manual
    says, to the size of each mmapped block freed, up to 32 MiB) from one
    heap, and each batch's tensors have new sizes: over a long run the
    heap's free part grows far past the memory in use, by another amount
    each run with the same input (docs/results_memory.md has the figures).
    Trimming after every batch costs much of the speed (the next batch
    faults its pages in again), so the level is taken one batch after a
    trim, when a batch's working set is resident again, and only growth
    beyond it triggers the next trim.

    slack_mib (float): resident growth that triggers a trim.
    """

    def __init__(self, slack_mib: float = TRIM_SLACK_MIB):
        self.slack_mib = slack_mib
        self.level: Optional[float] = None  # taken at the next call
        self.trims = 0

    def __call__(self) -> None:
        """Call between batches."""
        rss = resident_mib() if _MALLOC_TRIM is not None else None
        if rss is None or _MALLOC_TRIM is None:
            return
        if self.level is None:
            self.level = rss
        elif rss > self.level + self.slack_mib:
            _MALLOC_TRIM(0)
            self.trims += 1
            self.level = None
