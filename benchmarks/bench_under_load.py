"""`embed` beside other busy processes: how much of its quiet throughput it keeps.

Runs `python -m spacy elmo embed` (the command a user types) on the first
N non-heading lines of WikiText-2 test, first on a quiet machine, then while
`--busy` other processes each keep one core busy (a pure Python loop, as a
test runner or a second job would), and prints tokens/s of both and their
ratio, in the same run. Each measurement is the median of `--repeat` runs.

    python benchmarks/bench_under_load.py --lines 2000 --busy 1 --repeat 2
    python benchmarks/bench_under_load.py --lines 2000 --busy 1 -- --threads 1

Issue 21's target: on a 2-core machine with one busy process, `embed` keeps
at least 40% of its quiet throughput (bc676b1 kept 14%).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT_TEST = ROOT.parent / "shared" / "data" / "wikitext-2" / "test.txt"
BUSY_LOOP = "while True:\n    pass\n"


def write_lines(path: Path, n: int) -> int:
    """The first `n` non-blank, non-heading WikiText-2 test lines. RETURNS the tokens."""
    tokens = count = 0
    with open(path, "w", encoding="utf8") as out:
        for line in WIKITEXT_TEST.read_text(encoding="utf8").splitlines():
            words = line.split()
            if not words or words[0] == "=":
                continue
            out.write(" ".join(words) + "\n")
            tokens, count = tokens + len(words), count + 1
            if count == n:
                return tokens
    sys.exit(f"WikiText-2 test has only {count} such lines")


def run_embed(input_file: Path, output_file: Path, extra: List[str]) -> Tuple[float, float]:
    """One `embed` run. RETURNS (wall seconds, peak RSS MiB of the run)."""
    cmd = [sys.executable, "-m", "spacy", "elmo", "embed", str(input_file), str(output_file), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.decode(errors='replace')[-3000:]}")
    output_file.unlink()
    return seconds, usage.ru_maxrss / 1024


def measure(input_file: Path, output_file: Path, extra: List[str], repeat: int) -> Tuple[float, float]:
    runs = [run_embed(input_file, output_file, extra) for _ in range(repeat)]
    return statistics.median(s for s, _ in runs), max(m for _, m in runs)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=2000, help="WikiText-2 test lines to embed (it has 2,183)")
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the loaded runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--weights", default="default", help="embed --weights")
    parser.add_argument("--threads", type=int, default=0, help="embed --threads (0: its default)")
    parser.add_argument("--jsonl", type=Path, help="also write one JSON row per measurement here")
    parser.add_argument("embed_args", nargs="*", help="more arguments for embed, after --")
    args = parser.parse_args(argv)
    extra = ["--weights", args.weights, "--threads", str(args.threads), *args.embed_args]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; embed {' '.join(extra)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        input_file, output_file = Path(tmp) / "input.txt", Path(tmp) / "output.hdf5"
        n_tokens = write_lines(input_file, args.lines)
        quiet, quiet_mib = measure(input_file, output_file, extra, args.repeat)
        rows.append({"row": "quiet", "busy": 0, "seconds": quiet, "tokens_per_s": n_tokens / quiet,
                     "peak_rss_mib": quiet_mib})
        busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
        try:
            time.sleep(0.5)  # the busy processes are running before the clock starts
            loaded, loaded_mib = measure(input_file, output_file, extra, args.repeat)
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
        rows.append({"row": f"beside {args.busy} busy", "busy": args.busy, "seconds": loaded,
                     "tokens_per_s": n_tokens / loaded, "peak_rss_mib": loaded_mib})
    print(f"{'run':<16} {'lines':>6} {'tokens':>8} {'wall s':>8} {'tok/s':>8} {'peak RSS MiB':>12}")
    for row in rows:
        print(f"{row['row']:<16} {args.lines:>6} {n_tokens:>8} {row['seconds']:>8.2f} "
              f"{row['tokens_per_s']:>8,.0f} {row['peak_rss_mib']:>12,.0f}")
    kept = rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"]
    print(f"kept under load: {kept:.2f} of the quiet throughput")
    rows.append({"row": "kept under load", "ratio": kept})
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")


if __name__ == "__main__":
    main()
