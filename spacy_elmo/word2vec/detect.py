"""Tell word2vec formats apart by their content: gensim pickle, binary or text
(whatever the file is called; gzip/bz2/xz are decompressed first).

After a `rows dims` header, the rows of the first MiB are checked both ways:
- text: whole lines `key v1 .. v{dims}` that parse as numbers;
- binary: `key`, a space, `4 x dims` raw bytes, again and again (a newline may
  come before a key: the word2vec C tool writes one after each vector), and
  raw bytes that are not all printable ASCII (text read this way is).
So a small binary file is told apart as surely as a large one, and when a
file read in one format fails, the error can say that it looks like the other.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy

from ..errors import Errors, InputError
from ..io.text import open_text
from .numbers import parse_text_block

PathLike = Union[str, Path]
HEAD_BYTES = 1 << 20
SNIFF_ROWS = 1000
# Bytes that text rows hold: printable ASCII, tab, line feed, carriage return.
_TEXT_BYTES = numpy.zeros(256, dtype=bool)
_TEXT_BYTES[32:127] = True
_TEXT_BYTES[[9, 10, 13]] = True


@dataclass
class Sniffed:
    """What the start of a vectors file looks like.

    fmt (str): the format to read it as: "text", "binary" or "gensim".
    text_ok (bool): its first rows are valid text rows.
    binary_ok (bool): its first rows are valid binary rows.
    """

    fmt: str
    text_ok: bool = False
    binary_ok: bool = False


def _read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes (decompressed)."""
    with open_text(path) as f:
        return f.read(size)


def parse_header(line: bytes) -> Optional[Tuple[int, int]]:
    """(rows, dims) of a 'rows dims' header line, or None."""
    parts = line.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


def is_pickle(head: bytes) -> bool:
    """Whether the bytes start like a pickle (protocol 2-5), as gensim's .save() writes."""
    return len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5


def _text_rows_ok(rows: bytes, dims: int, whole: bool) -> bool:
    """The complete lines of `rows` (up to SNIFF_ROWS) are text rows of `dims` values."""
    lines = rows.split(b"\n", SNIFF_ROWS)
    if len(lines) > SNIFF_ROWS or not whole:
        lines = lines[:-1]  # the last one may be cut
    block = b"\n".join(lines)
    if not block.strip():
        return False
    keys, _, _, problem = parse_text_block(block, dims)
    return problem is None and len(keys) > 0


def _binary_rows_ok(rows: bytes, n_rows: int, dims: int, whole: bool) -> Tuple[bool, bool, bool]:
    """How `rows` reads as binary: whether it starts with binary rows (up to
    SNIFF_ROWS of the `n_rows`) whose keys are neither empty nor hold a line
    break; whether all their value bytes are text bytes (text read this way
    is; raw float32 nearly never is); and whether the rows are the whole file
    exactly (`whole`: `rows` is all of it), which a text file cut or broken in
    its first rows almost never is.

    RETURNS (Tuple[bool, bool, bool]): rows fit, value bytes all text, exact.
    """
    row_bytes, pos, seen = 4 * dims, 0, 0
    text_like = True
    while seen < min(n_rows, SNIFF_ROWS):
        space = rows.find(b" ", pos)
        if space < 0 or space + 1 + row_bytes > len(rows):
            break  # the head (or the file) ends here
        key = rows[pos:space].lstrip(b"\n")
        if not key or b"\n" in key:
            return False, True, False
        raw = numpy.frombuffer(rows, numpy.uint8, row_bytes, space + 1)
        text_like = text_like and bool(_TEXT_BYTES[raw].all())
        pos, seen = space + 1 + row_bytes, seen + 1
    exact = whole and seen == n_rows and not rows[pos:].strip(b"\n")
    return seen > 0, text_like, exact


def sniff(path: PathLike) -> Sniffed:
    """Look at the start of a vectors file: its format, and whether its first
    rows would read as text and as binary.

    path (PathLike): the file (may be gzip/bz2/xz compressed).
    RETURNS (Sniffed): the format to read it as, and the two checks.
    """
    path = Path(path)
    head = _read_head(path)
    if not head.strip():
        raise InputError(Errors.E100.format(path=path))
    if is_pickle(head):
        return Sniffed("gensim")
    first, _, rest = head.partition(b"\n")
    header = parse_header(first)
    if header is None or header[0] == 0 or header[1] == 0:
        return Sniffed("text")  # binary files have a header, and at least one row
    rows, dims = header
    text_ok = _text_rows_ok(rest, dims, whole=len(head) < HEAD_BYTES)
    fits, text_like, exact = _binary_rows_ok(rest, rows, dims, whole=len(head) < HEAD_BYTES)
    # Value bytes that are all printable tell text apart, except where the
    # text reading fails and the binary reading explains the whole file (a
    # small binary file whose floats happen to be printable bytes).
    binary_ok = fits and (not text_like or (not text_ok and exact))
    if text_ok or binary_ok:
        return Sniffed("text" if text_ok else "binary", text_ok, binary_ok)
    # Broken either way (cut in its first row, say): binary if the bytes after
    # the first key are not all text bytes (raw float32 nearly never is), else
    # text; the reader then says what is wrong.
    space = rest.find(b" ")
    raw = rest[space + 1 : space + 1 + 4 * dims] if space >= 0 else rest
    if not _TEXT_BYTES[numpy.frombuffer(raw, numpy.uint8)].all():
        return Sniffed("binary")
    return Sniffed("text")


def detect_format(path: PathLike) -> str:
    """Detect the format of a vectors file: "text", "binary" or "gensim".

    path (PathLike): the file (may be gzip/bz2/xz compressed).
    RETURNS (str): the format.
    """
    return sniff(path).fmt
