"""What keeps a command from destroying a user's data, checked before any
work: no output is ever one of the inputs (`check_not_inputs`), and one
writer at a time per output (`output_lock`).

Paths are compared as files, not as strings: `os.path.samefile` where both
exist, so a symlink or a hard link to an input is that input; an output
folder that holds an input (the folder is replaced as a whole) and an
existing file inside an input folder (a model's own files) are refused too.

The lock is `filelock`'s (flock on Unix): the kernel releases it when its
process ends, however it ends, so a lock left by a killed run never blocks
the next one. The lock file (`OUTPUT.lock`, beside the output) holds the
writer's PID and host, for the message of a second writer, and is removed
when the writer is done.
"""
import contextlib
import os
import socket
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

from filelock import FileLock, Timeout

from ..errors import Errors, OutputError

PathLike = Union[str, Path]
Named = Tuple[str, Optional[PathLike]]  # (what the path is for the user, the path)


def same_path(a: Path, b: Path) -> bool:
    """Whether two paths name one file or folder (symlinks, hard links)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` lies (at any depth) inside the existing folder `folder`."""
    if not folder.is_dir():
        return False
    for parent in Path(os.path.realpath(path)).parents:
        if parent.exists() and os.path.samefile(parent, folder):
            return True
    return False


def check_not_inputs(outputs: Sequence[Named], inputs: Sequence[Named], *, folder_outputs: Sequence[str] = ()) -> None:
    """Refuse (OutputError, naming both paths) an output that is an input:
    the same file (symlinks and hard links included), an output folder that
    holds an input, or an existing output file inside an input folder.

    outputs (Sequence[Tuple[str, PathLike]]): (what, path) of each output,
        e.g. ("OUTPUT_FILE", "out.hdf5"); None paths are skipped.
    inputs (Sequence[Tuple[str, PathLike]]): (what, path) of each input, a
        file or a folder.
    folder_outputs (Sequence[str]): the `what` of outputs that are folders
        replaced as a whole (init-vectors' OUTPUT_DIR).
    """
    for out_what, out in outputs:
        if out is None:
            continue
        out = Path(out)
        for in_what, given in inputs:
            if given is None:
                continue
            inp = Path(given)
            if same_path(out, inp) or (out.exists() and inside(out, inp)):
                raise OutputError(Errors.E700.format(out_what=out_what, out=out, in_what=in_what, inp=inp))
            if out_what in folder_outputs and inside(inp, out):
                raise OutputError(Errors.E701.format(out_what=out_what, out=out, in_what=in_what, inp=inp))


_HELD: Dict[str, int] = {}  # lock files this process holds -> depth


def lock_path(target: PathLike) -> Path:
    """The lock file of an output: `NAME.lock` beside it (visible: a lock
    left by a killed run is seen, and removed by the next run)."""
    target = Path(target).absolute()
    return target.parent / f"{target.name}.lock"


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="utf8").split()
        if len(text) == 2 and text[0].isdigit():
            return f"process {text[0]} on {text[1]}"
    return "another process (its PID could not be read)"


@contextlib.contextmanager
def output_lock(target: PathLike, what: str = "output") -> Iterator[Path]:
    """Hold the lock of `target` for the body: if another process holds it,
    an OutputError at once names that process. Nested use for the same
    target in one process (a command and the function it calls) takes the
    lock once. Creates the target's folder if it is missing.

    target (PathLike): the output file or folder.
    what (str): what the target is, for the message ("OUTPUT_FILE", ...).
    YIELDS (Path): the lock file.
    """
    path = lock_path(target)
    key = str(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    made = [p for p in [path.parent, *path.parent.parents] if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(Errors.E705.format(what=what, target=target, err=err)) from None
    try:
        with _locked(path, target, what):
            _HELD[key] = 1
            try:
                yield path
            finally:
                _HELD.pop(key, None)
    finally:
        for folder in made:  # the folders made for the lock, if the run left them empty
            try:
                folder.rmdir()
            except OSError:
                break


@contextlib.contextmanager
def _locked(path: Path, target: PathLike, what: str) -> Iterator[None]:
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(
            Errors.E702.format(what=what, target=target, holder=_holder(path), lock=path)
        ) from None
    mine = None
    try:
        with path.open("r+", encoding="utf8") as handle:
            handle.truncate(0)
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        mine = os.stat(path)
        yield
    finally:
        try:
            # Removed while held: a process that opened it meanwhile finds the
            # file unlinked once it gets the flock and takes a new one.
            with contextlib.suppress(OSError):
                if mine is not None and os.path.samestat(os.lstat(path), mine):
                    path.unlink()
        finally:
            lock.release()
