"""Convert a token-per-line NER file (WNUT-17, CoNLL-2003, Universal NER) to a
.spacy DocBin with gold entities, for `spacy evaluate` (training reads the
files directly with spacy-elmo.ConllNerCorpus.v1).

    python scripts/convert_ner.py IN OUT.spacy [--word-column 0] [--tag-column -1] [--scheme auto]
"""
import argparse
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from spacy_elmo.corpora import ner_examples, read_conll_ner
from spacy_elmo.io.atomic import atomic_path
from spacy_elmo.errors import ElmoError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--word-column", type=int, default=0)
    parser.add_argument("--tag-column", type=int, default=-1)
    parser.add_argument("--scheme", default="auto", help="auto, iob1 or bio")
    args = parser.parse_args()
    nlp = spacy.blank("en")
    try:
        sentences = read_conll_ner(args.input, word_column=args.word_column, tag_column=args.tag_column, scheme=args.scheme)
        docs = [eg.reference for eg in ner_examples(nlp, sentences)]
    except ElmoError as err:
        raise SystemExit(str(err))
    with atomic_path(args.output, suffix=".spacy.tmp") as tmp:
        DocBin(docs=docs).to_disk(tmp)
    print(f"{args.input} -> {args.output}: {len(docs)} sentences, {sum(len(d.ents) for d in docs)} entities")


if __name__ == "__main__":
    main()
