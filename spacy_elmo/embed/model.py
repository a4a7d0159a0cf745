"""The biLM that `embed` runs: named on the command line, on its device."""
from pathlib import Path
from typing import Optional, Union

import torch

from ..bilm.model import BiLM
from ..errors import ElmoError, Errors
from ..models.bilm import load_named_bilm
from .ranks import Ranks


def select_device(gpu_id: int, ranks: Ranks) -> torch.device:
    """The CPU for gpu_id < 0, else CUDA device gpu_id + LOCAL_RANK (under
    torchrun each rank on this host takes the next GPU); an ElmoError if
    that device does not exist."""
    if gpu_id < 0:
        return torch.device("cpu")
    index = gpu_id + ranks.local_rank
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= count:
        rank = f" + LOCAL_RANK {ranks.local_rank}" if ranks.world > 1 else ""
        raise ElmoError(Errors.E049.format(gpu_id=gpu_id, rank=rank, index=index, count=count))
    return torch.device("cuda", index)


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
    `device` (a torch device, or a GPU id with -1 for the CPU).

    strict (bool): see `io.weights.load_bilm` (a saved pipeline's biLM
        carries its options, so there is nothing to check).
    """
    if isinstance(device, int):
        device = select_device(device, Ranks())
    if weights is None and options_file is None and weight_file is None:
        weights = "default"
    bilm = load_named_bilm(weights, options_file=options_file, weight_file=weight_file, strict=strict)
    return bilm.to(device)
