"""bilm/precision.py: one precision vocabulary for the component, embed and
pretraining; exact float32 is scoped, never left switched."""
import pytest
import torch

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


@pytest.mark.parametrize("precision", PRECISIONS)
def test_scope_sets_ieee_or_tf32_and_restores_the_callers_flags(precision):
    before = _flags()
    torch.backends.cuda.matmul.fp32_precision = "tf32"  # a user's own global choice
    try:
        changed = _flags()
        with fp32_flags(precision):
            inside = _flags()
        assert _flags() == changed
    finally:
        torch.backends.cuda.matmul.fp32_precision = before["cuda.matmul"]
    expected = "tf32" if precision == "tf32" else "ieee"
    assert inside["cuda.matmul"] == inside["cudnn.conv"] == inside["cudnn.rnn"] == expected
    assert inside["mkldnn.matmul"] == inside["mkldnn.conv"] == "ieee"


def test_scope_restores_flags_after_an_error():
    before = _flags()
    with pytest.raises(RuntimeError):
        with precision_scope("fp32", "cpu"):
            raise RuntimeError("boom")
    assert _flags() == before


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
