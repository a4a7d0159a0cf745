"""CLI entry point (`spacy_cli` in pyproject): importing this module attaches
the `elmo` sub-app to spaCy's CLI. Heavy imports stay inside the commands so
`python -m spacy --help` stays fast."""
from spacy.cli._util import app as spacy_app

from ._app import app
from . import demo, embed, pretrain, vectors  # noqa: F401  (registers commands)

spacy_app.add_typer(app, name="elmo")

__all__ = ["app"]
