"""Tell word2vec formats apart by their content: gensim pickle, binary or text
(whatever the file is called; gzip/bz2/xz are decompressed first)."""
from pathlib import Path
from typing import Optional, Tuple, Union

from ..errors import Errors, InputError
from ..io.text import open_text

PathLike = Union[str, Path]


def _read_head(path: Path, size: int = 1 << 20) -> bytes:
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


def detect_format(path: PathLike) -> str:
    """Detect the format of a vectors file: "text", "binary" or "gensim".

    path (PathLike): the file (may be gzip/bz2/xz compressed).
    RETURNS (str): the format.
    """
    path = Path(path)
    head = _read_head(path)
    if not head.strip():
        raise InputError(Errors.E100.format(path=path))
    if is_pickle(head):
        return "gensim"
    first, _, rest = head.partition(b"\n")
    header = parse_header(first)
    if header is None or header[0] == 0:
        return "text"
    # Text if the first row is 'key' + `dims` numbers on one line.
    tokens = rest.partition(b"\n")[0].split()
    try:
        if len(tokens) == header[1] + 1 and [float(t) for t in tokens[1:]]:
            return "text"
    except ValueError:
        pass
    # Not a clean text row: binary if the bytes after the first key hold
    # control characters (raw float32 nearly always does), else broken text.
    space = rest.find(b" ")
    raw = rest[space + 1 : space + 1 + 4 * header[1]] if space >= 0 else rest
    if any(b < 9 or 13 < b < 32 or b == 127 for b in raw):
        return "binary"
    return "text"
