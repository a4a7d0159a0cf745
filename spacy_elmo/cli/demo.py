"""`python -m spacy elmo demo`: the main job on the built-in default model."""
from typing import Optional

import typer
from wasabi import msg

from ._app import app, set_threads, threads_option


@app.command("demo")
def demo_cli(
    # fmt: off
    weights: Optional[str] = typer.Option("default", "--weights", "-w", help="Preset, weights folder (options.json + weights.hdf5, or bilm-tf's published names) or saved spaCy pipeline with an elmo component"),
    vectors: Optional[str] = typer.Option(None, "--vectors", "-v", help="spaCy pipeline with static word vectors (e.g. from `init-vectors`) to compare with"),
    threads: int = threads_option(),
    # fmt: on
):
    """For ambiguous words in built-in sentences, print each occurrence's
    nearest other occurrence by ELMo vector (contextual) beside the
    context-free char-CNN similarity."""
    from ..demo import nearest_contexts
    from ..errors import ElmoError

    set_threads(threads)
    try:
        rows = nearest_contexts(weights, vectors=vectors)
    except (ElmoError, OSError) as err:
        msg.fail(str(err), exits=1)
    msg.info(f"ELMo weights: {weights}" + (f"; static vectors: {vectors}" if vectors else ""))
    for word, sent, nearest, cos_elmo, cos_l0, cos_w2v, same in rows:
        extra = "" if cos_w2v is None else f" | static vectors {cos_w2v:.3f}"
        verdict = "" if same is None else ("  (same sense)" if same else "  (OTHER sense)")
        print(f"[{word}] {sent}\n    nearest by ELMo: {nearest}{verdict}\n"
              f"    cosine ELMo top layer {cos_elmo:.3f} | context-free layer 0 {cos_l0:.3f}{extra}")
    judged = [r[-1] for r in rows if r[-1] is not None]
    if judged:
        msg.good(f"The nearest context by ELMo has the same sense for {sum(judged)} of {len(judged)} occurrences.")
        msg.text("A static (word2vec or char-CNN layer 0) vector is the same for every occurrence of a "
                 "word, so it cannot rank the contexts of one word at all.")
