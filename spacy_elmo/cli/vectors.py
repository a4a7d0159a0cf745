"""`python -m spacy elmo init-vectors` and `... train-word2vec`: thin wrappers
over `spacy_elmo.word2vec.convert.init_vectors` and
`spacy_elmo.word2vec.train.train_word2vec`."""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ._app import app, exit_130_on_ctrl_c


@app.command("init-vectors")
def init_vectors_cli(
    # fmt: off
    lang: str = typer.Argument(..., help="Language of the blank pipeline, e.g. en"),
    vectors_path: Path = typer.Argument(..., help="word2vec file: text (.txt/.vec, optionally .gz/.bz2/.xz), binary (.bin) or a gensim .kv/.model"),
    output_dir: Path = typer.Argument(..., help="Pipeline directory to write (use it as [initialize] vectors)"),
    prune: Optional[int] = typer.Option(None, "--prune", "-p", help="Keep the first N rows (most frequent) and map the rest to their nearest kept row [default: keep all]", min=1, show_default=False),
    truncate: int = typer.Option(0, "--truncate", "-t", help="Read only the first N rows (0: all)", min=0),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Name of the vectors, e.g. en_word2vec.vectors"),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase the keys (the first row of each lowercased key wins)"),
    dtype: str = typer.Option("float32", "--dtype", help="Storage type: float32 or float16"),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, text, binary or gensim"),
    unicode_errors: str = typer.Option("strict", "--unicode-errors", help="Invalid UTF-8 in keys: strict (error), replace or ignore"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow gensim .save() files: they are pickles and can run code when loaded"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar while reading"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUTPUT_DIR if it holds a spaCy pipeline that init-vectors did not write (e.g. a trained one)"),
    # fmt: on
):
    """Convert word2vec vectors (text, binary or gensim) to a spaCy pipeline
    directory with static vectors, like `spacy init vectors` but for every
    word2vec format, streaming and faster."""
    from ..errors import ElmoError
    from ..io.atomic import check_output_dir
    from ..io.guard import output_lock
    from ..word2vec.convert import init_vectors

    try:
        check_output_dir(output_dir, "OUTPUT_DIR")
        with output_lock(output_dir, "OUTPUT_DIR"), exit_130_on_ctrl_c(f"{output_dir} is as it was"):
            nlp = init_vectors(
                lang, vectors_path, output_dir, prune=-1 if prune is None else prune, truncate=truncate, name=name,
                lowercase=lowercase, dtype=dtype, fmt=fmt, unicode_errors=unicode_errors,
                allow_pickle=allow_pickle, progress=progress, overwrite=overwrite,
            )
    except ElmoError as err:
        msg.fail("Could not convert the vectors", str(err), exits=1)
    vectors = nlp.vocab.vectors
    msg.good(f"Converted {len(vectors)} keys, {vectors.shape[0]} x {vectors.shape[1]} vectors")
    msg.good(
        "Saved the pipeline with vectors. Use it in your config as "
        "[initialize] vectors",
        str(output_dir.resolve()),
    )


@app.command("train-word2vec")
def train_word2vec_cli(
    # fmt: off
    text_paths: List[Path] = typer.Argument(..., help="Whitespace-tokenized text files, one sentence or paragraph a line (.gz ok)"),
    output_path: Path = typer.Argument(..., help="word2vec file to write"),
    size: int = typer.Option(100, "--size", help="Vector dimensions"),
    window: int = typer.Option(5, "--window", help="Context window: words on each side"),
    min_count: int = typer.Option(5, "--min-count", help="Ignore words rarer than this"),
    sg: bool = typer.Option(False, "--sg", help="Skip-gram (default: CBOW)"),
    negative: int = typer.Option(5, "--negative", help="Negative samples"),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the text"),
    workers: int = typer.Option(1, "--workers", "--threads", help="Training threads, gensim's workers (1 is reproducible with --seed)"),
    seed: int = typer.Option(1, "--seed", help="Random seed"),
    binary: bool = typer.Option(False, "--binary", help="Write the binary word2vec format instead of text"),
    # fmt: on
):
    """Train word2vec (gensim) on tokenized text and save it in word2vec
    format, ready for `init-vectors`. Needs gensim: pip install gensim."""
    from ..errors import ElmoError
    from ..io.atomic import check_output_file
    from ..io.guard import output_lock
    from ..word2vec.train import train_word2vec

    try:
        check_output_file(output_path, "OUTPUT_PATH")
        with output_lock(output_path, "OUTPUT_PATH"), exit_130_on_ctrl_c(f"{output_path} was not written"):
            n_words, dims = train_word2vec(
                text_paths, output_path, size=size, window=window, min_count=min_count,
                sg=sg, negative=negative, epochs=epochs, workers=workers, seed=seed, binary=binary,
            )
    except ElmoError as err:
        msg.fail("Could not train word2vec", str(err), exits=1)
    msg.good(f"Saved {n_words} x {dims} word2vec vectors", str(output_path))
