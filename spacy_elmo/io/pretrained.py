"""Load a ready-to-use biLM from whatever names it: a preset, a directory or
a pair of files (paths or URLs), with its warm state estimated."""
from pathlib import Path
from typing import List, Optional

import srsly

from ..bilm.model import BiLM
from .download import resolve_weights
from .efml import is_efml_dir, load_efml_bilm
from .weights import load_bilm

DATA_DIR = Path(__file__).parent.parent / "data"


def warmup_sentences() -> List[List[str]]:
    """The built-in warm-up text: the 30 sentences of AllenNLP's ELMo test
    fixture (Apache-2.0), shipped in spacy_elmo/data/warmup.json."""
    return [line.split() for line in srsly.read_json(DATA_DIR / "warmup.json")]


def load_pretrained_bilm(
    weights: Optional[str] = "default",
    *,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    strict: bool = True,
) -> BiLM:
    """A BiLM in eval mode with its warm state set.

    weights (Optional[str]): preset name, directory with options.json +
        weights.hdf5, or an ELMoForManyLangs model directory (io/efml.py).
        Ignored when options_file and weight_file are given.
    strict (bool): weights holding LSTM layers, filters or highway layers that
        options.json does not name are an error; False loads only what the
        options name, with a warning (`io.weights.load_bilm`).
    """
    if options_file is None and weight_file is None and weights is not None and is_efml_dir(weights):
        bilm: BiLM = load_efml_bilm(weights)
    else:
        options_path, weights_path = resolve_weights(
            weights, options_file=options_file, weight_file=weight_file
        )
        bilm = load_bilm(options_path, weights_path, strict=strict)
    bilm.estimate_warm_state(warmup_sentences())
    return bilm
