"""Load a ready-to-use biLM from whatever names it: a preset, a directory or
a pair of files (paths or URLs), with its warm state estimated."""
from pathlib import Path
from typing import List, Optional

import srsly

from ..bilm.model import BiLM
from ..errors import DownloadError, Errors
from .efml import load_efml_bilm
from .resolve import ModelSource, resolve_model
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

    weights (Optional[str]): a preset name, a folder in the bilm-tf layout,
        an ELMoForManyLangs model folder or a published one by name
        ("efml-fr", io/efml_models.py), as io/resolve.py reads them; None
        when options_file and weight_file are given.
    strict (bool): weights holding LSTM layers, filters or highway layers that
        options.json does not name are an error; False loads only what the
        options name, with a warning (`io.weights.load_bilm`).
    """
    source = resolve_model(weights, options_file=options_file, weight_file=weight_file)
    return load_source(source, strict=strict)


def load_source(source: ModelSource, *, strict: bool = True) -> BiLM:
    """The BiLM of a resolved name, in eval mode with its warm state: an
    ELMoForManyLangs folder, or an options + weights pair (a saved spaCy
    pipeline is models/bilm.py's `load_named_bilm`; here it is E712)."""
    if source.kind == "efml" and source.folder is not None:
        bilm: BiLM = load_efml_bilm(source.folder)
    elif source.options is not None and source.weights is not None:
        bilm = load_bilm(source.options, source.weights, strict=strict)
    else:
        raise DownloadError(Errors.E712.format(name=source.given, kind=source.what))
    bilm.estimate_warm_state(warmup_sentences())
    return bilm
