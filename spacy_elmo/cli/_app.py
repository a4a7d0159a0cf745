"""The `python -m spacy elmo ...` Typer sub-app. Commands live in their own
modules; each is a thin wrapper over a plain function."""
from typing import Union

import typer

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
