"""Which process this is and which device it computes on: one meaning of
`--gpu-id` for every command (pretrain, evaluate-lm, embed).

torchrun (`torchrun --nproc_per_node N ...`) starts one process per rank and
sets RANK, WORLD_SIZE and LOCAL_RANK (the rank on this host); without it
there is one process, rank 0 of 1, LOCAL_RANK 0.

`--gpu-id G`: -1 is the CPU; G >= 0 is CUDA device G + LOCAL_RANK. So
`torchrun --nproc_per_node 4 ... --gpu-id 0` puts a host's four ranks on its
GPUs 0-3 (`--gpu-id 4` on GPUs 4-7), and one process with `--gpu-id 1` uses
GPU 1. The chosen GPU is made the current CUDA device
(`torch.cuda.set_device`), so that whatever allocates on "cuda" without an
index (NCCL, cuDNN's workspaces, CUDA graph pools) uses it too, not GPU 0.
"""
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import torch

from .errors import ElmoError, Errors

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Placement:
    """rank (int): global rank (RANK). world (int): processes (WORLD_SIZE).
    local_rank (int): rank on this host (LOCAL_RANK). device (torch.device):
    where this process computes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = CPU


def torchrun_ranks(env: Optional[Mapping[str, str]] = None) -> Tuple[int, int, int]:
    """(RANK, WORLD_SIZE, LOCAL_RANK) as torchrun set them; (0, 1, 0) without it."""
    env = os.environ if env is None else env
    return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))


def place(gpu_id: int, env: Optional[Mapping[str, str]] = None, device_count: Optional[int] = None) -> Placement:
    """This process's ranks and device for `--gpu-id gpu_id` (see the module
    docstring); an ElmoError (E049) if that GPU does not exist. Changes nothing.

    device_count (Optional[int]): the CUDA devices this process sees (counted
        when None).
    """
    rank, world, local_rank = torchrun_ranks(env)
    if gpu_id < 0:
        return Placement(rank, world, local_rank, CPU)
    index = gpu_id + local_rank
    if device_count is None:
        device_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= device_count:
        shown = f" + LOCAL_RANK {local_rank}" if world > 1 else ""
        raise ElmoError(Errors.E049.format(gpu_id=gpu_id, rank=shown, index=index, count=device_count))
    return Placement(rank, world, local_rank, torch.device("cuda", index))


def use_device(gpu_id: int, env: Optional[Mapping[str, str]] = None) -> Placement:
    """`place` and make its GPU the current CUDA device."""
    placement = place(gpu_id, env)
    if placement.device.type == "cuda":
        torch.cuda.set_device(placement.device)
    return placement
