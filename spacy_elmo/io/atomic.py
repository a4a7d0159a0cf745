"""Output that is never half-written: checks that an output path can be
written before any long work starts, and temporary files or folders beside the
target that are renamed into place only when complete.

Temporary names carry the writer's host and PID
(`.TARGET.HOST.PID.RANDOM.tmp`), so the next run that writes into the same
folder removes the temporaries of writers that died there (kill -9, out of
memory) on this host, whatever they were writing, and says so; a temporary
of a live process is left alone.
"""
import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, List, Union

from ..errors import Errors, OutputError, Warnings

PathLike = Union[str, Path]


def check_output_file(path: PathLike, what: str = "output file") -> Path:
    """Fail now, not after the work, if a file cannot be written at `path`:
    it is an existing directory, or its parent is a file or not writable.

    path (PathLike): the file to write (its folder is created later).
    what (str): what the path is, for the message ("OUTPUT_FILE", ...).
    RETURNS (Path): the path.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(Errors.E050.format(path=path, what=what))
    _check_parent(path, what)
    return path


def check_output_dir(path: PathLike, what: str = "output directory") -> Path:
    """Fail now if a directory cannot be created or written at `path`: it is an
    existing file, or an existing directory / the nearest existing parent is
    not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(Errors.E051.format(path=path, what=what))
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(Errors.E052.format(path=path, what=what, parent=path))
        return path
    _check_parent(path, what)
    return path


def check_free_space(path: PathLike, n_bytes: int, what: str = "output file", hint: str = "") -> None:
    """Fail now, not when the disk fills up, if the file system that `path`
    will be written on has less than `n_bytes` free.

    hint (str): another way out, for the message (", or pass --top").
    """
    parent = _existing_parent(Path(path))
    free = shutil.disk_usage(parent).free
    if free < n_bytes:
        raise OutputError(
            Errors.E054.format(path=path, what=what, need=_size(n_bytes), parent=parent, free=_size(free), hint=hint)
        )


def _size(n_bytes: int) -> str:
    value, unit = float(n_bytes), "bytes"
    for larger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{n_bytes:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"


def _disk_full(err: BaseException) -> bool:
    """ENOSPC / EDQUOT, raised by Python or reported inside h5py's messages."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(err, (OSError, RuntimeError)) and "No space left on device" in str(err)


@contextlib.contextmanager
def _disk_full_is_an_error(target: Path) -> Iterator[None]:
    """A full disk while writing `target` becomes an OutputError (E055)."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        if _disk_full(err):
            raise OutputError(Errors.E055.format(path=target)) from None
        raise


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def _check_parent(path: Path, what: str) -> None:
    parent = _existing_parent(path)
    if not parent.is_dir():
        raise OutputError(Errors.E053.format(path=path, what=what, parent=parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(Errors.E052.format(path=path, what=what, parent=parent))


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{socket.gethostname()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: PathLike) -> List[Path]:
    """Delete the temporaries that dead processes of this host left in the
    folder of `target`, for any target there (a killed run's are removed by
    the next run of any command that writes into that folder), with a
    warning naming each. A live writer's temporaries stay.
    RETURNS (List[Path]): the removed paths."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    # .TARGET.HOST.PID.RANDOM[suffix]: any TARGET, this host, a PID
    name = re.compile(rf"^\.(?P<target>.+)\.{re.escape(socket.gethostname())}\.(?P<pid>\d+)\.[^.]+")
    removed: List[Path] = []
    for entry in target.parent.iterdir():
        match = name.match(entry.name)
        if match is None:
            continue
        pid_text = match.group("pid")
        if int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
        owner = target.parent / match.group("target")
        warnings.warn(Warnings.W001.format(path=entry, pid=pid_text, target=owner), stacklevel=3)
    return removed


def _new_temp(target: Path, suffix: str, directory: bool) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    prefix = f"{_temp_prefix(target)}{os.getpid()}."
    if directory:
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=suffix))
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(target: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file path beside `target` to write to (creating the
    folder). On success it is renamed onto `target` with the permissions a
    plain open() would give (0666 minus the umask; mkstemp creates 0600); on
    an exception it is deleted and `target` is untouched; a full disk is an
    OutputError (E055) that says so."""
    target = check_output_file(target)
    tmp = _new_temp(target, suffix, directory=False)
    try:
        with _disk_full_is_an_error(target):
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def scratch_path(target: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file path beside `target`, named like `atomic_path`'s
    (host and PID, so the next writer of `target` removes it if this process
    dies), and delete it on exit: for intermediate files, such as the
    per-rank parts that `embed` merges into `target`. A full disk is E055."""
    target = check_output_file(target)
    tmp = _new_temp(target, suffix, directory=False)
    try:
        with _disk_full_is_an_error(target):
            yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `target` to fill. On success it
    replaces `target` (an existing `target` directory is moved aside and
    deleted once the new one is in place; callers decide beforehand whether
    it may be replaced); on an exception it is deleted. A full disk is E055."""
    target = check_output_dir(Path(target))
    tmp = _new_temp(target, ".tmp", directory=True)
    try:
        with _disk_full_is_an_error(target):
            yield tmp
            _replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(tmp: Path, target: Path) -> None:
    """Put the finished directory `tmp` in place of `target`."""
    os.chmod(tmp, 0o777 & ~_umask())
    if not target.exists():
        os.replace(tmp, target)
        return
    old = _new_temp(target, ".old", directory=True)
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write text (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf8")
