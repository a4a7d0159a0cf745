"""Shared helpers for the pretraining tests: WikiText-2 slices and settings."""
import gzip
import itertools
from pathlib import Path
from typing import Dict

import pytest
import torch

from spacy_elmo.training.settings import PretrainSettings, load_config, parse_settings

ROOT = Path(__file__).resolve().parent.parent
TINY_CFG = ROOT / "configs" / "bilm_tiny.cfg"
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2"

# Small enough for ~0.1 s a step on 2 cores, the tiny config's shape otherwise.
FAST = {
    "training.batch_size": 8,
    "training.max_steps": 20,
    "training.eval_every": 0,
    "training.eval_max_windows": 5,
    "training.checkpoint_every": 0,
    "data.max_vocab_size": 3000,
}


def wikitext_slice(tmp_path: Path, name: str = "train", n_lines: int = 300, skip: int = 0) -> Path:
    """The first `n_lines` lines (after `skip`) of a WikiText-2 split, copied."""
    source = WIKITEXT / ("train.txt.gz" if name == "train" else f"{name}.txt")
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf8") as handle:
        lines = list(itertools.islice(handle, skip, skip + n_lines))
    path = tmp_path / f"{name}-{skip}-{n_lines}.txt"
    path.write_text("".join(lines), encoding="utf8")
    return path


def settings(train: Path, dev: Path = None, **overrides) -> PretrainSettings:
    values: Dict[str, object] = {"paths.train": str(train), "paths.dev": str(dev) if dev else None}
    values.update(FAST)
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return parse_settings(load_config(TINY_CFG, values), path=str(TINY_CFG))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: deterministic and robust on a shared 2-core machine
    (two OpenMP threads spin-wait badly when another process holds a core)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
