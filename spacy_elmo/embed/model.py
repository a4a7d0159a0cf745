"""The biLM that `embed` runs: named on the command line, on its device."""
from pathlib import Path
from typing import Optional, Union

import spacy
import torch

from ..bilm.model import BiLM
from ..device import use_device
from ..errors import ElmoError, Errors
from ..io.pretrained import load_pretrained_bilm
from ..models.bilm import get_bilm
from ..pipeline.elmo import Elmo


def is_spacy_pipeline(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "config.cfg").exists() and (path / "meta.json").exists()


def load_for_cli(
    weights: Optional[str],
    options_file: Optional[str],
    weight_file: Optional[str],
    device: Union[int, torch.device],
    *,
    strict: bool = True,
) -> BiLM:
    """The biLM named on the command line, on `device` (a torch device, or a
    --gpu-id as spacy_elmo.device reads it): a preset, a weights directory, a
    pair of files, or the elmo component of a saved spaCy pipeline.

    strict (bool): see `io.weights.load_bilm` (a saved pipeline's biLM
        carries its options, so there is nothing to check).
    """
    if isinstance(device, int):
        device = use_device(device).device
    if weights is None and options_file is None and weight_file is None:
        weights = "default"
    if options_file is None and weight_file is None and weights and is_spacy_pipeline(weights):
        nlp = spacy.load(weights)
        elmo = [c for _, c in nlp.pipeline if isinstance(c, Elmo)]
        if not elmo:
            raise ElmoError(Errors.E042.format(path=weights, pipes=nlp.pipe_names))
        bilm = get_bilm(elmo[0].model)
    else:
        bilm = load_pretrained_bilm(
            weights, options_file=options_file, weight_file=weight_file, strict=strict
        )
    return bilm.to(device)
