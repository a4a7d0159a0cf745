"""Read and write the bilm-tf/AllenNLP weight format: `options.json` +
`weights.hdf5` (TensorFlow orientation, x @ W). See ELMO_FORMAT.md."""
import json
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import h5py
import numpy
import torch

from ..bilm.config import BiLMConfig
from ..bilm.model import BiLM
from ..errors import Errors, OptionsError, Warnings, WeightsError
from .atomic import atomic_path, atomic_write_text

PathLike = Union[str, Path]
LSTM_PREFIX = "RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
# Numbered parts of the model a weights file can hold more of than the
# options name: (what, dataset name pattern, options key, count in the config).
NUMBERED_PARTS: Tuple[Tuple[str, "re.Pattern[str]", str, Callable[[BiLMConfig], int]], ...] = (
    ("LSTM layers", re.compile(r"^RNN_[01]/RNN/MultiRNNCell/Cell(\d+)/"), "lstm.n_layers",
     lambda c: c.n_layers),
    ("char-CNN filters", re.compile(r"^CNN/[Wb]_cnn_(\d+)$"), "char_cnn.filters",
     lambda c: len(c.filters)),
    ("highway layers", re.compile(r"^CNN_high_(\d+)/"), "char_cnn.n_highway",
     lambda c: c.n_highway),
)


def read_options(path: PathLike) -> BiLMConfig:
    """Parse and validate an options.json file."""
    path = Path(path)
    if not path.exists():
        raise OptionsError(
            Errors.E013.format(path=path, hint="Pass the options.json that belongs to the weights.")
        )
    try:
        options = json.loads(path.read_text(encoding="utf8"))
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, too deep, huge ints
        raise OptionsError(Errors.E003.format(path=path, err=err)) from None
    return BiLMConfig.from_options(options, path=str(path))


class _Entry:
    """One dataset of the file: its name, its shape, and how it maps onto the
    model (`get` returns the file-oriented array, `set` copies one in)."""

    def __init__(self, name: str, shape: Tuple[int, ...], tensor, to_file, from_file):
        self.name, self.shape = name, shape
        self._tensor, self._to_file, self._from_file = tensor, to_file, from_file

    def get(self, model: BiLM) -> numpy.ndarray:
        return numpy.ascontiguousarray(self._to_file(self._tensor(model).detach().cpu().numpy()))

    def set(self, model: BiLM, array: numpy.ndarray) -> None:
        value = torch.from_numpy(numpy.ascontiguousarray(self._from_file(array)))
        self._tensor(model).copy_(value)


def _same(a: numpy.ndarray) -> numpy.ndarray:
    return a


def _transpose(a: numpy.ndarray) -> numpy.ndarray:
    return a.T


def _entries(config: BiLMConfig) -> Iterator[_Entry]:
    """Every dataset the biLM needs, in the file's (TensorFlow) orientation."""
    nf, p, d = config.n_filters, config.projection_dim, config.lstm_dim
    yield _Entry("char_embed", (261, config.char_dim),
                 lambda m: m.char_cnn.char_embed.weight[1:], _same, _same)
    for i, (width, n) in enumerate(config.filters):
        # TF conv2d (1, width, char_dim, n) <-> Conv1d (n, char_dim, width)
        yield _Entry(f"CNN/W_cnn_{i}", (1, width, config.char_dim, n),
                     lambda m, i=i: m.char_cnn.convs[i].weight,
                     lambda a: a.transpose(2, 1, 0)[None], lambda a: a[0].transpose(2, 1, 0))
        yield _Entry(f"CNN/b_cnn_{i}", (n,), lambda m, i=i: m.char_cnn.convs[i].bias, _same, _same)
    for k in range(config.n_highway):
        for kind in ("transform", "carry"):
            linear = lambda m, k=k, kind=kind: getattr(m.char_cnn.highway, kind)[k]  # noqa: E731
            yield _Entry(f"CNN_high_{k}/W_{kind}", (nf, nf),
                         lambda m, f=linear: f(m).weight, _transpose, _transpose)
            yield _Entry(f"CNN_high_{k}/b_{kind}", (nf,), lambda m, f=linear: f(m).bias, _same, _same)
    yield _Entry("CNN_proj/W_proj", (nf, p), lambda m: m.char_cnn.proj.weight, _transpose, _transpose)
    yield _Entry("CNN_proj/b_proj", (p,), lambda m: m.char_cnn.proj.bias, _same, _same)
    for layer in range(config.n_layers):
        for r in (0, 1):
            prefix = LSTM_PREFIX.format(direction=r, layer=layer)
            lstm = lambda m, l=layer: m.lstm.layers[l]  # noqa: E731
            # W_0 is [W_ih; W_hh] stacked on the input axis; ours are two tensors.
            yield _Entry(f"{prefix}/W_0", (p + p, 4 * d),
                         lambda m, f=lstm, r=r: _StackedW0(f(m), r), _same, _same)
            yield _Entry(f"{prefix}/B", (4 * d,), lambda m, f=lstm, r=r: f(m).bias[r], _same, _same)
            yield _Entry(f"{prefix}/W_P_0", (d, p),
                         lambda m, f=lstm, r=r: f(m).weight_proj[r], _same, _same)


class _StackedW0:
    """A view of one direction's [W_ih; W_hh] with the tensor methods _Entry uses."""

    def __init__(self, layer, direction: int):
        self.ih = layer.weight_ih[direction]
        self.hh = layer.weight_hh[direction]

    def copy_(self, value: torch.Tensor) -> None:
        self.ih.copy_(value[: self.ih.shape[0]])
        self.hh.copy_(value[self.ih.shape[0] :])

    def detach(self) -> torch.Tensor:
        return torch.cat([self.ih, self.hh], dim=0).detach()


def unnamed_parts(handle: h5py.File, config: BiLMConfig) -> List[str]:
    """What a weights file holds beyond what `config` names: LSTM layers,
    char-CNN filters or highway layers, each as "N <what> (options: KEY M)".
    Other groups (a pretraining softmax) are not part of the biLM and ignored."""
    names: List[str] = []
    handle.visit(names.append)
    extra = []
    for what, pattern, key, count in NUMBERED_PARTS:
        found = max((int(m.group(1)) for m in map(pattern.match, names) if m), default=-1) + 1
        if found > count(config):
            extra.append(f"{found} {what} (the options: {key} {count(config)})")
    return extra


def load_weights(
    model: BiLM, weight_file: PathLike, *, strict: bool = True, options_file: Optional[PathLike] = None
) -> None:
    """Copy every dataset of a bilm-tf weights.hdf5 into `model`, checking
    names and shapes against the model's config.

    strict (bool): a file with more LSTM layers, filters or highway layers
        than the config names is an error (else a warning, and only what the
        config names is loaded).
    options_file (Optional[PathLike]): where the config came from, for messages.
    """
    path = Path(weight_file)
    if not path.exists():
        raise WeightsError(
            Errors.E013.format(path=path, hint="Pass the weights.hdf5 that belongs to options.json.")
        )
    config = model.config
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise WeightsError(Errors.E012.format(path=path, err=err)) from None
    with handle:
        extra = unnamed_parts(handle, config)
        if extra:
            details = dict(path=path, extra="; ".join(extra), options=options_file or "options.json")
            if strict:
                raise WeightsError(Errors.E015.format(**details))
            warnings.warn(Warnings.W015.format(**details), stacklevel=2)
        load_arrays(model, handle, path)


def load_arrays(
    model: BiLM, source: Mapping[str, Any], path: PathLike, *, skip: Sequence[str] = ()
) -> None:
    """Copy arrays named and oriented as in weights.hdf5 (an open h5py file,
    or a dict of numpy arrays converted from another format) into `model`,
    checking names and shapes against the model's config.

    skip (Sequence[str]): names the caller fills itself (a converted model
        whose character table is not bilm-tf's).
    """
    config = model.config
    with torch.no_grad():
        for entry in _entries(config):
            name, shape = entry.name, entry.shape
            if name in skip:
                continue
            if name not in source:
                raise WeightsError(
                    Errors.E010.format(
                        path=path, name=name, n_layers=config.n_layers,
                        n_highway=config.n_highway, n_filters=len(config.filters),
                    )
                )
            dataset = source[name]
            if tuple(dataset.shape) != shape:
                raise WeightsError(
                    Errors.E011.format(path=path, name=name, shape=tuple(dataset.shape), expected=shape)
                )
            try:
                array = numpy.asarray(dataset[...], dtype=numpy.float32)
            except OSError as err:
                raise WeightsError(Errors.E012.format(path=path, err=err)) from None
            if not numpy.isfinite(array).all():
                raise WeightsError(
                    Errors.E011.format(path=path, name=name, shape="non-finite values", expected=shape)
                )
            entry.set(model, array)


def load_bilm(options_file: PathLike, weight_file: PathLike, *, strict: bool = True) -> BiLM:
    """Build a BiLM from options.json and load weights.hdf5 into it.

    strict (bool): weights with LSTM layers, filters or highway layers that
        options.json does not name are an error; False loads what the options
        name, with a warning.
    """
    model = BiLM(read_options(options_file))
    load_weights(model, weight_file, strict=strict, options_file=options_file)
    return model.eval()


def export_bilm(
    model: BiLM, output_dir: PathLike, extra: Optional[Dict[str, numpy.ndarray]] = None
) -> Path:
    """Write `options.json` + `weights.hdf5` in the bilm-tf layout that bilm-tf,
    AllenNLP and `load_bilm` read. Written to temporary files and renamed.

    extra (Dict[str, ndarray]): more datasets (e.g. a softmax under its own group).
    RETURNS (Path): output_dir.
    """
    output_dir = Path(output_dir)
    arrays = {entry.name: entry.get(model) for entry in _entries(model.config)}
    arrays.update(extra or {})
    with atomic_path(output_dir / "weights.hdf5", suffix=".hdf5.tmp") as tmp:
        with h5py.File(tmp, "w") as handle:
            for name, array in arrays.items():
                handle.create_dataset(name, data=array)
    atomic_write_text(output_dir / "options.json", json.dumps(model.config.to_options(), indent=2))
    return output_dir


