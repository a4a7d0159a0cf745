"""bilm/precision.py: one precision vocabulary for the component, embed and
pretraining; exact float32 is scoped, never left switched."""
import warnings

import pytest
import torch

from spacy_elmo.bilm import precision as module
from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.bilm.precision import PRECISIONS, check_precision, fp32_flags, precision_scope
from spacy_elmo.errors import OptionsError
from spacy_elmo.training.settings import parse_settings
from thinc.api import Config

from helpers import TINY_CFG

FLAGS = (
    ("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"),
    ("mkldnn", "matmul"), ("mkldnn", "conv"), ("mkldnn", "rnn"),
)


def _flags():
    return {f"{b}.{o}": getattr(getattr(torch.backends, b), o).fp32_precision for b, o in FLAGS}


def test_vocabulary_and_errors():
    assert PRECISIONS == ("fp32", "tf32", "bf16", "fp16")
    for value in PRECISIONS:
        assert check_precision(value, "key", "cuda") == value
    with pytest.raises(OptionsError, match=r"\[x\] precision: unknown precision 'half'"):
        check_precision("half", "[x] precision")
    with pytest.raises(OptionsError, match="needs a CUDA GPU"):
        check_precision("fp16", "[x] precision", "cpu")


def _getters():
    """Every flag getter, old API and new; a getter that raises is recorded as such."""
    values = {}
    getters = {
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
        **{f"{b}.{o}": (lambda b=b, o=o: getattr(getattr(torch.backends, b), o).fp32_precision) for b, o in FLAGS},
    }
    for name, get in getters.items():
        try:
            values[name] = get()
        except RuntimeError as err:
            values[name] = f"raises: {err}"
    return values


@pytest.mark.parametrize("precision", PRECISIONS)
def test_scope_keeps_every_getter_readable_and_restores_them(precision):
    """Inductor and the profiler read the legacy flags: inside the scope they
    must not raise (setting only the per-op API makes them raise)."""
    before = _getters()
    assert not any(str(v).startswith("raises") for v in before.values()), before
    with fp32_flags(precision):
        inside = _getters()
    assert _getters() == before
    assert not any(str(v).startswith("raises") for v in inside.values()), inside
    tf32 = precision == "tf32"
    assert inside["float32_matmul_precision"] == ("high" if tf32 else "highest")
    assert inside["cuda.matmul.allow_tf32"] is tf32 and inside["cudnn.allow_tf32"] is tf32
    assert inside["mkldnn.matmul"] == inside["mkldnn.conv"] == inside["mkldnn.rnn"] == "ieee"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_scope_restores_a_callers_per_op_flags(precision):
    before, legacy = _flags(), _getters()
    torch.backends.cuda.matmul.fp32_precision = "tf32"  # a user's own global choice, new API
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    try:
        changed = _flags()
        with fp32_flags(precision):
            inside = _getters()
        assert _flags() == changed
    finally:
        torch.backends.cuda.matmul.fp32_precision = before["cuda.matmul"]
        torch.backends.mkldnn.matmul.fp32_precision = before["mkldnn.matmul"]
    # Every getter as before the caller's change: the legacy cuDNN switch the
    # scope set is put back even where the matmul getter could not be read.
    assert _getters() == legacy
    assert inside["mkldnn.matmul"] == "ieee"  # exact on the CPU whatever the caller set
    assert inside["cudnn.allow_tf32"] is (precision == "tf32")


def test_scope_restores_flags_after_an_error():
    before, legacy = _flags(), _getters()
    with pytest.raises(RuntimeError):
        with precision_scope("fp32", "cpu"):
            raise RuntimeError("boom")
    assert _flags() == before and _getters() == legacy


def test_bf16_scope_autocasts_and_fp32_does_not():
    a = torch.randn(4, 8)
    b = torch.randn(8, 3)
    with precision_scope("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with precision_scope("fp32", "cpu"):
        assert torch.equal(a @ b, a @ b) and (a @ b).dtype == torch.float32


def test_elmo_bilm_v1_mixed_precision_maps_to_v2_precision():
    from spacy_elmo.models.bilm import build_elmo_bilm_v1, build_elmo_bilm_v2

    assert build_elmo_bilm_v1(weights=None, mixed_precision=True).attrs["precision"] == "bf16"
    assert build_elmo_bilm_v1(weights=None).attrs["precision"] == "fp32"
    with pytest.raises(OptionsError, match=r"\[components.elmo.model.bilm\] precision"):
        build_elmo_bilm_v2(weights=None, precision="fp64")


def test_pretraining_precision_key():
    config = Config().from_disk(TINY_CFG, interpolate=False)
    config["paths"]["train"] = "x.txt"
    settings = parse_settings(config.interpolate())
    assert settings.training.precision == "fp32"


def test_bilm_char_ids_is_the_one_encoder():
    from spacy_elmo.bilm.config import BiLMConfig
    from spacy_elmo.bilm.model import BiLM

    bilm = BiLM(BiLMConfig())
    sentences = [["a", "bé"], ["<S>", "x", "y", "z"]]
    assert torch.equal(bilm.char_ids(sentences), batch_to_ids(sentences))


def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch):
    monkeypatch.setattr(module, "cpu_bf16_support", lambda: False)
    with pytest.warns(UserWarning, match=r"\[x\] precision: bf16 on this CPU .* slower than fp32"):
        check_precision("bf16", "[x] precision", "cpu")
    monkeypatch.setattr(module, "cpu_bf16_support", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_precision("bf16", "[x] precision", "cpu")
        check_precision("bf16", "[x] precision", "cuda")


def test_cpu_bf16_support_reads_the_flags(monkeypatch):
    monkeypatch.setattr(module.platform, "machine", lambda: "x86_64")
    for flags, expected in (("fma avx2", False), ("avx2 avx512_bf16", True), ("amx_bf16 amx_tile", True)):
        monkeypatch.setattr(module, "_cpuinfo", lambda flags=flags: f"model name\t: X\nflags\t\t: {flags}\n")
        assert module.cpu_bf16_support() is expected
    monkeypatch.setattr(module, "_cpuinfo", lambda: "")
    assert module.cpu_bf16_support() is None
