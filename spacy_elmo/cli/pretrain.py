"""`python -m spacy elmo pretrain | evaluate-lm | dump-token-embeddings`."""
import json
from contextlib import nullcontext
from typing import Optional
from pathlib import Path

import typer
from wasabi import msg

from ._app import EXIT_INTERRUPTED, app, exit_130_on_ctrl_c, is_main_process, parse_bool, set_threads, threads_option

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("pretrain", context_settings=EXTRA_ARGS)
def pretrain_cli(
    # fmt: off
    ctx: typer.Context,  # extra arguments: config overrides, e.g. --paths.train data.txt
    config_path: Path = typer.Argument(..., help="Pretraining config, e.g. configs/bilm_tiny.cfg", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Directory for model-last/, model-best/, checkpoints/, metrics.jsonl: new or without an earlier run (else --resume or --overwrite)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for the CPU; under torchrun each rank uses GPU gpu-id + LOCAL_RANK", min=-1),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoints/last.pt with identical results"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an earlier run in OUTPUT_DIR (checkpoints/, model-last/, model-best/, metrics.jsonl, vocab.txt, config.json) and train from scratch"),
    allow_data_change: bool = typer.Option(False, "--allow-data-change", help="With --resume: go on although data.train names other files than the checkpoint was trained on"),
    threads: int = threads_option(),
    # fmt: on
):
    """Pretrain a character-CNN biLM on whitespace-tokenized text (one sentence
    or line per row) and export it in the bilm-tf/AllenNLP format. Run the same
    command under `torchrun --nproc_per_node N` for several GPUs."""
    from spacy.cli._util import parse_config_overrides

    from ..errors import ElmoError
    from ..io.atomic import check_output_dir
    from ..io.guard import output_lock
    from ..training.run_dir import check_not_run_outputs
    from ..training.settings import load_config, parse_settings
    from ..training.train import pretrain

    overrides = parse_config_overrides(ctx.args)
    set_threads(threads)
    try:
        check_output_dir(output_dir, "OUTPUT_DIR")
        check_not_run_outputs(output_dir, [("CONFIG_PATH", config_path)])
        settings = parse_settings(load_config(config_path, overrides), path=str(config_path))
        lock = output_lock(output_dir, "OUTPUT_DIR") if is_main_process() else nullcontext()
        with lock, exit_130_on_ctrl_c(f"nothing usable was saved in {output_dir}"):
            result = pretrain(
                settings, output_dir, gpu_id=gpu_id, resume=resume, overwrite=overwrite,
                allow_data_change=allow_data_change,
            )
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    if result["interrupted"]:
        msg.warn(
            f"Interrupted at step {result['step']}: checkpoint and {output_dir / 'model-last'} saved. "
            f"Continue with the same command plus --resume."
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    else:
        msg.good(f"Trained {result['step']} steps ({result['tokens']:,} tokens): {output_dir / 'model-last'}")


@app.command("evaluate-lm")
def evaluate_lm_cli(
    # fmt: off
    model_dir: Path = typer.Argument(..., help="model-last/ or model-best/ written by `pretrain`", exists=True, file_okay=False),
    text_file: Path = typer.Argument(..., help="Whitespace-tokenized text, one sentence or line per row", exists=True, dir_okay=False),
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Rows evaluated in parallel (state carries within a row)", min=1),
    unroll: int = typer.Option(20, "--unroll", help="Tokens per window", min=1),
    max_line_chars: int = typer.Option(20_000, "--max-line-chars", help="Longest line accepted, in characters (longer lines are an error naming the line)", min=1),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for the CPU", min=-1),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON object to this file (atomically)", dir_okay=False),
    threads: int = threads_option(),
    # fmt: on
):
    """Print the exact (full-softmax) forward, backward and mean perplexity of a
    pretrained biLM on a text file as one JSON object."""
    from ..device import use_device
    from ..errors import ElmoError
    from ..io.atomic import atomic_write_text, check_output_file
    from ..io.guard import check_not_inputs, output_lock
    from ..training.checkpoint import load_model
    from ..training.data import expand_paths
    from ..training.evaluate import evaluate_lm

    set_threads(threads)
    try:
        if output is not None:
            check_output_file(output, "--output file")
            check_not_inputs([("--output file", output)], [("MODEL_DIR", model_dir), ("TEXT_FILE", text_file)])
        device = use_device(gpu_id).device
        lock = output_lock(output, "--output file") if output is not None else nullcontext()
        with lock, exit_130_on_ctrl_c("nothing was written"):
            model, vocab = load_model(model_dir)
            model.to(device)
            result = evaluate_lm(
                model, vocab, expand_paths(str(text_file), "TEXT_FILE"), batch_size, unroll,
                max_line_chars=max_line_chars,
            )
            if output is not None:
                atomic_write_text(output, json.dumps(result) + "\n")
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    print(json.dumps(result))


@app.command("dump-token-embeddings")
def dump_token_embeddings_cli(
    # fmt: off
    model_dir: Path = typer.Argument(..., help="Weights folder (options.json + weights.hdf5, or one *options.json + one *.hdf5), an ELMoForManyLangs model folder, or a saved spaCy pipeline with an elmo component", exists=True, file_okay=False),
    vocab_file: Path = typer.Argument(..., help="Word list, one word a line, no duplicates", exists=True, dir_okay=False),
    output_file: Path = typer.Argument(..., help="hdf5 file to write, dataset 'embedding' (n_words, projection_dim)"),
    strict: str = typer.Option("true", "--strict", parser=parse_bool, metavar="BOOL", help="false: load weights that hold more layers or filters than options.json names, using only what it names (with a warning)"),
    threads: int = threads_option(),
    # fmt: on
):
    """Write the context-free char-CNN embedding of every word in a list, so
    that known words can skip the char CNN (bilm-tf's token-embedding cache)."""
    from ..errors import ElmoError
    from ..io.atomic import check_output_file
    from ..io.guard import check_not_inputs, output_lock
    from ..models.bilm import load_named_bilm
    from ..training.token_embeddings import dump_token_embeddings

    set_threads(threads)
    try:
        check_output_file(output_file, "OUTPUT_FILE")
        check_not_inputs([("OUTPUT_FILE", output_file)], [("MODEL_DIR", model_dir), ("VOCAB_FILE", vocab_file)])
        with output_lock(output_file, "OUTPUT_FILE"), exit_130_on_ctrl_c(f"{output_file} was not written"):
            model = load_named_bilm(str(model_dir), strict=bool(strict))
            n = dump_token_embeddings(model, vocab_file, output_file)
    except ElmoError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {n} token embeddings to {output_file}")
