"""`python -m spacy elmo embed`: AllenNLP's `elmo` command, for spaCy users
(also under torchrun: `torchrun --nproc_per_node N -m spacy elmo embed ...`)."""
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ._app import app, exit_130_on_ctrl_c, parse_bool, set_threads, threads_option


@app.command("embed")
def embed_cli(
    # fmt: off
    input_file: Path = typer.Argument(..., help="Text file: one whitespace-tokenized sentence per line (gzip/bz2/xz too)", exists=True, dir_okay=False),
    output_file: Path = typer.Argument(..., help="HDF5 file to write (one dataset per line, key = line index, and sentence_to_index)"),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Preset (default, small, medium, original, original-5.5B), a folder with options.json + weights.hdf5 (or one *options.json + one *.hdf5), or a saved spaCy pipeline with an elmo component (default: 'default' unless both files are given)"),
    options_file: Optional[str] = typer.Option(None, "--options-file", help="options.json (path or URL); with --weight-file, overrides --weights"),
    weight_file: Optional[str] = typer.Option(None, "--weight-file", help="weights.hdf5 (path or URL)"),
    all_layers: bool = typer.Option(False, "--all", help="Write all layers: (n_layers + 1, n_tokens, dim). Applies when none of --all, --top, --average is given"),
    top: bool = typer.Option(False, "--top", help="Write the top layer only: (n_tokens, dim)"),
    average: bool = typer.Option(False, "--average", help="Write the average of the layers: (n_tokens, dim)"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Most sentences (or chunks of long ones) per batch", min=1),
    stateful: bool = typer.Option(False, "--stateful", help="Carry LSTM state from batch to batch (bilm-tf/AllenNLP behaviour): the same as --state-mode carry"),
    state_mode: Optional[str] = typer.Option(None, "--state-mode", help="Initial LSTM state: warm (the default), reset or carry", show_default=False),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (exact), tf32 (CUDA), bf16 or fp16 (CUDA): the faster ones are not exact"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="warm/reset: cut lines longer than this into chunks of this many tokens, each run like a sentence of its own, as the elmo component does (0: never cut) [default: 256]", min=0, show_default=False),
    token_budget: Optional[int] = typer.Option(None, "--token-budget", help="warm/reset: most padded tokens per batch, rows x (longest + 2); bounds memory [default: 4096]", min=1, show_default=False),
    token_cache_size: Optional[int] = typer.Option(None, "--token-cache-size", help="Distinct tokens whose char-CNN vectors are kept between batches (0: no cache; default: the biLM's, 50,000); the output is the same either way", min=0, show_default=False),
    strict: str = typer.Option("true", "--strict", parser=parse_bool, metavar="BOOL", help="false: load weights that hold more layers or filters than options.json names, using only what it names (with a warning)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for the CPU; under torchrun each rank uses GPU gpu-id + LOCAL_RANK", min=-1),
    threads: int = threads_option(),
    # fmt: on
):
    """Embed each line of INPUT_FILE with ELMo and write OUTPUT_FILE (HDF5),
    as AllenNLP's `allennlp elmo` command does. Under torchrun the ranks
    share the lines and rank 0 writes the same file as one process."""
    from ..device import use_device
    from ..embed import EmbedSettings, Ranks, embed_file, load_for_cli, scan_input
    from ..embed.memory import bound_onednn_cache
    from ..errors import ElmoError, Errors
    from ..io.atomic import check_output_file
    from ..io.download import is_url
    from ..io.guard import check_not_inputs, output_lock

    bound_onednn_cache()  # before the model's first convolution
    set_threads(threads)
    ranks = Ranks.from_env()
    try:
        chosen = [flag for flag, on in (("--all", all_layers), ("--top", top), ("--average", average)) if on]
        if len(chosen) > 1:
            raise ElmoError(Errors.E045.format(flags=" ".join(chosen)))
        if stateful and state_mode not in (None, "carry"):
            raise ElmoError(Errors.E046.format(mode=state_mode))
        device = use_device(gpu_id).device
        settings = EmbedSettings(
            output=chosen[0][2:] if chosen else "all",
            batch_size=batch_size,
            mode="carry" if stateful else state_mode or "warm",
            precision=precision,
            max_length=max_length,
            token_budget=token_budget,
        ).resolved(ranks.world, device.type)
        check_output_file(output_file, "OUTPUT_FILE")
        models = [("--weights", weights), ("--options-file", options_file), ("--weight-file", weight_file)]
        inputs = [("INPUT_FILE", input_file)] + [(flag, p) for flag, p in models if p and not is_url(p) and Path(p).exists()]
        check_not_inputs([("OUTPUT_FILE", output_file)], inputs)
        lock = output_lock(output_file, "OUTPUT_FILE") if ranks.is_main else nullcontext()
        with lock, exit_130_on_ctrl_c(f"{output_file} was not written"):
            summary = scan_input(input_file)
            bilm = load_for_cli(weights, options_file, weight_file, device, strict=bool(strict))
            if token_cache_size is not None:
                bilm.set_token_cache(token_cache_size, key="--token-cache-size")
            with ranks:
                n_sents, n_tokens = embed_file(
                    input_file, output_file, bilm, settings, summary=summary, ranks=ranks
                )
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    if ranks.is_main:
        shared = f" in {ranks.world} processes" if ranks.world > 1 else ""
        msg.good(f"Embedded {n_sents} sentences ({n_tokens} tokens){shared} -> {output_file}")
