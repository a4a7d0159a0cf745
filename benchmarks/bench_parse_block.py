"""Benchmark: numbers/s of the text block parser on one core, beside plain
baselines in the same run (numpy's C `fromstring` and Python's `float`, the
two ways other readers parse word2vec text).

Usage (the file is the one bench_vectors.py writes; it is made if missing):

    python benchmarks/bench_parse_block.py [--block-kib 1024] [--repeats 100]
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy

from bench_vectors import make_files
from spacy_elmo.word2vec.numbers import parse_text_block, parse_text_block_fast


def rate(fn, block, dims, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        values = fn(block, dims)
        times.append(time.perf_counter() - start)
    best = statistics.quantiles(times, n=5)[0]  # 20th percentile: this VM is noisy
    return values.size / best / 1e6, best * 1000


def fromstring(block, dims):
    values = b" ".join(line.partition(b" ")[2] for line in block.split(b"\n"))
    return numpy.fromstring(values, dtype=numpy.float32, sep=" ")


def python_float(block, dims):
    return numpy.array([float(t) for line in block.split(b"\n") for t in line.split(b" ")[1:]], dtype=numpy.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--block-kib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_vectors"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    text, _ = make_files(200_000, 300, args.workdir)
    with text.open("rb") as f:
        f.readline()
        data = f.read(args.block_kib << 10)
    block = data[: data.rfind(b"\n")]
    dims = 300
    ref = fromstring(block, dims)
    cases = [
        ("parse_text_block_fast (ours)", lambda b, d: parse_text_block_fast(b, d)[1]),
        ("parse_text_block (ours, with the line path)", lambda b, d: parse_text_block(b, d)[1]),
        ("numpy.fromstring(sep=' ') (baseline)", fromstring),
        ("Python float() per token (baseline)", python_float),
    ]
    print(f"block: {len(block) / 2**20:.2f} MiB, {ref.size:,} numbers\n")
    print("| parser | ms per block | M numbers/s |")
    print("| --- | ---: | ---: |")
    for name, fn in cases:
        values = fn(block, dims)
        assert values.ravel().view(numpy.uint32).tolist() == ref.view(numpy.uint32).tolist(), name
        mps, ms = rate(fn, block, dims, args.repeats)
        print(f"| {name} | {ms:.1f} | {mps:.1f} |", flush=True)


if __name__ == "__main__":
    main()
