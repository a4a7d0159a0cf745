"""The `python -m spacy elmo ...` Typer sub-app. Commands live in their own
modules; each is a thin wrapper over a plain function."""
import typer

app = typer.Typer(
    name="elmo",
    help="ELMo contextual vectors and word2vec static vectors for spaCy.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
