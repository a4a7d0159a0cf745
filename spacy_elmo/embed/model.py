"""The biLM that `embed` runs: named on the command line, on its device."""
from pathlib import Path
from typing import Optional, Union

import torch

from ..bilm.model import BiLM
from ..device import use_device
from ..errors import ElmoError, Errors
from ..models.bilm import load_named_bilm


def load_for_cli(
    weights: Optional[str],
    options_file: Optional[str],
    weight_file: Optional[str],
    device: Union[int, torch.device],
    *,
    strict: bool = True,
) -> BiLM:
    """The biLM named on the command line (`models.bilm.load_named_bilm`:
    a preset, a weights folder, a pair of files, a saved spaCy pipeline), on
    `device` (a torch device, or a --gpu-id as spacy_elmo.device reads it).

    strict (bool): see `io.weights.load_bilm` (a saved pipeline's biLM
        carries its options, so there is nothing to check).
    """
    if isinstance(device, int):
        device = use_device(device).device
    if weights is None and options_file is None and weight_file is None:
        weights = "default"
    bilm = load_named_bilm(weights, options_file=options_file, weight_file=weight_file, strict=strict)
    return bilm.to(device)
