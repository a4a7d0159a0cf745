"""Write the tokens of labelled corpora as pretraining text: one whitespace-
tokenized sentence per line, for adapting a biLM to a task's domain
(`python -m spacy elmo pretrain ... --paths.init_model MODEL`). Reads .spacy
DocBins (a doc's sentences when it has them) and token-per-line NER files
(.conll: WNUT-17, CoNLL-2003). Use training splits only: never dev or test text.

    python scripts/corpus_text.py OUT.txt IN [IN ...]
"""
import argparse
from pathlib import Path
from typing import Iterator, List

import spacy
from spacy.tokens import DocBin

from spacy_elmo.corpora import read_conll_ner
from spacy_elmo.errors import ElmoError
from spacy_elmo.io.atomic import atomic_write_text


def sentences(path: Path, nlp) -> Iterator[List[str]]:
    if path.suffix == ".spacy":
        for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
            spans = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
            for span in spans:
                yield [t.text for t in span]
    else:
        for words, _tags in read_conll_ner(path):
            yield list(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+")
    args = parser.parse_args()
    nlp = spacy.blank("en")
    lines = []
    for path in args.inputs:
        if not path.exists():
            raise SystemExit(f"{path}: no such file")
        n_before = len(lines)
        try:
            for words in sentences(path, nlp):
                # whitespace tokens (spaCy keeps runs of spaces as tokens) carry no word
                words = [w for w in words if w.strip()]
                if words:
                    lines.append(" ".join("".join(w.split()) for w in words))
        except ElmoError as err:
            raise SystemExit(str(err))
        print(f"{path}: {len(lines) - n_before} sentences")
    atomic_write_text(args.output, "".join(l + "\n" for l in lines))
    print(f"-> {args.output}: {len(lines)} lines, {sum(len(l.split()) for l in lines):,} tokens")


if __name__ == "__main__":
    main()
