from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = SHARED_DATA / "allennlp-elmo-fixtures"


def pytest_collection_modifyitems(config, items):
    import torch

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
def fixture_bilm_dir(fixtures_dir, tmp_path_factory) -> Path:
    """The AllenNLP fixture biLM as a weights directory (options.json +
    weights.hdf5), usable as `weights = DIR` in configs. Tests use it where
    a tiny, fast biLM is enough."""
    import shutil

    out = tmp_path_factory.mktemp("fixture_bilm")
    shutil.copyfile(fixtures_dir / "options.json", out / "options.json")
    shutil.copyfile(fixtures_dir / "lm_weights.hdf5", out / "weights.hdf5")
    return out


def _default_dim() -> int:
    """Width of one ELMo layer of the built-in default biLM (2 x projection)."""
    from spacy_elmo.io.resolve import resolve_weights
    from spacy_elmo.io.weights import read_options

    return 2 * read_options(resolve_weights("default")[0]).projection_dim


DEFAULT_DIM = _default_dim()


_FIXTURE_BILM = None


def fixture_bilm_path() -> str:
    """Like the fixture_bilm_dir fixture, for module-level config strings."""
    global _FIXTURE_BILM
    if _FIXTURE_BILM is None:
        import atexit
        import shutil
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="fixture_bilm_"))
        atexit.register(shutil.rmtree, out, True)
        shutil.copyfile(FIXTURES / "options.json", out / "options.json")
        shutil.copyfile(FIXTURES / "lm_weights.hdf5", out / "weights.hdf5")
        _FIXTURE_BILM = str(out)
    return _FIXTURE_BILM
