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
import functools
import platform
import warnings
from typing import Iterator, List, Optional, Tuple

import torch

from ..errors import Errors, OptionsError, Warnings

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Per-op fp32_precision flags of the CPU backend (torch >= 2.9).
_CPU_FLAGS = ("matmul", "conv", "rnn")
# The per-op flags of the CUDA backends, restored exactly after the scope.
_CUDA_FLAGS = (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"))


def check_precision(precision: str, key: str, device_type: str = "cpu") -> str:
    """The precision if it is known and runs on `device_type`, else an
    OptionsError naming the config key.

    key (str): where the value came from, e.g. "[components.elmo.model.bilm] precision".
    """
    if precision not in PRECISIONS:
        raise OptionsError(Errors.E033.format(key=key, value=precision, options=", ".join(PRECISIONS)))
    if precision == "fp16" and device_type != "cuda":
        raise OptionsError(Errors.E034.format(key=key))
    if precision == "bf16" and device_type == "cpu" and cpu_bf16_support() is False:
        warnings.warn(Warnings.W600.format(key=key, cpu=cpu_model()), stacklevel=2)
    return precision


@functools.lru_cache(maxsize=None)
def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_bf16_support() -> Optional[bool]:
    """Whether this CPU multiplies bfloat16 natively (x86: avx512_bf16 or
    amx_bf16 in /proc/cpuinfo); None where that cannot be told (not Linux,
    not x86)."""
    info = _cpuinfo()
    if platform.machine().lower() not in ("x86_64", "amd64") or "flags" not in info:
        return None
    flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor()."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _flag(backend: str, op: str):
    return getattr(getattr(torch.backends, backend), op, None)


def _legacy_flags() -> Tuple[str, bool]:
    """(float32 matmul precision, cuDNN allow_tf32) through the legacy API.
    A getter raises where the caller set per-op flags on top of a legacy
    value they contradict; that legacy value is then torch's default
    ("highest", True) unless the caller also set it, which cannot be read
    back, so the default is what is restored."""
    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = "highest"
    try:
        cudnn = bool(torch.backends.cudnn.allow_tf32)
    except RuntimeError:
        cudnn = True
    return matmul, cudnn


def _per_op_flags(pairs) -> List[Tuple[object, str]]:
    """(flag object, value) of each per-op fp32_precision flag that exists."""
    found = []
    for backend, op in pairs:
        flag = _flag(backend, op)
        if flag is not None and hasattr(flag, "fp32_precision"):
            found.append((flag, flag.fp32_precision))
    return found


@contextlib.contextmanager
def fp32_flags(precision: str) -> Iterator[None]:
    """Within the scope, float32 matmuls, convolutions and RNNs run in IEEE
    float32, or in TF32 on CUDA for precision "tf32" (the CPU backend always
    IEEE); the caller's flags are restored afterwards, also on an exception.
    For a training step, put it around forward and backward.

    The scope sets the legacy switches (`torch.set_float32_matmul_precision`,
    `torch.backends.cudnn.allow_tf32`), so that every getter, old and new,
    stays readable inside it (inductor and the profiler read the old ones;
    setting only the per-op API makes them raise), plus the CPU backend's
    per-op flags, which the legacy matmul switch would set to TF32 too."""
    tf32 = precision == "tf32"
    legacy = _legacy_flags()
    cuda_saved = _per_op_flags(_CUDA_FLAGS)
    cpu_saved = _per_op_flags(("mkldnn", op) for op in _CPU_FLAGS)
    try:
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = tf32
        for flag, _ in cpu_saved:
            flag.fp32_precision = "ieee"  # type: ignore[attr-defined]
        yield
    finally:
        torch.set_float32_matmul_precision(legacy[0])
        torch.backends.cudnn.allow_tf32 = legacy[1]
        # Then the per-op values exactly as they were (the legacy setters
        # write their own, e.g. "ieee" where the caller had "none").
        for flag, value in cuda_saved + cpu_saved:
            flag.fp32_precision = value  # type: ignore[attr-defined]


def compute_dtype(like: torch.Tensor) -> torch.dtype:
    """The dtype matmuls on `like` run in: autocast's where it is on for
    `like`'s device and `like` is float32, else `like`'s own. Code that casts
    its weights once itself (the biLSTM) asks this instead of letting autocast
    cast them again at every op."""
    device_type = like.device.type
    if like.dtype == torch.float32 and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return like.dtype


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
