"""Convert a (gzipped) UD CoNLL-U file to a .spacy DocBin, one Doc per
sentence: words, UPOS as tag_ (what the taggers in configs/ predict), morph
features, dependency heads and labels (the parser), and the sentence's genre
from its sent_id (answers, email, newsgroup, reviews, weblog) as exclusive
doc.cats (the textcat configs).

    python scripts/convert_ud.py IN.conllu.gz OUT.spacy [--limit N]
"""
import argparse
import gzip
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin

from spacy_elmo.io.atomic import atomic_path


GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")


def read_conllu(path: Path, limit: int = 0):
    """Yield dicts with words, tags, morphs, heads (absolute), deps, genre."""
    opener = gzip.open if path.suffix == ".gz" else open
    words, tags, morphs, heads, deps = [], [], [], [], []
    genre = None
    count = 0
    with opener(path, "rt", encoding="utf8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                if words:
                    yield _sentence(words, tags, morphs, heads, deps, genre)
                    count += 1
                    words, tags, morphs, heads, deps = [], [], [], [], []
                    genre = None
                    if limit and count >= limit:
                        return
                continue
            if line.startswith("# sent_id = "):
                genre = line[len("# sent_id = "):].split("-")[0]
                if genre not in GENRES:
                    raise SystemExit(f"{path}, line {number}: unknown genre '{genre}' in sent_id (expected one of {GENRES})")
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
            morphs.append("" if cols[5] == "_" else cols[5])
            heads.append(int(cols[6]))
            deps.append(cols[7].split(":")[0])
    if words:
        yield _sentence(words, tags, morphs, heads, deps, genre)


def _sentence(words, tags, morphs, heads, deps, genre):
    # CoNLL-U heads are 1-based token ids with 0 = root; spaCy wants absolute
    # indices with the root pointing at itself (ids are 1..n here: multi-word
    # ranges and empty nodes were skipped).
    abs_heads = [i if h == 0 else h - 1 for i, h in enumerate(heads)]
    deps = ["ROOT" if h == 0 else d for h, d in zip(heads, deps)]
    cats = {g: float(g == genre) for g in GENRES} if genre else {}
    return {"words": words, "tags": tags, "morphs": morphs, "heads": abs_heads, "deps": deps, "cats": cats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="at most N sentences (0: all)")
    args = parser.parse_args()
    vocab = spacy.blank("en").vocab
    docs = []
    for sent in read_conllu(args.input, args.limit):
        doc = Doc(vocab, words=sent["words"], tags=sent["tags"], morphs=sent["morphs"],
                  heads=sent["heads"], deps=sent["deps"])
        doc.cats = sent["cats"]
        docs.append(doc)
    with atomic_path(args.output, suffix=".spacy.tmp") as tmp:
        DocBin(docs=docs).to_disk(tmp)
    print(f"{args.input} -> {args.output}: {len(docs)} sentences, {sum(len(d) for d in docs)} tokens")


if __name__ == "__main__":
    main()
