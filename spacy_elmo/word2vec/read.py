"""Read word2vec vectors into keys + one float32 array, streaming.

Formats (auto-detected; `fmt` overrides):
- "text": word2vec text with a `rows dims` header or without one (GloVe,
  fastText .vec), plain or gzip/bz2/xz (detected by magic bytes);
- "binary": the word2vec C tool's output (a newline after each vector) and
  gensim's `binary=True` output (none);
- "gensim": `KeyedVectors.save()` / `Word2Vec.save()` pickles, through gensim,
  only with `allow_pickle=True`.

Rows and values are those gensim's `KeyedVectors.load_word2vec_format` reads
(see `numbers.py` for the float parsing). Unlike gensim, a header that
disagrees with the rows is an error, not a silent cut. Memory: the float32
array is preallocated from the header (or grown in place with `realloc`
without one) and filled block by block, in the calling thread.
"""
import warnings
from pathlib import Path
from typing import IO, Iterator, List, Tuple, Union

import numpy
from numpy.lib.stride_tricks import as_strided
from tqdm import tqdm

from ..errors import Errors, InputError, Warnings
from ..io.text import DECOMPRESSION_ERRORS, check_input_file, decompression_error, detect_compression, open_text
from .detect import parse_header, sniff
from .numbers import BlockResult, parse_text_block, release_scratch
from .table import TableBuilder, Word2VecTable

FORMATS = ("auto", "text", "binary", "gensim")
UNICODE_ERRORS = ("strict", "replace", "ignore")
BLOCK_SIZE = 4 << 20
TEXT_BLOCK_SIZE = 512 << 10  # the parser's temporaries (~16 x the block) stay in cache-friendly scratch
MAX_LINE = 64 << 20
PathLike = Union[str, Path]
INPUT_HINT = "Pass a word2vec file: text, binary or (with allow_pickle) a gensim .kv / .model."


def read_word2vec(
    path: PathLike,
    *,
    fmt: str = "auto",
    truncate: int = 0,
    unicode_errors: str = "strict",
    lowercase: bool = False,
    allow_pickle: bool = False,
    progress: bool = False,
) -> Word2VecTable:
    """Read a word2vec file of any format into keys and a float32 array.

    path (PathLike): the vectors file.
    fmt (str): "auto", "text", "binary" or "gensim".
    truncate (int): read only the first N rows, whatever follows them (0: all).
    unicode_errors (str): "strict", "replace" or "ignore", for invalid UTF-8 in keys.
    lowercase (bool): lowercase the keys (the first row of each lowercased key wins).
    allow_pickle (bool): allow loading gensim pickles (they can run code).
    progress (bool): show a progress bar (bytes read; of the decompressed
        stream for compressed files).
    RETURNS (Word2VecTable): keys and data.
    """
    path = check_input_file(path, INPUT_HINT)
    if fmt not in FORMATS:
        raise InputError(Errors.E107.format(what="fmt (--format)", options=FORMATS, value=fmt))
    if unicode_errors not in UNICODE_ERRORS:
        raise InputError(
            Errors.E107.format(what="unicode_errors", options=UNICODE_ERRORS, value=unicode_errors)
        )
    sniffed = None
    try:
        sniffed = sniff(path)
        if fmt == "auto":
            fmt = sniffed.fmt
        if fmt == "gensim" or sniffed.fmt == "gensim":
            return _read_gensim(path, allow_pickle, truncate, unicode_errors, lowercase)
        return _read_stream(path, fmt, truncate, unicode_errors, lowercase, progress)
    except InputError as err:  # say so when the file looks like the other format
        if sniffed is None:
            raise
        if fmt == "text" and sniffed.binary_ok:
            raise InputError(Errors.E122.format(err=err, other="binary", fmt=fmt)) from None
        if fmt == "binary" and sniffed.text_ok:
            raise InputError(Errors.E122.format(err=err, other="text", fmt=fmt)) from None
        raise
    except DECOMPRESSION_ERRORS as err:
        raise decompression_error(path, err) from None


def _read_stream(
    path: Path, fmt: str, truncate: int, unicode_errors: str, lowercase: bool, progress: bool
) -> Word2VecTable:
    """Read a text or binary file (plain or compressed) in one pass."""
    compressed = detect_compression(path)
    with open_text(path) as stream, tqdm(
        total=None if compressed else path.stat().st_size, unit="B", unit_scale=True,
        unit_divisor=1024, desc=f"Reading {path.name}", disable=not progress,
    ) as bar:
        first = stream.readline(MAX_LINE)
        bar.update(len(first))
        header = parse_header(first)
        if header is not None:
            rows, dims = header
            if dims < 1:
                raise InputError(Errors.E111.format(path=path, header=first.strip()))
            if rows == 0:
                raise InputError(Errors.E117.format(path=path, header=first.strip()))
            pending = b""
        elif fmt == "binary":
            raise InputError(Errors.E114.format(path=path, fmt=fmt, header=first[:40]))
        else:
            rows, dims = 0, len(first.split()) - 1
            if dims < 1:
                raise InputError(Errors.E120.format(path=path))
            pending = first
        # truncate > 0: stop after `limit` rows, whatever follows them.
        limit = rows if truncate <= 0 else (min(rows, truncate) if rows else truncate)
        capacity = limit or 4096
        if not compressed:  # a row takes 2 * dims + 1 bytes at least: a lying header allocates nothing
            capacity = min(capacity, path.stat().st_size // (2 * dims + 1) + 1)
        try:
            table = TableBuilder(path, capacity, dims, unicode_errors, lowercase)
        except (MemoryError, ValueError, OverflowError) as err:
            raise InputError(Errors.E124.format(path=path, rows=rows, dims=dims, err=err)) from None
        if fmt == "binary":
            _read_binary(stream, table, rows, limit, truncate > 0, len(first), bar)
        else:
            _read_text(stream, table, rows, limit, truncate > 0, pending, header is not None, len(first), bar)
    return table.finish(fmt)


def _iter_blocks(
    stream: IO[bytes], path: Path, pending: bytes, offset: int, bar: tqdm
) -> Iterator[Tuple[bytes, bool]]:
    """Yield blocks of complete lines (without the last newline), each with
    whether it is the file's last line and has no line break after it."""
    while True:
        chunk = stream.read(TEXT_BLOCK_SIZE)
        bar.update(len(chunk))
        if not chunk:
            if pending.endswith(b"\n"):  # a headerless file's only line
                yield pending[:-1], False
            elif pending:
                yield pending, True
            return
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending += chunk
            if len(pending) > MAX_LINE:
                raise InputError(Errors.E113.format(path=path, offset=offset, size=len(pending)))
            continue
        block = b"".join((pending, memoryview(chunk)[:cut]))  # one copy
        pending = chunk[cut + 1 :]
        offset += len(block) + 1
        yield block, False


def _parse(block: bytes, dims: int) -> Tuple[BlockResult, int]:
    """The block's rows and its number of lines."""
    result = parse_text_block(block, dims)
    keys, _, line_of_row, problem = result
    if line_of_row is None and problem is None:  # every line was a row
        return result, len(keys)
    return result, block.count(b"\n") + 1


def _read_text(
    stream: IO[bytes], table: TableBuilder, rows: int, limit: int, cut: bool, pending: bytes,
    has_header: bool, offset: int, bar: tqdm,
) -> None:
    path, dims = table.path, table.data.shape[1]
    blocks = _iter_blocks(stream, path, pending, offset if has_header else 0, bar)
    line0 = 2 if has_header else 1  # 1-based number of the block's first line
    unterminated = None  # (line, key) of a last row without a line break
    try:
        for block, last in blocks:
            (keys_b, values, line_of_row, problem), n_lines = _parse(block, dims)
            done = table.rows_read + len(keys_b)  # rows before the problem, if any

            def line_no(j: int) -> int:
                return line0 + (line_of_row[j] if line_of_row is not None else j)

            if limit and done > limit and not cut:  # more rows than the header says
                raise InputError(Errors.E104.format(path=path, line=line_no(limit - table.rows_read), rows=rows))
            if problem is not None and not (limit and done >= limit):
                complete = done if last and _cut_inside(block, problem, dims) else 0
                _raise_problem(path, dims, line0, problem, complete)
            if problem is not None and not cut:  # a bad line after the header's rows
                raise InputError(Errors.E104.format(path=path, line=line0 + problem[0], rows=rows))
            if limit and done > limit:
                keys_b, values = keys_b[: limit - table.rows_read], values[: limit - table.rows_read]
            keys = table.decode_many(keys_b, lambda j: f"line {line_no(j)}")
            table.add(keys, values)
            if last and keys_b and problem is None:
                unterminated = (line0, keys[-1])
            line0 += n_lines
            if cut and table.rows_read >= limit:
                return
    finally:
        release_scratch()  # the parser's scratch arrays (~16 x TEXT_BLOCK_SIZE)
    if rows and table.rows_read < limit:
        raise InputError(
            Errors.E103.format(path=path, rows=rows, found=table.rows_read, line=line0 - 1)
        )
    if unterminated is not None:
        warnings.warn(Warnings.W101.format(path=path, line=unterminated[0], key=unterminated[1]))


def _cut_inside(line: bytes, problem: tuple, dims: int) -> bool:
    """Whether the problem of a last line without a line break is that the
    file was cut in it: too few values, or a bad last value ("0.1e", "-")."""
    _, kind, _, detail = problem
    n_values = len(line.split()) - 1
    if kind == "count":
        return detail < dims
    return kind == "number" and detail[0] == n_values - 1 and n_values <= dims


def _raise_problem(path: Path, dims: int, line0: int, problem: tuple, complete: int = 0) -> None:
    """Raise the error for a bad line; `complete` > 0: the file ends inside
    this line, after `complete` whole rows (a cut file)."""
    i, kind, key_b, detail = problem
    line, key = line0 + i, key_b.decode("utf8", "replace")
    if kind == "empty-key":
        raise InputError(Errors.E112.format(path=path, line=line))
    if complete > 0:
        found = detail if kind == "count" else detail[0]
        raise InputError(
            Errors.E123.format(path=path, line=line, found=found, dims=dims, key=key, complete=complete)
        )
    if kind == "count":
        source = f"The rows of this file have {dims} values (from the header or the first row)."
        raise InputError(
            Errors.E101.format(path=path, line=line, dims=dims, key=key, found=detail, source=source)
        )
    index, token = detail
    if not token:
        raise InputError(Errors.E126.format(path=path, line=line, index=index + 1, key=key))
    raise InputError(
        Errors.E102.format(
            path=path, line=line, token=token.decode("utf8", "replace"), index=index + 1, key=key
        )
    )


def _read_binary(
    stream, table: TableBuilder, rows: int, limit: int, cut: bool, header_len: int, bar: tqdm
) -> None:
    path, dims = table.path, table.data.shape[1]
    row_bytes = dims * 4
    dtype = numpy.dtype("<f4")
    buf, pos, offset = b"", 0, header_len  # offset: file offset of buf[0]
    eof = False
    while table.rows_read < limit:
        if not eof:
            chunk = stream.read(BLOCK_SIZE)
            bar.update(len(chunk))
            eof = len(chunk) < BLOCK_SIZE
            offset += pos
            buf, pos = buf[pos:] + chunk, 0
        n_max = limit - table.rows_read
        # Keys run up to a space, then come `row_bytes` raw bytes: finding the
        # rows is sequential (the raw bytes may hold spaces), one find() each.
        key_at: List[int] = []
        key_end: List[int] = []
        find, size = buf.find, len(buf)
        while len(key_at) < n_max:
            space = find(b" ", pos)
            if space < 0 or space + 1 + row_bytes > size:
                break
            key_at.append(pos)
            key_end.append(space)
            pos = space + 1 + row_bytes
        keys_b = [buf[a:b].lstrip(b"\n") for a, b in zip(key_at, key_end)]
        keys = table.decode_many(keys_b, lambda j: f"byte offset {offset + key_at[j]}")
        # All rows of the block in one gather: row i of `windows` is the
        # `row_bytes` bytes from byte i.
        raw = numpy.frombuffer(buf, numpy.uint8)
        windows = as_strided(raw, shape=(max(size - row_bytes + 1, 0), row_bytes), strides=(1, 1), writeable=False)
        values = windows[numpy.array(key_end, dtype=numpy.intp) + 1].view(dtype)
        table.add(keys, values.astype(numpy.float32, copy=False))
        if eof and table.rows_read < limit and (not keys or pos >= len(buf)):
            _raise_cut_binary(path, buf, pos, offset, table.rows_read, limit)
    if not cut:  # anything but whitespace after the header's rows is an error
        rest = buf[pos:] + stream.read(BLOCK_SIZE)
        if rest.strip():
            raise InputError(Errors.E118.format(path=path, offset=offset + pos, rows=rows))


def _raise_cut_binary(path: Path, buf: bytes, pos: int, offset: int, complete: int, rows: int) -> None:
    """The error for a binary file that ends before row `complete + 1` is whole."""
    space = buf.find(b" ", pos)
    key = buf[pos : space if space >= 0 else pos + 40].lstrip(b"\n").decode("utf8", "replace")
    key = f" (key '{key}')" if key else ""
    if complete == 0:
        raise InputError(Errors.E121.format(path=path, offset=offset + pos, key=key))
    raise InputError(
        Errors.E105.format(path=path, offset=offset + pos, row=complete + 1, rows=rows, key=key, complete=complete)
    )


def _read_gensim(
    path: Path, allow_pickle: bool, truncate: int, unicode_errors: str, lowercase: bool
) -> Word2VecTable:
    if not allow_pickle:
        raise InputError(Errors.E108.format(path=path))
    try:
        from gensim.utils import SaveLoad
    except ImportError:
        raise InputError(Errors.E109.format(path=path)) from None
    obj = SaveLoad.load(str(path))
    kv = getattr(obj, "wv", obj)
    if not hasattr(kv, "index_to_key") or getattr(kv, "vectors", None) is None:
        raise InputError(Errors.E110.format(path=path, type=type(obj).__name__))
    n = len(kv.index_to_key) if truncate <= 0 else min(truncate, len(kv.index_to_key))
    table = TableBuilder(path, n, kv.vectors.shape[1], unicode_errors, lowercase)
    keys = [str(k).lower() if lowercase else str(k) for k in kv.index_to_key[:n]]
    table.add(keys, numpy.asarray(kv.vectors[:n], dtype=numpy.float32))
    return table.finish("gensim")
