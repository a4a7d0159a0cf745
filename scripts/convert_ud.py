"""Convert a (gzipped) UD CoNLL-U file to a .spacy DocBin: words, UPOS as
tag_ (what the tagger in configs/ predicts), sentence boundaries.

    python scripts/convert_ud.py IN.conllu.gz OUT.spacy [--limit N]
"""
import argparse
import gzip
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin


def read_conllu(path: Path, limit: int = 0):
    opener = gzip.open if path.suffix == ".gz" else open
    words, tags = [], []
    count = 0
    with opener(path, "rt", encoding="utf8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                if words:
                    yield words, tags
                    count += 1
                    words, tags = [], []
                    if limit and count >= limit:
                        return
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise SystemExit(f"{path}, line {number}: expected 10 tab-separated CoNLL-U columns, got {len(cols)}")
            if "-" in cols[0] or "." in cols[0]:
                continue  # multi-word token ranges and empty nodes
            words.append(cols[1])
            tags.append(cols[3])
    if words:
        yield words, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="at most N sentences (0: all)")
    args = parser.parse_args()
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=w, tags=t) for w, t in read_conllu(args.input, args.limit)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    DocBin(docs=docs).to_disk(tmp)
    tmp.replace(args.output)
    print(f"{args.input} -> {args.output}: {len(docs)} sentences, {sum(len(d) for d in docs)} tokens")


if __name__ == "__main__":
    main()
