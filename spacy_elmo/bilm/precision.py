"""Numeric precision: one vocabulary for inference (the `elmo` component,
`embed`) and pretraining ([training] precision).

- "fp32" (default, exact): float32 everywhere. PyTorch lets cuDNN run float32
  convolutions and RNNs in TF32 by default (10-bit mantissa), which moved GPU
  outputs 2e-3 away from the CPU's; inside our scope TF32 is off for matmuls,
  convolutions and RNNs on every backend, and the caller's flags are restored
  afterwards (we never change a process-wide setting for good).
- "tf32": float32 storage with TF32 matmuls and convolutions on CUDA (Ampere
  and later); the same as "fp32" on the CPU.
- "bf16": bfloat16 autocast of matmuls and convolutions (CUDA, and CPUs with
  bf16 instructions); not exact.
- "fp16": float16 autocast (CUDA only; pretraining scales the loss).
"""
import contextlib
from typing import Iterator, List, Tuple

import torch

from ..errors import Errors, OptionsError

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# (backend, operator) pairs of torch's fp32_precision flags (torch >= 2.9).
_CUDA_FLAGS = (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"))
_CPU_FLAGS = (("mkldnn", "matmul"), ("mkldnn", "conv"), ("mkldnn", "rnn"))


def check_precision(precision: str, key: str, device_type: str = "cpu") -> str:
    """The precision if it is known and runs on `device_type`, else an
    OptionsError naming the config key.

    key (str): where the value came from, e.g. "[components.elmo.model.bilm] precision".
    """
    if precision not in PRECISIONS:
        raise OptionsError(Errors.E033.format(key=key, value=precision, options=", ".join(PRECISIONS)))
    if precision == "fp16" and device_type != "cuda":
        raise OptionsError(Errors.E034.format(key=key))
    return precision


def _flag(backend: str, op: str):
    return getattr(getattr(torch.backends, backend), op, None)


def _has_precision_api() -> bool:
    flag = _flag("cuda", "matmul")
    return flag is not None and hasattr(flag, "fp32_precision")


@contextlib.contextmanager
def fp32_flags(precision: str) -> Iterator[None]:
    """Within the scope, float32 matmuls, convolutions and RNNs run in IEEE
    float32, or in TF32 on CUDA for precision "tf32" (CPU backends always
    IEEE); the caller's flags are restored afterwards. For a training step,
    put it around forward and backward."""
    value = "tf32" if precision == "tf32" else "ieee"
    saved: List[Tuple[object, str, object]] = []
    try:
        if _has_precision_api():
            for backend, op in _CUDA_FLAGS + _CPU_FLAGS:
                flag = _flag(backend, op)
                if flag is None or not hasattr(flag, "fp32_precision"):
                    continue
                saved.append((flag, "fp32_precision", flag.fp32_precision))
                flag.fp32_precision = value if backend != "mkldnn" else "ieee"
        else:  # older torch: the allow_tf32 switches
            allow = value == "tf32"
            for flag in (torch.backends.cuda.matmul, torch.backends.cudnn):
                saved.append((flag, "allow_tf32", flag.allow_tf32))
                flag.allow_tf32 = allow
        yield
    finally:
        for flag, attr, old in reversed(saved):
            setattr(flag, attr, old)


def autocast(precision: str, device_type: str, cache_enabled: bool = True) -> torch.autocast:
    """torch.autocast to bfloat16 / float16 for "bf16" / "fp16", disabled
    otherwise. For a training step, put it around the forward pass only.

    cache_enabled (bool): autocast's cache of weight casts; must be off while
        capturing a CUDA graph (PyTorch CUDA semantics, "Usage with torch.cuda.amp").
    """
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(
        device_type, dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=cache_enabled
    )


@contextlib.contextmanager
def precision_scope(precision: str, device_type: str) -> Iterator[None]:
    """Run the enclosed inference code in `precision` on `device_type` ("cpu"
    or "cuda"): `fp32_flags` and `autocast` together (the ops autocast keeps in
    float32 run without TF32 unless precision is "tf32")."""
    with fp32_flags(precision), autocast(precision, device_type):
        yield
