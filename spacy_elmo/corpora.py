"""Readers for token-per-line NER data (WNUT-17, CoNLL-2003, Universal NER):
one token a line with its tag in a column, sentences separated by blank or
whitespace-only lines, `-DOCSTART-` lines and UD-style `# key = value`
comments skipped.

Tags are BIO (IOB2) or IOB1 (CoNLL-2003: `I-X` starts an entity unless it
continues one; `B-X` only separates two adjacent entities of the same type).
Both are normalised to BIO: an `I-X` that does not continue an `X` entity
becomes `B-X`. With scheme="bio" such a tag is an error instead.

The registered reader also takes spaCy's own corpus format, DocBin (`.spacy`)
files, recognised by their content, and directories of them (as
`spacy.Corpus.v1` does), and reads them with spaCy's machinery.
"""
import random
import warnings
import zlib
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus, Example, iob_to_biluo
from spacy.training.corpus import walk_corpus
from spacy.util import registry

from .errors import ElmoError, Errors
from .io.text import check_input_file, numbered_lines

SCHEMES = ("auto", "bio", "iob1")
HINT = "Check [corpora] path / --paths.train / --paths.dev."
Sentence = Tuple[List[str], List[str]]


def read_conll_ner(
    path: Union[str, Path], *, word_column: int = 0, tag_column: int = -1, scheme: str = "auto"
) -> Iterator[Sentence]:
    """Yield (words, BIO tags) per sentence of a token-per-line NER file.

    path: the file (plain, .gz, .bz2 or .xz).
    word_column, tag_column: column indices (tabs, or else runs of spaces,
        separate columns; negative counts from the end). WNUT-17 and CoNLL-2003
        need the defaults; Universal NER's .iob2 files need word_column=1,
        tag_column=2.
    scheme: "auto" (or "iob1"): normalise IOB1 to BIO; "bio": strict BIO.
    """
    path = Path(path)
    if scheme not in SCHEMES:
        raise ElmoError(Errors.E107.format(what="scheme", options=", ".join(SCHEMES), value=scheme))
    words: List[str] = []
    tags: List[str] = []
    numbers: List[int] = []  # line number of each token (comment lines may fall between)
    for number, raw in numbered_lines(path, HINT):
        try:
            line = raw.decode("utf8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise ElmoError(Errors.E040.format(path=path, line=number, err=err)) from None
        if number == 1:
            line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark (Windows editors write one)
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                yield words, _to_bio(tags, scheme, path, numbers)
                words, tags, numbers = [], [], []
            continue
        if line.startswith("#") and " = " in line and "\t" not in line:
            continue  # UD-style comment (# sent_id = ...)
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            if len(cols) < 2:
                raise IndexError
            word, tag = cols[word_column], cols[tag_column]
        except IndexError:
            raise ElmoError(
                Errors.E301.format(path=path, line=number, n=len(cols), word=word_column, tag=tag_column)
            ) from None
        tag = tag.strip()
        if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
            raise ElmoError(Errors.E302.format(path=path, line=number, tag=tag))
        if not word:
            raise ElmoError(Errors.E096.format(path=path, line=number, word=word_column))
        words.append(word.strip() or word)
        tags.append(tag)
        numbers.append(number)
    if words:
        yield words, _to_bio(tags, scheme, path, numbers)


def _to_bio(tags: List[str], scheme: str, path: Path, numbers: List[int]) -> List[str]:
    out = []
    previous = "O"
    for tag, number in zip(tags, numbers):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            if scheme == "bio":
                raise ElmoError(Errors.E304.format(path=path, where=f"line {number}", tag=tag))
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def ner_examples(nlp: Language, sentences: Iterable[Sentence]) -> Iterator[Example]:
    """Examples with gold entities (doc.ents) from (words, BIO tags)."""
    for words, tags in sentences:
        doc = Doc(nlp.vocab, words=words)
        yield Example.from_dict(doc, {"entities": iob_to_biluo(tags)})


def is_docbin(path: Union[str, Path]) -> bool:
    """Whether a file is a spaCy DocBin (what DocBin.to_disk writes, usually
    `.spacy`), by content: a zlib stream of a msgpack map whose first key is
    "version". A token-per-line file never starts like that."""
    with check_input_file(path, HINT).open("rb") as f:
        head = f.read(256)
    try:
        data = zlib.decompressobj().decompress(head, 16)
    except zlib.error:
        return False
    is_map = bool(data) and (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF))  # msgpack fixmap, map16/32
    return is_map and b"\xa7version" in data


def docbin_files(directory: Union[str, Path]) -> List[Path]:
    """The `.spacy` files under a directory, found as `spacy.Corpus.v1` finds
    them (recursively, hidden entries skipped, sorted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W090 "no .spacy files": E098 says more
        files = [path for path in walk_corpus(directory, ".spacy") if path.is_file()]
    if not files:
        raise ElmoError(Errors.E098.format(path=directory, hint=HINT))
    return files


def read_docbin(
    nlp: Language, path: Union[str, Path], *, limit: int = 0, shuffle: bool = False
) -> Iterator[Example]:
    """Examples from a DocBin file, or a directory of `.spacy` files, as
    spaCy's `spacy.Corpus.v1` gives them (DocBin, then Corpus.make_examples:
    Docs of the nlp's tokenizer aligned to the reference Docs; empty Docs
    skipped), whatever the file is called.

    limit (int): at most this many Docs (0: all).
    shuffle (bool): shuffle the Docs.
    """
    files = docbin_files(path) if Path(path).is_dir() else [Path(path)]
    docs: List[Doc] = []
    for file in files:
        try:
            docs.extend(doc for doc in DocBin().from_disk(file).get_docs(nlp.vocab) if len(doc))
        except Exception as err:  # zlib, msgpack or array errors of a damaged file
            raise ElmoError(Errors.E095.format(path=file, err=f"{type(err).__name__}: {err}")) from None
    if limit:
        docs = docs[:limit]
    if shuffle:
        random.shuffle(docs)
    yield from Corpus(path).make_examples(nlp, docs)


@registry.readers("spacy-elmo.ConllNerCorpus.v1")
def create_conll_ner_corpus_v1(
    *,
    path: Optional[str],
    word_column: int = 0,
    tag_column: int = -1,
    scheme: str = "auto",
    limit: int = 0,
    shuffle: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """A corpus reader for `spacy train` ([corpora.train] / [corpora.dev]) that
    reads WNUT-17 / CoNLL-2003 / Universal NER files directly (no conversion
    step), or spaCy DocBin (`.spacy`) files as `spacy.Corpus.v1` does, so one
    config takes either.

    The file is opened when the corpus is first read, not when the config is
    resolved (as spaCy's readers do), so `spacy debug config` works without it.
    path (Optional[str]): the file, or a directory of .spacy files ([paths]
        train / dev).
    word_column, tag_column, scheme: as in `read_conll_ner` (token-per-line
        files only).
    limit (int): at most N sentences (DocBin: Docs); 0: all.
    shuffle (bool): shuffle them each epoch (for training).
    RETURNS (Callable[[Language], Iterator[Example]]): the corpus.
    """
    if scheme not in SCHEMES:
        raise ElmoError(Errors.E107.format(what="scheme", options=", ".join(SCHEMES), value=scheme))
    sentences: List[Sentence] = []  # read once, at the first epoch

    def read(nlp: Language) -> Iterator[Example]:
        if path is None:
            raise ElmoError(Errors.E305)
        if Path(path).is_dir() or is_docbin(path):
            yield from read_docbin(nlp, path, limit=limit, shuffle=shuffle)
            return
        if not sentences:
            found = read_conll_ner(path, word_column=word_column, tag_column=tag_column, scheme=scheme)
            sentences.extend(islice(found, limit or None))
        order = list(sentences)
        if shuffle:
            random.shuffle(order)
        yield from ner_examples(nlp, order)

    return read
