"""Checkpoints for exact resume, and the exported model directories.

`checkpoints/last.pt` holds everything an uninterrupted run would still have
in memory: parameters, optimizer state, step and token counters, every
worker's stream position and carried LSTM state, the random states
(dropout, candidate sampler), and a record of the training files (resolved
name, size, fingerprint) so that resuming on other text is not silent.
`model-last/` and `model-best/` hold the
published bilm-tf layout (options.json + weights.hdf5) plus `softmax/W`,
`softmax/b` in weights.hdf5 and `vocab.txt`.
"""
import hashlib
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import h5py
import numpy
import torch

from ..errors import Errors, InputError, Warnings, WeightsError
from ..io.atomic import atomic_path
from ..io.weights import export_bilm, load_bilm
from .lm import BiLanguageModel
from .vocab import Vocab

PathLike = Union[str, Path]
CHECKPOINT = Path("checkpoints") / "last.pt"
FINGERPRINT_BYTES = 64 * 1024


def vocab_digest(vocab: Vocab) -> str:
    return hashlib.sha256("\n".join(vocab.tokens).encode("utf8")).hexdigest()


def file_records(paths: Sequence[Path]) -> List[Dict[str, Any]]:
    """{path (resolved), size, fingerprint} per file. The fingerprint is the
    sha256 of the size and the first and last 64 KiB: cheap for any corpus,
    and it changes when a file is replaced, extended or cut."""
    records = []
    for path in paths:
        size = path.stat().st_size
        digest = hashlib.sha256(str(size).encode("ascii"))
        with path.open("rb") as handle:
            digest.update(handle.read(FINGERPRINT_BYTES))
            handle.seek(max(size - FINGERPRINT_BYTES, 0))
            digest.update(handle.read(FINGERPRINT_BYTES))
        records.append({"path": str(path.resolve()), "size": size, "fingerprint": digest.hexdigest()})
    return records


def data_diffs(saved: List[Dict[str, Any]], current: List[Dict[str, Any]]) -> List[str]:
    """What differs between two file_records lists; none when the contents are
    the same in the same order (files that moved are the same data)."""
    content = lambda records: [(r["size"], r["fingerprint"]) for r in records]  # noqa: E731
    if content(saved) == content(current):
        return []
    before = {r["path"]: r for r in saved}
    now = {r["path"]: r for r in current}
    diffs = [f"{p} is no longer passed" for p in before if p not in now]
    diffs += [f"{p} is new" for p in now if p not in before]
    for path in (p for p in now if p in before):
        old, new = before[path], now[path]
        if old["size"] != new["size"]:
            diffs.append(f"{path} has {new['size']:,} bytes, {old['size']:,} in the checkpoint")
        elif old["fingerprint"] != new["fingerprint"]:
            diffs.append(f"{path} has the same size but other content")
    return diffs or ["the same files in another order"]


def save_checkpoint(path: Path, payload: Dict[str, Any]) -> None:
    """torch.save to a temporary file beside `path`, then rename."""
    with atomic_path(path, suffix=".pt.tmp") as tmp:
        torch.save(payload, tmp)


def option_diffs(saved: Dict[str, Any], current: Dict[str, Any], what: str) -> List[str]:
    """'model lstm.dim: checkpoint 128, config 64' for each option that differs."""
    diffs = []
    for section in ("lstm", "char_cnn"):
        for key in sorted(set(saved[section]) | set(current[section])):
            if saved[section].get(key) != current[section].get(key):
                diffs.append(
                    f"model {section}.{key}: {what} {saved[section].get(key)!r}, "
                    f"config {current[section].get(key)!r}"
                )
    return diffs


def load_checkpoint(
    path: Path,
    model: BiLanguageModel,
    vocab: Vocab,
    data_files: Optional[List[Dict[str, Any]]] = None,
    allow_data_change: bool = False,
) -> Dict[str, Any]:
    """Read a checkpoint and check it matches the model shape and vocabulary
    before anything is loaded, and that it was trained on the same files.

    data_files (Optional[List[Dict[str, Any]]]): file_records of the training
        files now; None skips the check.
    allow_data_change (bool): warn about other files instead of failing.
    """
    if not path.exists():
        raise InputError(Errors.E209.format(path=path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated / not a torch file
        raise InputError(Errors.E210.format(path=path, err=err)) from None
    diffs = option_diffs(payload["options"], model.config.to_options(), "checkpoint")
    if payload["vocab_size"] != len(vocab) or payload["vocab_sha256"] != vocab_digest(vocab):
        diffs.append(f"vocabulary: checkpoint {payload['vocab_size']} tokens, now {len(vocab)} tokens")
    if diffs:
        raise InputError(Errors.E208.format(path=path, diff="; ".join(diffs)))
    if data_files is not None:
        data = data_diffs(payload["data_files"], data_files)
        if data and not allow_data_change:
            raise InputError(Errors.E223.format(path=path, diff="; ".join(data)))
        if data:
            warnings.warn(Warnings.W201.format(path=path, diff="; ".join(data)), stacklevel=2)
    return payload


def export_model(model: BiLanguageModel, vocab: Vocab, output_dir: PathLike) -> Path:
    """Write options.json + weights.hdf5 (with softmax/W, softmax/b) + vocab.txt."""
    output_dir = Path(output_dir)
    extra = {
        "softmax/W": model.softmax.weight.detach().float().cpu().numpy(),
        "softmax/b": model.softmax.bias.detach().float().cpu().numpy(),
    }
    was = model.bilm.training
    bilm = model.bilm.cpu() if model.softmax.weight.device.type != "cpu" else model.bilm
    try:
        export_bilm(bilm, output_dir, extra=extra)
    finally:
        model.bilm.to(model.softmax.weight.device).train(was)
    vocab.to_disk(output_dir / "vocab.txt")
    return output_dir


def load_model(model_dir: PathLike) -> Tuple[BiLanguageModel, Vocab]:
    """Load an exported model directory (model-last/ or model-best/)."""
    model_dir = Path(model_dir)
    needed = ("options.json", "weights.hdf5", "vocab.txt")
    missing = [n for n in needed if not (model_dir / n).exists()]
    if missing:
        raise WeightsError(Errors.E211.format(path=model_dir, missing=", ".join(missing)))
    bilm = load_bilm(model_dir / "options.json", model_dir / "weights.hdf5")
    vocab = Vocab.from_disk(model_dir / "vocab.txt")
    model = BiLanguageModel(bilm.config, len(vocab))
    model.bilm = bilm
    p = bilm.config.projection_dim
    with h5py.File(model_dir / "weights.hdf5", "r") as handle:
        for key, expected, param in (
            ("softmax/W", (len(vocab), p), model.softmax.weight),
            ("softmax/b", (len(vocab),), model.softmax.bias),
        ):
            if key not in handle:
                raise WeightsError(Errors.E211.format(path=model_dir, missing=f"weights.hdf5 {key}"))
            array = numpy.asarray(handle[key][...], dtype=numpy.float32)
            if array.shape != expected:
                raise WeightsError(
                    Errors.E212.format(
                        path=model_dir / "weights.hdf5", key=key, shape=array.shape,
                        n_vocab=len(vocab), expected=expected,
                    )
                )
            with torch.no_grad():
                param.copy_(torch.from_numpy(array))
    return model.eval(), vocab
