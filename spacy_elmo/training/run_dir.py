"""The OUTPUT_DIR of a pretraining run: what a run writes there, the checks
before any work (an earlier run is continued with --resume or deleted with
--overwrite, never silently mixed into), and the clean-up when a run fails
before it saved anything usable."""
import contextlib
import shutil
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import Errors, InputError, OptionsError
from ..io.atomic import check_output_dir
from ..io.guard import inside, same_path
from .checkpoint import CHECKPOINT

# Everything a run writes into OUTPUT_DIR (and nothing else is ever deleted).
RUN_OUTPUTS: Tuple[str, ...] = (
    CHECKPOINT.parts[0], "model-last", "model-best", "metrics.jsonl", "vocab.txt", "config.json",
)
# What --resume writes again (it reads vocab.txt and keeps config.json).
RESUME_OUTPUTS: Tuple[str, ...] = (CHECKPOINT.parts[0], "model-last", "model-best", "metrics.jsonl")
# What a user can go on from: once one exists, a failing run keeps its files.
USABLE = (CHECKPOINT, Path("model-last"), Path("model-best"))


def earlier_outputs(output_dir: Path) -> List[str]:
    """The names of RUN_OUTPUTS that exist in `output_dir`."""
    return [name for name in RUN_OUTPUTS if (output_dir / name).exists() or (output_dir / name).is_symlink()]


def check_run_dir(
    output_dir: Path,
    resume: bool,
    overwrite: bool,
    allow_data_change: bool,
    inputs: Iterable[Tuple[str, Optional[Path]]],
) -> None:
    """Fail before any work if the run cannot start in `output_dir`: a path that
    cannot be a writable directory, conflicting flags, nothing to resume, an
    earlier run (without --resume / --overwrite), or an input file that the run
    would overwrite or --overwrite delete.

    inputs (Iterable[Tuple[str, Optional[Path]]]): (config key, path) of every
        file the run reads, e.g. ("data.vocab", Path("out/vocab.txt")).
    """
    check_output_dir(output_dir, "OUTPUT_DIR")
    if resume and overwrite:
        raise OptionsError(Errors.E225.format(path=output_dir))
    if allow_data_change and not resume:
        raise OptionsError(Errors.E226)
    if resume:
        if not (output_dir / CHECKPOINT).exists():
            raise InputError(Errors.E209.format(path=output_dir / CHECKPOINT))
        check_not_run_outputs(output_dir, inputs, RESUME_OUTPUTS)
        return
    check_not_run_outputs(output_dir, inputs)
    found = earlier_outputs(output_dir)
    if found and not overwrite:
        raise InputError(Errors.E224.format(path=output_dir, found=", ".join(found)))


def check_not_run_outputs(
    output_dir: Path, inputs: Iterable[Tuple[str, Optional[Path]]], names: Sequence[str] = RUN_OUTPUTS
) -> None:
    """An InputError (E227) if an input is one of the outputs `names` in
    `output_dir` or lies inside one: the same file by `os.path.samefile`
    (symlinks and hard links too) or by its resolved path."""
    for key, path in inputs:
        if path is None:
            continue
        for name in names:
            output = output_dir / name
            if same_path(Path(path), output) or inside(Path(path), output):
                raise InputError(Errors.E227.format(key=key, input=Path(path).resolve(), output=name, path=output_dir))


def remove_outputs(output_dir: Path) -> List[str]:
    """Delete what a run wrote into `output_dir` (RUN_OUTPUTS only).
    RETURNS (List[str]): the names removed."""
    found = earlier_outputs(output_dir)
    for name in found:
        path = output_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def make_run_dir(output_dir: Path) -> Optional[Path]:
    """Create `output_dir` (and missing parents). RETURNS (Optional[Path]): the
    top-most directory this call created, None if `output_dir` existed."""
    created = None
    for parent in [output_dir, *output_dir.parents]:
        if parent.exists():
            break
        created = parent
    output_dir.mkdir(parents=True, exist_ok=True)
    return created


@contextlib.contextmanager
def remove_on_early_failure(output_dir: Path, created: Optional[Path]) -> Iterator[None]:
    """If the body fails (an error, a second Ctrl-C) before the run saved a
    checkpoint or a model, remove what the run wrote: the directory it created,
    or else its own files in the directory that was there. Then re-raise."""
    try:
        yield
    except BaseException:
        if not any((output_dir / usable).exists() for usable in USABLE):
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    remove_outputs(output_dir)
        raise
