"""Input files: one opener for every text file the package reads (training
text, NER corpora, word2vec files), decompressing gzip / bz2 / xz by their
magic bytes whatever the file is called, and one check that an input exists
and is a file."""
import bz2
import gzip
import lzma
import re
import zlib
from pathlib import Path
from typing import IO, Callable, Dict, Iterator, Optional, Pattern, Tuple, Union

from ..errors import Errors, InputError

PathLike = Union[str, Path]
# Magic bytes at the start of the file. bz2's 'BZh' is plain text, so its block
# size digit and the magic of the first block (or of the end of an empty
# stream) must follow: a text file whose first word is 'BZh' stays text.
COMPRESSIONS: Dict[str, Tuple[Pattern[bytes], Callable[..., IO]]] = {
    "gzip": (re.compile(b"\x1f\x8b"), gzip.open),
    "bz2": (re.compile(b"BZh[1-9](1AY&SY|\x17rE8P\x90)"), bz2.open),
    "xz": (re.compile(b"\xfd7zXZ\x00"), lzma.open),
}


DECOMPRESSION_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)
_TOOLS = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz"}


def decompression_error(path: PathLike, err: Exception, line: Optional[int] = None) -> Exception:
    """The InputError (E097) for one of DECOMPRESSION_ERRORS raised while
    reading `path`, naming the line where the data breaks off if known; `err`
    itself when the file is not compressed (then it is not a decompression
    error)."""
    compression = detect_compression(path)
    if compression is None:
        return err
    where = f", line {line}" if line is not None else ""
    return InputError(
        Errors.E097.format(path=path, where=where, compression=compression, err=err, tool=_TOOLS[compression])
    )


def check_input_file(path: PathLike, hint: str = "") -> Path:
    """The path, if it is an existing file; else an InputError that says
    whether it is missing or a directory, followed by `hint` (what to pass)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(Errors.E014.format(path=path, hint=hint).strip())
    if not path.is_file():
        raise InputError(Errors.E013.format(path=path, hint=hint).strip())
    return path


def detect_compression(path: PathLike) -> Optional[str]:
    """"gzip", "bz2", "xz" (by magic bytes) or None for a plain file."""
    with check_input_file(path).open("rb") as f:
        head = f.read(10)
    for name, (magic, _) in COMPRESSIONS.items():
        if magic.match(head):
            return name
    return None


def open_text(path: PathLike, hint: str = "") -> IO[bytes]:
    """Open a file for reading bytes, decompressing gzip/bz2/xz by magic bytes.

    Bytes, not str: callers decode line by line, so that an error names the
    line (`Errors.E040`).
    path (PathLike): the file.
    hint (str): what to pass instead, if the file is missing.
    RETURNS (IO[bytes]): the (decompressed) stream.
    """
    path = check_input_file(path, hint)
    compression = detect_compression(path)
    if compression is not None:
        return COMPRESSIONS[compression][1](path, "rb")
    return path.open("rb")


def numbered_lines(path: PathLike, hint: str = "") -> Iterator[Tuple[int, bytes]]:
    """The lines of a file opened with `open_text`, with their numbers (from 1).

    Damaged or truncated compressed data is an InputError naming the line it
    breaks off at (`decompression_error`), not the decompressor's EOFError,
    OSError, LZMAError or zlib.error.
    path (PathLike): the file.
    hint (str): what to pass instead, if the file is missing.
    YIELDS (Tuple[int, bytes]): line number and raw line, line break included.
    """
    with open_text(path, hint) as handle:
        lines = iter(handle)
        number = 0
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except DECOMPRESSION_ERRORS as err:
                raise decompression_error(path, err, number + 1) from None
            number += 1
            yield number, raw
