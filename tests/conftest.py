"""Fixtures for the whole suite; the functions behind them are in helpers.py."""
from pathlib import Path

import pytest
import torch

from helpers import SHARED_DATA, fixture_bilm_path, load_fixture_bilm


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"{SHARED_DATA} is missing: tests use the real data in ../shared/data")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures_dir(shared_data) -> Path:
    return shared_data / "allennlp-elmo-fixtures"


@pytest.fixture(scope="session")
def fixture_bilm_dir(shared_data) -> Path:
    """The AllenNLP fixture biLM as a weights directory (options.json +
    weights.hdf5), usable as `weights = DIR` in configs. Tests use it where
    a tiny, fast biLM is enough."""
    return Path(fixture_bilm_path())


@pytest.fixture(scope="module")
def fixture_model(shared_data):
    """The fixture biLM as a model, one a module (tests change its cache)."""
    return load_fixture_bilm()


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: deterministic and robust on a shared 2-core machine
    (two OpenMP threads spin-wait badly when another process holds a core)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
