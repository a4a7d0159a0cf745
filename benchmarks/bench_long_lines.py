"""Speed of `embed` on one very long line vs ordinary sentences.

A line of N tokens (WikiText-2 train text, joined) and about N tokens of
ordinary WikiText-2 sentences are embedded with the default model by
`embed_file` in a child process that imports the package of the checkout
being measured; only embed_file is timed (best of --repeat). A cost that
stays linear in the length of a line gives the long line about the tok/s of
the sentences.

    python benchmarks/bench_long_lines.py --tokens 5000 --baseline ../wt-main
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from bench_memory import ROOT, sentences

CHILD = """
import json, sys, time
import torch
torch.set_num_threads(1)
from spacy_elmo.embed import embed_file
from spacy_elmo.io.pretrained import load_pretrained_bilm
bilm = load_pretrained_bilm("default")
out = {}
for name in ("sentences", "long"):
    path = sys.argv[1] + "/" + name + ".txt"
    times = []
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        embed_file(path, sys.argv[1] + "/out.hdf5", bilm, progress=False)
        times.append(time.perf_counter() - start)
    out[name] = min(times)
print(json.dumps(out))
"""


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout to run beside this one")
    args = parser.parse_args(argv)
    codes = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        words: List[str] = []
        ordinary: List[str] = []
        n_ordinary = 0
        for tokens in sentences(paragraphs=False):
            if len(words) < args.tokens:
                words.extend(tokens)
            if n_ordinary < args.tokens:
                ordinary.append(" ".join(tokens))
                n_ordinary += len(tokens)
            if len(words) >= args.tokens and n_ordinary >= args.tokens:
                break
        Path(tmp, "long.txt").write_text(" ".join(words[: args.tokens]) + "\n", encoding="utf8")
        Path(tmp, "sentences.txt").write_text("\n".join(ordinary) + "\n", encoding="utf8")
        print(f"{'code':<14} {'input':<28} {'tokens':>7} {'s':>7} {'tok/s':>7}")
        for name, code in codes:
            env = dict(os.environ, PYTHONPATH=str(code))
            cmd = [sys.executable, "-c", CHILD, tmp, str(args.repeat)]
            done = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(done.stderr[-3000:])
            seconds = json.loads(done.stdout.strip().splitlines()[-1])
            rows = (("sentences", f"{len(ordinary)} sentences", n_ordinary),
                    ("long", "one line", args.tokens))
            for key, label, n in rows:
                print(f"{name:<14} {label:<28} {n:>7} {seconds[key]:>7.2f} {n / seconds[key]:>7.0f}")


if __name__ == "__main__":
    main()
