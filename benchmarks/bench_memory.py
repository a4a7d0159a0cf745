"""Peak memory of `python -m spacy elmo embed` as the input grows.

Each run is the command itself in a fresh process, its peak RSS that child's
`ru_maxrss`. Inputs are the first N sentences of WikiText-2 (train, valid,
test: each line split after '.', '?' and '!'; headings are sentences of their
own; 102,482 sentences, 97,856 distinct, 24.5 tokens on average), so that
100k sentences are real text, not repeats.

    python benchmarks/bench_memory.py                      # 2k, 20k, 100k, default model
    python benchmarks/bench_memory.py --sizes 2000 20000 --baseline ../wt-main
    python benchmarks/bench_memory.py --lines --sizes 500 2000   # paragraphs, not sentences

--baseline DIR runs the same command from another checkout (e.g. a
worktree of main) beside this one. Prints, per size, the wall time, tokens/s
and peak RSS, and the ratio of the largest to the smallest peak.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2"
ENDS = {".", "?", "!"}


def wikitext_lines() -> Iterator[str]:
    with gzip.open(WIKITEXT / "train.txt.gz", "rt", encoding="utf8") as f:
        yield from f
    for name in ("valid.txt", "test.txt"):
        with open(WIKITEXT / name, encoding="utf8") as f:
            yield from f


def sentences(paragraphs: bool) -> Iterator[List[str]]:
    for line in wikitext_lines():
        words = line.split()
        if paragraphs:
            if words:
                yield words
            continue
        current: List[str] = []
        for word in words:
            current.append(word)
            if word in ENDS:
                yield current
                current = []
        if current:
            yield current


def write_input(path: Path, n: int, paragraphs: bool) -> int:
    """The first n sentences (or lines) into path. RETURNS tokens written."""
    tokens = count = 0
    with open(path, "w", encoding="utf8") as f:
        for words in sentences(paragraphs):
            if count == n:
                break
            f.write(" ".join(words) + "\n")
            tokens += len(words)
            count += 1
    if count < n:
        sys.exit(f"WikiText-2 has only {count} {'lines' if paragraphs else 'sentences'}")
    return tokens


def run_embed(code: Path, input_file: Path, output_file: Path, extra: List[str]) -> Tuple[float, float]:
    """`python -m spacy elmo embed` with the spacy_elmo of `code` (its root as
    the working directory comes first on sys.path). RETURNS (seconds, peak MiB)."""
    env = dict(os.environ, PYTHONPATH=str(code))
    cmd = [sys.executable, "-m", "spacy", "elmo", "embed", str(input_file), str(output_file), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--lines", action="store_true", help="WikiText-2 lines (paragraphs), not sentences")
    parser.add_argument("--baseline", type=Path, help="another checkout to run beside this one")
    parser.add_argument("embed_args", nargs="*", help="more arguments for embed, after --")
    args = parser.parse_args(argv)
    codes = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    print(f"{'code':<14} {'sentences':>9} {'tokens':>9} {'wall s':>8} {'tok/s':>7} {'peak RSS MiB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {name: [] for name, _ in codes}
        for n in args.sizes:
            input_file = Path(tmp) / f"in{n}.txt"
            tokens = write_input(input_file, n, args.lines)
            for name, code in codes:
                seconds, peak = run_embed(code, input_file, Path(tmp) / "out.hdf5", args.embed_args)
                peaks[name].append(peak)
                print(f"{name:<14} {n:>9} {tokens:>9} {seconds:>8.1f} {tokens / seconds:>7.0f} {peak:>12.0f}",
                      flush=True)
    for name, values in peaks.items():
        print(f"{name}: largest / smallest peak RSS = {max(values) / min(values):.3f}")


if __name__ == "__main__":
    main()
