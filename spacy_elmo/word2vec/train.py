"""Train word2vec vectors with gensim on whitespace-tokenized text files and
save them in word2vec format (text or binary) for `init-vectors`. The output
path is checked before training and written all or nothing (io/atomic.py).

gensim is optional (`pip install gensim`, or `pip install '.[gensim]'` in the checkout); it is imported only
here. The text is streamed from disk on every pass (gzip/bz2/xz by magic
bytes), never held in memory.
"""
import zlib
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence, Tuple, Union

from ..errors import Errors, InputError
from ..io.atomic import atomic_path, check_output_file
from ..io.guard import check_not_inputs
from ..io.text import check_input_file, tokenized_lines

PathLike = Union[str, Path]
HINT = "Pass tokenized text files."
# The values gensim trains with (inclusive); the CLI's options have the same.
RANGES = {
    "size": (1, 100_000), "window": (1, 10_000), "min_count": (1, 2**31 - 1), "negative": (1, 1_000),
    "epochs": (1, 100_000), "workers": (1, 1_024), "seed": (0, 2**32 - 1),
}


def _stable_hash(text: str) -> int:
    """Seed hash for gensim's initial vectors: Python's `hash` of a str changes
    per process (PYTHONHASHSEED), this does not, so `seed` + one worker gives
    the same vectors in every run."""
    return zlib.crc32(text.encode("utf8"))


class TokenizedText:
    """Restartable iterable of token lists, one per non-empty line.

    paths (Sequence[Path]): the text files, read in order on every pass.
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __iter__(self) -> Iterator[List[str]]:
        for path in self.paths:
            for _, tokens in tokenized_lines(path, HINT):
                if tokens:  # a blank line holds no sentence
                    yield tokens

    def check_not_empty(self) -> None:
        """E201 for a file without a token (read up to its first token; bad
        bytes anywhere are an error of the vocabulary pass, before training)."""
        for path in self.paths:
            if not any(tokens for _, tokens in tokenized_lines(path, HINT)):
                raise InputError(Errors.E201.format(path=path))


def train_word2vec(
    text_paths: Iterable[PathLike],
    output_path: PathLike,
    *,
    size: int = 100,
    window: int = 5,
    min_count: int = 5,
    sg: bool = False,
    negative: int = 5,
    epochs: int = 5,
    workers: int = 1,
    seed: int = 1,
    binary: bool = False,
) -> Tuple[int, int]:
    """Train gensim Word2Vec and save the vectors in word2vec format.

    text_paths (Iterable[PathLike]): whitespace-tokenized text files.
    output_path (PathLike): the word2vec file to write (most frequent words first).
    size (int): vector dimensions.
    window (int): context window.
    min_count (int): ignore words with fewer occurrences.
    sg (bool): skip-gram instead of CBOW.
    negative (int): negative samples.
    epochs (int): passes over the text.
    workers (int): training threads; with 1 the result is reproducible.
    seed (int): random seed.
    binary (bool): write the binary format instead of text.
    RETURNS (Tuple[int, int]): (rows, dims) written.
    """
    numbers = {"size": size, "window": window, "min_count": min_count, "negative": negative,
               "epochs": epochs, "workers": workers, "seed": seed}
    for name, value in numbers.items():
        low, high = RANGES[name]
        if not low <= value <= high:  # gensim crashes, or hangs (window < 0), on these
            raise InputError(Errors.E708.format(name=name, flag=name.replace("_", "-"), value=value, low=low, high=high))
    paths = [check_input_file(p, HINT) for p in text_paths]
    if not paths:
        raise InputError(Errors.E013.format(path="TEXT_PATHS", hint=HINT))
    output_path = check_output_file(output_path, "OUTPUT_PATH")  # before hours of training
    check_not_inputs([("OUTPUT_PATH", output_path)], [("TEXT_PATHS", p) for p in paths])
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise InputError(Errors.E109.format(path=paths[0] if paths else "")) from None
    corpus = TokenizedText(paths)
    corpus.check_not_empty()
    model = Word2Vec(
        vector_size=size, window=window, min_count=min_count, sg=int(sg),
        negative=negative, epochs=epochs, workers=workers, seed=seed,
        hashfxn=_stable_hash,
    )
    model.build_vocab(corpus)
    if not model.wv.index_to_key:
        raise InputError(Errors.E119.format(min_count=min_count, paths=", ".join(map(str, paths))))
    model.train(corpus, total_examples=model.corpus_count, epochs=model.epochs)
    # gensim compresses by the name's suffix (.gz, .bz2): the temporary keeps it.
    with atomic_path(output_path, suffix=".tmp" + output_path.suffix) as tmp:
        model.wv.save_word2vec_format(str(tmp), binary=binary)
    return len(model.wv.index_to_key), size
