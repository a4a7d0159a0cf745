"""`embed` under torchrun: which share of the work this process does.

torchrun (`python -m torch.distributed.run`, also across hosts) starts one
process per rank and sets RANK, WORLD_SIZE and LOCAL_RANK. The ranks only
need to wait for each other and exchange file names, so they talk over
gloo whatever device they compute on; each computes on its own GPU
(spacy_elmo.device: --gpu-id + LOCAL_RANK) or on the CPU.
"""
import datetime
from typing import Any, List, Optional

import torch.distributed as dist

from ..device import torchrun_ranks

# Ranks wait at the end for the slowest one; generous, as a window of a large
# corpus on a slow device can take long (torchrun ends all ranks if one fails).
TIMEOUT = datetime.timedelta(hours=12)


class Ranks:
    """This process's rank among `world` processes (1 without torchrun).

    rank (int): global rank (RANK).
    world (int): number of processes (WORLD_SIZE).
    local_rank (int): rank on this host (LOCAL_RANK).
    """

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self._started = False

    @classmethod
    def from_env(cls) -> "Ranks":
        """The ranks torchrun set in the environment (one process if none)."""
        rank, world, local_rank = torchrun_ranks()
        return cls(rank, world, local_rank)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def __enter__(self) -> "Ranks":
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("gloo", timeout=TIMEOUT)
            self._started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            dist.destroy_process_group()
            self._started = False

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.world > 1:
            dist.barrier()

    def gather(self, value: Any) -> List[Any]:
        """`value` of every rank, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        values: List[Optional[Any]] = [None] * self.world
        dist.all_gather_object(values, value)
        return values
