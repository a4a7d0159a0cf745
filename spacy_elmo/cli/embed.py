"""`python -m spacy elmo embed`: AllenNLP's `elmo` command, for spaCy users."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ._app import app


@app.command("embed")
def embed_cli(
    # fmt: off
    input_file: Path = typer.Argument(..., help="Text file: one whitespace-tokenized sentence per line", exists=True, dir_okay=False),
    output_file: Path = typer.Argument(..., help="HDF5 file to write (one dataset per line, key = line index)"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Preset (default, small, medium, original, original-5.5B), a directory with options.json + weights.hdf5, or a saved spaCy pipeline with an elmo component (default: 'default' unless both files are given)"),
    options_file: Optional[str] = typer.Option(None, "--options-file", help="options.json (path or URL); with --weight-file, overrides --weights"),
    weight_file: Optional[str] = typer.Option(None, "--weight-file", help="weights.hdf5 (path or URL)"),
    all_layers: bool = typer.Option(False, "--all", help="Write all layers: (n_layers + 1, n_tokens, dim) (the default)"),
    top: bool = typer.Option(False, "--top", help="Write the top layer only: (n_tokens, dim)"),
    average: bool = typer.Option(False, "--average", help="Write the average of the layers: (n_tokens, dim)"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Sentences per batch", min=1),
    stateful: bool = typer.Option(False, "--stateful", help="Carry LSTM state from batch to batch (bilm-tf/AllenNLP behaviour; same as --state-mode carry)"),
    state_mode: str = typer.Option("warm", "--state-mode", help="Initial LSTM state: warm (default), reset or carry"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for the CPU"),
    # fmt: on
):
    """Embed each line of INPUT_FILE with ELMo and write OUTPUT_FILE (HDF5),
    as AllenNLP's `allennlp elmo` command does."""
    from ..embed import embed_file, load_for_cli
    from ..errors import ElmoError

    if sum((all_layers, top, average)) > 1:
        msg.fail("Choose one of --all, --top, --average", exits=1)
    output = "top" if top else "average" if average else "all"
    mode = "carry" if stateful else state_mode
    try:
        bilm = load_for_cli(weights, options_file, weight_file, gpu_id)
        n_sents, n_tokens = embed_file(
            input_file, output_file, bilm, output=output, batch_size=batch_size, mode=mode
        )
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Embedded {n_sents} sentences ({n_tokens} tokens) -> {output_file}")
