"""Write the first N non-empty lines (or lines, with --keep-blank) of a text file (.gz ok) to OUT, all of
them with --lines 0: the project's corpora, cut to the scale's size.

    python scripts/head_text.py IN OUT --lines N
"""
import argparse
import gzip
from pathlib import Path

from spacy_elmo.io.atomic import atomic_write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--lines", type=int, required=True, help="at most N lines (0: all)")
    parser.add_argument("--keep-blank", action="store_true", help="keep blank lines (sentence breaks of .conll files) and count them")
    args = parser.parse_args()
    opener = gzip.open if args.input.suffix == ".gz" else open
    kept = []
    with opener(args.input, "rt", encoding="utf8") as handle:
        for line in handle:
            if line.strip() or args.keep_blank:
                kept.append(line if line.endswith("\n") else line + "\n")
                if args.lines and len(kept) >= args.lines:
                    break
    atomic_write_text(args.output, "".join(kept))
    print(f"{args.input} -> {args.output}: {len(kept)} lines")


if __name__ == "__main__":
    main()
