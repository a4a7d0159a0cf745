"""Load a ready-to-use biLM from whatever names it: a preset, a directory, a
pair of files, or a saved spaCy pipeline with an elmo component."""
from pathlib import Path
from typing import List, Optional, Union

import srsly

from ..bilm.model import BiLM
from ..errors import ElmoError, Errors
from .download import resolve_weights
from .weights import load_bilm

DATA_DIR = Path(__file__).parent.parent / "data"


def warmup_sentences() -> List[List[str]]:
    """The built-in warm-up text: the 30 sentences of AllenNLP's ELMo test
    fixture (Apache-2.0), shipped in spacy_elmo/data/warmup.json."""
    return [line.split() for line in srsly.read_json(DATA_DIR / "warmup.json")]


def is_spacy_pipeline(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "config.cfg").exists() and (path / "meta.json").exists()


def load_pretrained_bilm(
    weights: Optional[str] = "default",
    *,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
) -> BiLM:
    """A BiLM in eval mode with its warm state set.

    weights (Optional[str]): preset name, directory with options.json +
        weights.hdf5, or a saved spaCy pipeline directory with an "elmo"
        component. Ignored when options_file and weight_file are given.
    """
    if options_file is None and weight_file is None and weights and is_spacy_pipeline(weights):
        import spacy

        from ..models.bilm import get_bilm

        nlp = spacy.load(weights)
        for _, component in nlp.pipeline:
            if component.__class__.__name__ == "Elmo":
                return get_bilm(component.model)
        raise ElmoError(Errors.E042.format(path=weights, pipes=nlp.pipe_names))
    options_path, weights_path = resolve_weights(
        weights, options_file=options_file, weight_file=weight_file
    )
    bilm = load_bilm(options_path, weights_path)
    bilm.estimate_warm_state(warmup_sentences())
    return bilm
