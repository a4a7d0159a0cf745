"""Atomic output: write to a temporary file beside the target, then rename it
into place, so a crash or Ctrl-C never leaves a half-written file."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, Path]


@contextlib.contextmanager
def atomic_path(target: PathLike, suffix: str = ".tmp", prefix: str = None) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write to (creating the
    folder). On success it is renamed onto `target` with the permissions a
    plain open() would give (0666 minus the umask; mkstemp creates 0600); on
    an exception it is deleted and `target` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=suffix, prefix=prefix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write text (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf8")
