"""`python -m spacy elmo demo`: the main job on the built-in default model."""
from typing import Optional

import typer
from wasabi import msg

from ._app import app


@app.command("demo")
def demo_cli(
    # fmt: off
    weights: Optional[str] = typer.Option("default", "--weights", "-w", help="Preset, weights directory or saved pipeline"),
    # fmt: on
):
    """For ambiguous words in built-in sentences, print each occurrence's
    nearest other occurrence by ELMo vector (contextual) beside the
    context-free char-CNN similarity."""
    from ..demo import nearest_contexts
    from ..errors import ElmoError

    try:
        rows = nearest_contexts(weights)
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    msg.info(f"ELMo weights: {weights}")
    for word, sent, nearest, cos_elmo, cos_static in rows:
        print(f"[{word}] {sent}\n    nearest: {nearest}\n    cosine ELMo top layer {cos_elmo:.3f} | context-free layer 0 {cos_static:.3f}")
