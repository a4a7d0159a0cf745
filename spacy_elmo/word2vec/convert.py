"""word2vec files -> spaCy static vectors (`nlp.vocab.vectors`).

Three entry points over one plain function:
- `load_word2vec_vectors(nlp, path, ...)`: set `nlp.vocab.vectors` (scripts);
- `init_vectors(lang, path, output_dir, ...)`: write a pipeline directory,
  the same output as `spacy init vectors`, usable as `[initialize] vectors`;
  written to a temporary directory beside `output_dir` and renamed at the
  end, so a failure leaves nothing behind;
- `spacy-elmo.Word2VecVectors.v1`: an `[initialize.before_init]` callback.

Unlike `spacy init vectors`, rows stay in file order through deduplication
(spaCy's `Vocab.deduplicate_vectors` sorts them), so `prune` really keeps the
first (most frequent) rows, and no Lexeme is created per key.
"""
import contextlib
from pathlib import Path
from typing import Callable, Optional, Tuple, Union, cast

import numpy
import spacy
import srsly
from spacy.language import Language
from spacy.strings import StringStore
from spacy.util import registry
from spacy.vectors import Vectors

from ..errors import Errors, InputError, OutputError
from ..io.atomic import atomic_dir, check_output_dir
from ..io.guard import check_not_inputs
from ..io.text import check_input_file
from .read import INPUT_HINT, read_word2vec

DTYPES = ("float32", "float16")
PathLike = Union[str, Path]


def dedupe_rows(data: numpy.ndarray) -> Tuple[int, numpy.ndarray]:
    """Move the rows that do not repeat an earlier row (bit for bit) to the
    front of `data`, in file order.

    data (numpy.ndarray): (rows, dims) float32 array; compacted in place.
    RETURNS (Tuple[int, numpy.ndarray]): the number of unique rows, and the
        new row of every old row.
    """
    n, dims = data.shape
    bits = data.view(numpy.uint32)
    # Integer hashes (sum of value bits x random odd numbers, mod 2**64): a
    # float dot product may round identical rows differently (BLAS sums rows
    # in different orders by their position in a block).
    coef = cast(numpy.ndarray, numpy.random.default_rng(0).integers(0, 2**63, dims, dtype=numpy.uint64) * 2 + 1)
    # Only rows whose first values hash alike can be identical: usually few,
    # so the whole rows of only those are hashed, then compared bit for bit.
    head = min(dims, 16)
    _, inverse, counts = numpy.unique(_row_hashes(bits[:, :head], coef[:head]), return_inverse=True, return_counts=True)
    rows = numpy.flatnonzero(counts[inverse.ravel()] > 1)
    if not len(rows):
        return n, numpy.arange(n)
    step = max(1, (1 << 18) // dims)  # chunks of 2 MiB as uint64
    hashes = numpy.concatenate([_row_hashes(bits[rows[i : i + step]], coef) for i in range(0, len(rows), step)])
    _, first, inverse = numpy.unique(hashes, return_index=True, return_inverse=True)
    same = numpy.arange(n)
    same[rows] = rows[first[inverse.ravel()]]  # the first row with the same hash
    dup = numpy.flatnonzero(same != numpy.arange(n))
    dup = dup[[bool((bits[i] == bits[same[i]]).all()) for i in dup.tolist()]]
    if not len(dup):
        return n, numpy.arange(n)
    keep = numpy.ones(n, dtype=bool)
    keep[dup] = False
    new_row = numpy.cumsum(keep) - 1
    new_row[dup] = new_row[same[dup]]
    src = numpy.flatnonzero(keep)
    for start in range(0, len(src), step):  # src[i] >= i: safe forward moves
        chunk = src[start : start + step]
        data[start : start + len(chunk)] = data[chunk]
    return len(src), new_row


def _row_hashes(bits: numpy.ndarray, coef: numpy.ndarray) -> numpy.ndarray:
    """sum(bits * coef) of each row, in uint64 arithmetic (wrapping)."""
    return numpy.multiply(bits, coef, dtype=numpy.uint64).sum(axis=1, dtype=numpy.uint64)


def prune_rows(data: numpy.ndarray, n_keep: int) -> numpy.ndarray:
    """Map every row after the first `n_keep` to its nearest kept row by cosine,
    as `Vocab.prune_vectors` does.

    data (numpy.ndarray): (rows, dims) array.
    n_keep (int): the number of leading rows to keep.
    RETURNS (numpy.ndarray): the kept row of every row (identity for kept rows).
    """
    kept = data[:n_keep]
    kept_norm = numpy.linalg.norm(kept, axis=1).astype(numpy.float32)
    kept_norm[kept_norm == 0] = 1
    mapping = numpy.arange(data.shape[0])
    step = max(1, min(1024, (1 << 24) // max(n_keep, 1)))  # sims stay <= 64 MiB
    for start in range(n_keep, data.shape[0], step):
        batch = data[start : start + step].astype(numpy.float32)
        sims = (batch @ kept.T.astype(numpy.float32, copy=False)) / kept_norm
        mapping[start : start + step] = sims.argmax(axis=1)
    return mapping


def word2vec_to_vectors(
    path: PathLike,
    strings,
    *,
    fmt: str = "auto",
    truncate: int = 0,
    prune: int = -1,
    lowercase: bool = False,
    dtype: str = "float32",
    unicode_errors: str = "strict",
    allow_pickle: bool = False,
    deduplicate: bool = True,
    name: Optional[str] = None,
    progress: bool = False,
) -> Vectors:
    """Read a word2vec file into a spaCy `Vectors` table.

    path (PathLike): the vectors file (text, binary, gensim pickle; .gz/.bz2/.xz).
    strings (StringStore): the vocab's strings; every key is added.
    fmt (str): "auto", "text", "binary" or "gensim".
    truncate (int): read only the first N rows (0: all).
    prune (int): keep the first N unique rows, map the others to the nearest kept row (< 1: keep all).
    lowercase (bool): lowercase keys; the first row of each lowercased key wins.
    dtype (str): "float32" or "float16".
    unicode_errors (str): "strict", "replace" or "ignore" for invalid UTF-8 in keys.
    allow_pickle (bool): allow gensim pickles (they can run code when loaded).
    deduplicate (bool): store identical rows once, as `spacy init vectors` does.
    name (Optional[str]): the vectors name.
    progress (bool): show a progress bar while reading.
    RETURNS (Vectors): the table, with `strings` as its StringStore.
    """
    if dtype not in DTYPES:
        raise InputError(Errors.E107.format(what="dtype (--dtype)", options=DTYPES, value=dtype))
    if truncate < 0:
        raise InputError(Errors.E709.format(value=truncate))
    table = read_word2vec(
        path, fmt=fmt, truncate=truncate, unicode_errors=unicode_errors,
        lowercase=lowercase, allow_pickle=allow_pickle, progress=progress,
    )
    data, keys = table.data, table.keys  # `data` owns its memory
    n_rows, row_of_key = data.shape[0], None
    if deduplicate:
        n_rows, row_of_key = dedupe_rows(data)
    if 0 < prune < n_rows:
        mapping = prune_rows(data[:n_rows], prune)
        row_of_key = mapping if row_of_key is None else mapping[row_of_key]
        n_rows = prune
    if n_rows < data.shape[0]:  # shrink in place (realloc), no copy
        data.resize((n_rows, data.shape[1]), refcheck=False)
    if dtype != "float32":
        data = table.data = data.astype(dtype)
    hashes = list(map(strings.add, keys))
    if n_rows == len(keys):  # no row merged (dedupe) or mapped (prune): row i is key i
        vectors = Vectors(data=data, keys=hashes, name=name)  # one call
    else:  # some row merged or mapped, so row_of_key is set
        vectors = Vectors(data=data, name=name)
        add = vectors.add
        for key, row in zip(hashes, cast(numpy.ndarray, row_of_key).tolist()):
            add(key, row=row)
    vectors.strings = strings
    return vectors


def load_word2vec_vectors(nlp: Language, path: PathLike, *, name: Optional[str] = None, **kwargs) -> None:
    """Set `nlp.vocab.vectors` from a word2vec file (see `word2vec_to_vectors`
    for the keyword arguments) and record the name in `nlp.meta["vectors"]`."""
    if name is None:
        name = f"{nlp.meta['lang']}_{nlp.meta['name']}.vectors"
    vectors = word2vec_to_vectors(path, nlp.vocab.strings, name=name, **kwargs)
    # The vocab's setter adds every string of the table's StringStore to the
    # vocab's; the keys are there already, so give it an empty one (with the
    # vocab's own it is a second pass over every key: ~0.1 s for 200,000).
    vectors.strings = StringStore()
    nlp.vocab.vectors = vectors
    nlp.meta.setdefault("vectors", {})["name"] = name


# What `init_vectors` writes: a blank pipeline's files.
WRITTEN = ("config.cfg", "meta.json", "tokenizer", "vocab")


def init_vectors(
    lang: str, vectors_path: PathLike, output_dir: PathLike, *, overwrite: bool = False, **kwargs
) -> Language:
    """Write a blank `lang` pipeline with the vectors of `vectors_path` to
    `output_dir`, all or nothing. An existing `output_dir` is replaced if it
    is empty or holds what this function writes (a blank pipeline with
    vectors); another spaCy pipeline needs `overwrite`, and a folder that is
    not a pipeline is never replaced.

    lang (str): a spaCy language code, e.g. "en".
    vectors_path (PathLike): the word2vec file.
    output_dir (PathLike): the pipeline directory to write.
    overwrite (bool): replace a spaCy pipeline that this function did not write.
    **kwargs: passed to `load_word2vec_vectors`.
    RETURNS (Language): the pipeline that was written.
    """
    check_input_file(vectors_path, INPUT_HINT)  # the paths first, then the work
    output_dir = check_output_dir(output_dir, "OUTPUT_DIR")
    check_not_inputs([("OUTPUT_DIR", output_dir)], [("VECTORS_PATH", vectors_path)], folder_outputs=("OUTPUT_DIR",))
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not (output_dir / "config.cfg").exists():
            raise InputError(Errors.E115.format(path=output_dir))
        foreign = _not_written_here(output_dir)
        if foreign and not overwrite:
            raise OutputError(Errors.E703.format(what="OUTPUT_DIR", path=output_dir, found=foreign))
    nlp = blank_pipeline(lang)
    load_word2vec_vectors(nlp, vectors_path, **kwargs)
    with atomic_dir(output_dir) as tmp:
        nlp.to_disk(tmp)
    return nlp


def _not_written_here(path: Path) -> str:
    """What in the pipeline directory `path` `init_vectors` does not write
    (files beside WRITTEN, components), "" if nothing."""
    extra = sorted(entry.name for entry in path.iterdir() if entry.name not in WRITTEN)
    with contextlib.suppress(OSError, ValueError):
        pipes = srsly.read_json(path / "meta.json").get("pipeline") or []
        if pipes:
            return f"the components {', '.join(map(str, pipes))}" + (f" and {', '.join(extra)}" if extra else "")
    return ", ".join(extra)


def blank_pipeline(lang: str) -> Language:
    """`spacy.blank(lang)`; an unknown language code is an InputError
    naming it (spaCy raises ImportError E048)."""
    try:
        return spacy.blank(lang)
    except ImportError:
        raise InputError(Errors.E704.format(lang=lang)) from None


@registry.callbacks("spacy-elmo.Word2VecVectors.v1")
def create_word2vec_vectors_v1(
    path: str,
    fmt: str = "auto",
    truncate: int = 0,
    prune: int = -1,
    lowercase: bool = False,
    dtype: str = "float32",
    unicode_errors: str = "strict",
    allow_pickle: bool = False,
    name: Optional[str] = None,
    progress: bool = False,
) -> Callable[[Language], Language]:
    """`[initialize.before_init]` callback: load word2vec vectors into
    `nlp.vocab` when `spacy train` (or `nlp.initialize()`) initializes.
    Arguments as in `word2vec_to_vectors`; `progress = true` shows a bar of
    the bytes read (on stderr), useful for large files."""

    def before_init(nlp: Language) -> Language:
        load_word2vec_vectors(
            nlp, path, fmt=fmt, truncate=truncate, prune=prune, lowercase=lowercase,
            dtype=dtype, unicode_errors=unicode_errors, allow_pickle=allow_pickle, name=name,
            progress=progress,
        )
        return nlp

    return before_init
