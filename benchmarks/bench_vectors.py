"""Benchmark: word2vec -> spaCy vectors, ours vs `spacy init vectors` (text)
and vs gensim's loader + building spaCy Vectors (binary).

Each command runs in its own subprocess; wall time and that child's peak RSS
(`os.wait4` rusage ru_maxrss, the largest of the process and its children)
are measured, beside the RSS of a bare `python -m spacy --help`. Each
conversion also runs once more in-process, timed after the imports: "work"
(blank pipeline + read + Vectors + to_disk), since every command pays the same
~2.5 s to start Python and import spaCy, and inside it "load" (read the file
and set `nlp.vocab.vectors`: what differs between the converters).

With `--baseline DIR` (a checkout of another commit, e.g. `git worktree add
/tmp/base REV`) it instead runs our converter from this tree and from DIR side by
side, interleaved `--repeat` times (whole command, and "load" in-process), and
prints min and median of each.
Usage:

    python benchmarks/bench_vectors.py [--rows 200000] [--dims 300] [--workdir /tmp/bench_vectors]
    python benchmarks/bench_vectors.py --baseline DIR [--repeat 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy

# In-process versions: the same work, timed after the imports (printed as
# "work <seconds>"), so interpreter start-up and `import spacy` (~2.5 s here,
# in every command) do not hide the converters' own speed.
WORK_SPACY = """
import sys, time, spacy
from spacy.training.initialize import convert_vectors
start = time.perf_counter()
nlp = spacy.blank("en")
load = time.perf_counter()
convert_vectors(nlp, sys.argv[1], truncate=0, prune=-1, name=None)
print("load", time.perf_counter() - load)
nlp.to_disk(sys.argv[2])
print("work", time.perf_counter() - start)
"""
WORK_OURS = """
import sys, time, spacy
try:
    from spacy_elmo.word2vec.convert import load_word2vec_vectors
except ImportError:  # a --baseline checkout from before spacy_elmo/word2vec/
    from spacy_elmo.vectors import load_word2vec_vectors
start = time.perf_counter()
nlp = spacy.blank("en")  # what init_vectors does, timed in two parts
load = time.perf_counter()
load_word2vec_vectors(nlp, sys.argv[1])
print("load", time.perf_counter() - load)
nlp.to_disk(sys.argv[2])
print("work", time.perf_counter() - start)
"""
GENSIM_BUILD = """
import sys, time, spacy
from gensim.models import KeyedVectors
from spacy.vectors import Vectors
start = time.perf_counter()
nlp = spacy.blank("en")
load = time.perf_counter()
kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=True)
keys = [nlp.vocab.strings.add(k) for k in kv.index_to_key]
nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=kv.vectors, keys=keys)
print("load", time.perf_counter() - load)
nlp.to_disk(sys.argv[2])
print("work", time.perf_counter() - start)
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


def run(cmd, env=None):
    """Wall seconds, peak RSS (MiB), and the "work" and "load" seconds the child printed (or None)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    printed = dict(line.split() for line in out.splitlines() if line.startswith(("work ", "load ")))
    return wall, usage.ru_maxrss / 1024, printed


def compare_trees(args, text: Path, binary: Path) -> None:
    """Our converter from this tree and from `args.baseline`, interleaved."""
    py = sys.executable
    trees = {"this tree": Path(__file__).resolve().parent.parent, "baseline": args.baseline.resolve()}
    envs = {name: dict(os.environ, PYTHONPATH=str(root)) for name, root in trees.items()}
    out = args.workdir / "out_tree"
    cases = {
        "text: init-vectors (whole command)": [py, "-m", "spacy", "elmo", "init-vectors", "en", str(text), str(out), "--no-progress"],
        "text: load (read + Vectors, in-process)": [py, "-c", WORK_OURS, str(text), str(out)],
        "binary: init-vectors (whole command)": [py, "-m", "spacy", "elmo", "init-vectors", "en", str(binary), str(out), "--no-progress"],
        "binary: load (read + Vectors, in-process)": [py, "-c", WORK_OURS, str(binary), str(out)],
    }
    times = {(case, tree): [] for case in cases for tree in trees}
    rss = {(case, tree): [] for case in cases for tree in trees}
    for rep in range(args.repeat):
        for case, cmd in cases.items():
            for tree in list(trees)[:: 1 if rep % 2 == 0 else -1]:  # alternate who goes first
                shutil.rmtree(out, ignore_errors=True)
                wall, peak, printed = run(cmd, envs[tree])
                times[case, tree].append(float(printed["load"]) if "load" in printed else wall)
                rss[case, tree].append(peak)
                print(f"{rep} {case} [{tree}]: {times[case, tree][-1]:.2f} s, {peak:.0f} MiB", flush=True)
    print(f"\n{args.rows} x {args.dims}; baseline: {trees['baseline']}; {args.repeat} interleaved runs\n")
    print("| case | tree | min s | median s | peak RSS MiB (median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case in cases:
        for tree in trees:
            t = times[case, tree]
            print(f"| {case} | {tree} | {min(t):.2f} | {statistics.median(t):.2f} | {statistics.median(rss[case, tree]):.0f} |")
    for case in cases:  # run by run, so that the shared machine's load cancels out
        ratios = [b / t for b, t in zip(times[case, "baseline"], times[case, "this tree"])]
        print(f"{case}: baseline / this tree, median of {len(ratios)} paired runs = {statistics.median(ratios):.2f}x "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_vectors"))
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of another commit to compare with")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs with --baseline")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    text, binary = make_files(args.rows, args.dims, args.workdir)
    if args.baseline is not None:
        compare_trees(args, text, binary)
        return
    py = sys.executable
    array_mib = args.rows * args.dims * 4 / 2**20
    cases = [
        ("python -m spacy --help (baseline RSS)", [py, "-m", "spacy", "--help"]),
        ("text: python -m spacy init vectors", [py, "-m", "spacy", "init", "vectors", "en", str(text), str(args.workdir / "out_spacy")]),
        ("text: python -m spacy elmo init-vectors", [py, "-m", "spacy", "elmo", "init-vectors", "en", str(text), str(args.workdir / "out_ours_txt")]),
        ("binary: gensim load + spaCy Vectors + to_disk", [py, "-c", GENSIM_BUILD, str(binary), str(args.workdir / "out_gensim")]),
        ("binary: python -m spacy elmo init-vectors", [py, "-m", "spacy", "elmo", "init-vectors", "en", str(binary), str(args.workdir / "out_ours_bin")]),
    ]
    work_cases = {  # the same work in-process, timed after the imports
        cases[1][0]: [py, "-c", WORK_SPACY, str(text), str(args.workdir / "out_spacy")],
        cases[2][0]: [py, "-c", WORK_OURS, str(text), str(args.workdir / "out_ours_txt")],
        cases[4][0]: [py, "-c", WORK_OURS, str(binary), str(args.workdir / "out_ours_bin")],
    }
    results = {}
    for name, cmd in cases:
        for out in args.workdir.glob("out_*"):
            shutil.rmtree(out)
        wall, rss, printed = run(cmd)
        if name in work_cases:
            for out in args.workdir.glob("out_*"):
                shutil.rmtree(out)
            printed = run(work_cases[name])[2]
        work, load = (float(printed[k]) if k in printed else None for k in ("work", "load"))
        results[name] = (wall, rss, work, load)
        print(f"{name}: {wall:.1f} s, {rss:.0f} MiB, work {work} s, load {load} s", flush=True)
    base = results[cases[0][0]][1]
    print(f"\n{args.rows} x {args.dims} float32 array = {array_mib:.0f} MiB; text file {text.stat().st_size / 2**20:.0f} MiB\n")
    print("| command | wall s | work s (after imports) | load s (read + Vectors) | peak RSS MiB | RSS above `spacy --help` / array |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    fmt = lambda x: "" if x is None else f"{x:.2f}"  # noqa: E731
    for name, _ in cases:
        wall, rss, work, load = results[name]
        print(f"| {name} | {wall:.1f} | {fmt(work)} | {fmt(load)} | {rss:.0f} | {(rss - base) / array_mib:.2f}x |")
    (_, text_spacy, text_ours, bin_gensim, bin_ours) = (results[name] for name, _ in cases)
    for what, i in (("whole process", 0), ("work after imports", 2), ("load (read + Vectors)", 3)):
        print(
            f"speed-up, {what}: text vs spacy init vectors {text_spacy[i] / text_ours[i]:.2f}x; "
            f"binary vs gensim + Vectors {bin_gensim[i] / bin_ours[i]:.2f}x"
        )


if __name__ == "__main__":
    main()
