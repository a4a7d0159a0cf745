"""The `python -m spacy elmo ...` Typer sub-app. Commands live in their own
modules; each is a thin wrapper over a plain function."""
import contextlib
import os
from typing import Iterator, Union

import typer
from wasabi import msg

app = typer.Typer(
    name="elmo",
    help="ELMo contextual vectors and word2vec static vectors for spaCy.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
TRUE = ("true", "yes", "y", "on", "1")
FALSE = ("false", "no", "n", "off", "0")


def parse_bool(value: Union[str, bool]) -> bool:
    """The value of a boolean option given as a word (`--strict false`), as
    spaCy's config overrides take them. Declare the option with type `str`
    and `parser=parse_bool` (Typer makes every `bool` option a flag)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise typer.BadParameter(f"{value!r} is not true or false")


# The exit status of a command stopped by Ctrl-C (SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def exit_130_on_ctrl_c(left: str) -> Iterator[None]:
    """Ctrl-C in the body ends the command with exit status 130 (not click's
    1 or a traceback) after saying what was left (`left`: "nothing was
    written", ...); whatever the body saves on the way out is saved first."""
    try:
        yield
    except KeyboardInterrupt:
        msg.fail(f"Interrupted (Ctrl-C): {left}.")
        raise typer.Exit(EXIT_INTERRUPTED) from None


THREADS_HELP = (
    "torch threads for this process; 0: torch's default, one per physical core. Processes "
    "that share the cores should split them (2 processes on 8 cores: --threads 4 each)"
)


def threads_option() -> int:
    """The `--threads N` option of every command that computes with torch."""
    return typer.Option(0, "--threads", help=THREADS_HELP, min=0)


def set_threads(threads: int) -> None:
    """Use `threads` intra-op torch threads (0: leave torch's default)."""
    if threads:
        import torch  # heavy: only when a command runs

        torch.set_num_threads(threads)


def is_main_process() -> bool:
    """False in the ranks of a torchrun job other than rank 0, which write
    no output of their own (so they take no output lock)."""
    return int(os.environ.get("RANK", "0")) == 0
