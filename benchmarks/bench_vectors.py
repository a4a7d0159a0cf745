"""Benchmark: word2vec -> spaCy vectors, ours vs `spacy init vectors` (text)
and vs gensim's loader + building spaCy Vectors (binary).

Each command runs in its own subprocess; wall time and that child's peak RSS
(`os.wait4` rusage ru_maxrss) are measured, beside the RSS of a bare
`python -m spacy --help`. Usage:

    python benchmarks/bench_vectors.py [--rows 200000] [--dims 300] [--workdir /tmp/bench_vectors]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy

GENSIM_BUILD = """
import sys, spacy
from gensim.models import KeyedVectors
from spacy.vectors import Vectors
kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=True)
nlp = spacy.blank("en")
keys = [nlp.vocab.strings.add(k) for k in kv.index_to_key]
nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=kv.vectors, keys=keys)
nlp.to_disk(sys.argv[2])
"""


def make_files(rows: int, dims: int, workdir: Path):
    """A gensim-written text file (str(float32) values) and its binary twin."""
    text, binary = workdir / f"w2v_{rows}x{dims}.txt", workdir / f"w2v_{rows}x{dims}.bin"
    if text.exists() and binary.exists():
        return text, binary
    rng = numpy.random.default_rng(0)
    with text.open("w", encoding="utf8") as ft, binary.open("wb") as fb:
        ft.write(f"{rows} {dims}\n")
        fb.write(f"{rows} {dims}\n".encode())
        for start in range(0, rows, 10000):
            block = (rng.standard_normal((min(10000, rows - start), dims)) * 0.1).astype(numpy.float32)
            for i, row in enumerate(block):
                key = f"w{start + i}"
                ft.write(key + " " + " ".join(str(x) for x in row) + "\n")
                fb.write(key.encode() + b" " + row.astype("<f4").tobytes())
    return text, binary


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # MiB


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_vectors"))
    parser.add_argument("--workers", default=None, help="--workers for our converter (default: its own default)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    text, binary = make_files(args.rows, args.dims, args.workdir)
    py = sys.executable
    array_mib = args.rows * args.dims * 4 / 2**20
    cases = [
        ("python -m spacy --help (baseline RSS)", [py, "-m", "spacy", "--help"]),
        ("text: python -m spacy init vectors", [py, "-m", "spacy", "init", "vectors", "en", str(text), str(args.workdir / "out_spacy")]),
        ("text: python -m spacy elmo init-vectors", [py, "-m", "spacy", "elmo", "init-vectors", "en", str(text), str(args.workdir / "out_ours_txt")] + (["--workers", args.workers] if args.workers is not None else [])),
        ("binary: gensim load + spaCy Vectors + to_disk", [py, "-c", GENSIM_BUILD, str(binary), str(args.workdir / "out_gensim")]),
        ("binary: python -m spacy elmo init-vectors", [py, "-m", "spacy", "elmo", "init-vectors", "en", str(binary), str(args.workdir / "out_ours_bin")]),
    ]
    results = {}
    for name, cmd in cases:
        for out in args.workdir.glob("out_*"):
            shutil.rmtree(out)
        results[name] = run(cmd)
        print(f"{name}: {results[name][0]:.1f} s, {results[name][1]:.0f} MiB", flush=True)
    base = results[cases[0][0]][1]
    print(f"\n{args.rows} x {args.dims} float32 array = {array_mib:.0f} MiB; text file {text.stat().st_size / 2**20:.0f} MiB\n")
    print("| command | wall s | peak RSS MiB | RSS above `spacy --help` / array |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in cases:
        wall, rss = results[name]
        print(f"| {name} | {wall:.1f} | {rss:.0f} | {(rss - base) / array_mib:.2f}x |")
    t = results[cases[1][0]][0] / results[cases[2][0]][0]
    b = results[cases[3][0]][0] / results[cases[4][0]][0]
    print(f"\nspeed-up text vs spacy init vectors: {t:.2f}x; binary vs gensim+Vectors: {b:.2f}x")


if __name__ == "__main__":
    main()
