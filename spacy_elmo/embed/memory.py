"""A process setting that keeps a long `embed` run's memory from growing.

oneDNN, which runs the char CNN's convolutions on the CPU, caches a compiled
primitive per convolution shape, up to 1,024 of them, and the char CNN sees
a new shape (the number of distinct tokens in the batch) almost every
batch. With the default model that cache alone grew peak RSS by about
500 MiB over 20,000 WikiText-2 sentences (benchmarks/RESULTS_memory.md); a
cache of 8 costs nothing measurable in fp32 and ~2% in bf16.

It is process-wide and read once, when oneDNN first runs, so the `embed`
command sets it before it loads a model (it owns its process); library
functions do not. A value set in the environment wins.
"""
import os

ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE = 8


def bound_onednn_cache() -> str:
    """Set oneDNN's primitive cache to ONEDNN_CACHE entries for this process,
    unless the environment sets it. Call it before the first convolution.
    RETURNS (str): the capacity in effect."""
    return os.environ.setdefault(ONEDNN_CACHE_ENV, str(ONEDNN_CACHE))
