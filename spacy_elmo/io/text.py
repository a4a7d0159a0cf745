"""Input files: one opener for every text file the package reads (training
text, NER corpora, word2vec files), decompressing gzip / bz2 / xz by their
magic bytes whatever the file is called, one check that an input exists
and is a file, and one reader of tokenized text (`tokenized_lines`)."""
import bz2
import gzip
import lzma
import re
import zlib
from pathlib import Path
from typing import IO, Callable, Dict, Iterator, List, Optional, Pattern, Tuple, Union

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


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def tokenized_lines(
    path: PathLike, hint: str = "", max_line_chars: Optional[int] = None
) -> Iterator[Tuple[int, List[str]]]:
    """The one reader of "one whitespace-tokenized sentence per line" (embed,
    pretraining and evaluation text, word2vec training text): every line's
    number (from 1) and tokens (`str.split()`), a blank line as [] (what a
    blank line means is the caller's: a command whose keys are line numbers
    refuses it, training text skips it).

    Every line is decoded as UTF-8 (a UTF-8 BOM at the start of the file is
    dropped, as the NER reader does); bad bytes are an InputError naming the
    line (E040; UTF-16, by its BOM, is E706 with the iconv command; a NUL
    byte, E707: no text holds one), and so is a line over `max_line_chars`
    (E202).
    path (PathLike): the file, optionally gzip/bz2/xz-compressed.
    hint (str): what to pass instead, if the file is missing.
    max_line_chars (Optional[int]): the longest line accepted, in characters.
    YIELDS (Tuple[int, List[str]]): line number and tokens.
    """
    for number, raw in numbered_lines(path, hint):
        if number == 1:
            if raw.startswith(UTF16_BOMS):
                raise InputError(Errors.E706.format(path=path))
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
        if b"\x00" in raw:  # valid UTF-8, but no text has it: UTF-16 or binary
            raise InputError(Errors.E707.format(path=path, line=number))
        try:
            text = raw.decode("utf8")
        except UnicodeDecodeError as err:
            raise InputError(Errors.E040.format(path=path, line=number, err=err)) from None
        if max_line_chars is not None and len(text) > max_line_chars:
            raise InputError(Errors.E202.format(path=path, line=number, n_chars=len(text), limit=max_line_chars))
        yield number, text.split()
