"""Read and write the bilm-tf/AllenNLP weight format: `options.json` +
`weights.hdf5` (TensorFlow orientation, x @ W). See ELMO_FORMAT.md."""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Union

import numpy
import torch

from ..bilm.config import BiLMConfig
from ..bilm.model import BiLM
from ..errors import Errors, OptionsError, WeightsError

PathLike = Union[str, Path]
LSTM_PREFIX = "RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def read_options(path: PathLike) -> BiLMConfig:
    """Parse and validate an options.json file."""
    path = Path(path)
    if not path.exists():
        raise OptionsError(
            Errors.E013.format(path=path, hint="Pass the options.json that belongs to the weights.")
        )
    try:
        options = json.loads(path.read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OptionsError(Errors.E003.format(path=path, err=err)) from None
    return BiLMConfig.from_options(options, path=str(path))


def _tf_to_torch(config: BiLMConfig) -> Iterator[Tuple[str, Tuple[int, ...], Any]]:
    """(dataset name, expected file shape, setter(module, array)) for every
    dataset the biLM needs."""
    nf, p, d = config.n_filters, config.projection_dim, config.lstm_dim

    def setter(get_param, convert):
        def apply(model: BiLM, array: numpy.ndarray) -> None:
            param = get_param(model)
            param.copy_(torch.from_numpy(numpy.ascontiguousarray(convert(array))))

        return apply

    yield "char_embed", (261, config.char_dim), setter(
        lambda m: m.char_cnn.char_embed.weight[1:], lambda a: a
    )
    for i, (width, n) in enumerate(config.filters):
        yield f"CNN/W_cnn_{i}", (1, width, config.char_dim, n), setter(
            lambda m, i=i: m.char_cnn.convs[i].weight, lambda a: a[0].transpose(2, 1, 0)
        )
        yield f"CNN/b_cnn_{i}", (n,), setter(lambda m, i=i: m.char_cnn.convs[i].bias, lambda a: a)
    for k in range(config.n_highway):
        for kind in ("transform", "carry"):
            yield f"CNN_high_{k}/W_{kind}", (nf, nf), setter(
                lambda m, k=k, kind=kind: getattr(m.char_cnn.highway, kind)[k].weight, lambda a: a.T
            )
            yield f"CNN_high_{k}/b_{kind}", (nf,), setter(
                lambda m, k=k, kind=kind: getattr(m.char_cnn.highway, kind)[k].bias, lambda a: a
            )
    yield "CNN_proj/W_proj", (nf, p), setter(lambda m: m.char_cnn.proj.weight, lambda a: a.T)
    yield "CNN_proj/b_proj", (p,), setter(lambda m: m.char_cnn.proj.bias, lambda a: a)
    for layer in range(config.n_layers):
        for direction in (0, 1):
            prefix = LSTM_PREFIX.format(direction=direction, layer=layer)
            yield f"{prefix}/W_0", (p + p, 4 * d), setter(
                lambda m, l=layer, r=direction: _LstmW0(m.lstm.layers[l], r), lambda a: a
            )
            yield f"{prefix}/B", (4 * d,), setter(
                lambda m, l=layer, r=direction: m.lstm.layers[l].bias[r], lambda a: a
            )
            yield f"{prefix}/W_P_0", (d, p), setter(
                lambda m, l=layer, r=direction: m.lstm.layers[l].weight_proj[r], lambda a: a
            )


class _LstmW0:
    """W_0 in the file is [W_ih; W_hh] stacked on the input axis; ours are two
    tensors. Quacks like a parameter for `copy_` and `data`."""

    def __init__(self, layer, direction: int):
        self.layer = layer
        self.direction = direction

    def copy_(self, value: torch.Tensor) -> None:
        n_in = self.layer.weight_ih.shape[1]
        self.layer.weight_ih[self.direction].copy_(value[:n_in])
        self.layer.weight_hh[self.direction].copy_(value[n_in:])

    @property
    def data(self) -> torch.Tensor:
        return torch.cat(
            [self.layer.weight_ih[self.direction], self.layer.weight_hh[self.direction]], dim=0
        )


def load_weights(model: BiLM, weight_file: PathLike) -> None:
    """Copy every dataset of a bilm-tf weights.hdf5 into `model`, checking
    names and shapes against the model's config."""
    import h5py

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
    with handle, torch.no_grad():
        for name, shape, apply in _tf_to_torch(config):
            if name not in handle:
                raise WeightsError(
                    Errors.E010.format(
                        path=path, name=name, n_layers=config.n_layers,
                        n_highway=config.n_highway, n_filters=len(config.filters),
                    )
                )
            dataset = handle[name]
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
            apply(model, array)


def load_bilm(options_file: PathLike, weight_file: PathLike) -> BiLM:
    """Build a BiLM from options.json and load weights.hdf5 into it."""
    model = BiLM(read_options(options_file))
    load_weights(model, weight_file)
    return model.eval()


def export_bilm(model: BiLM, output_dir: PathLike, extra: Dict[str, numpy.ndarray] = {}) -> Path:
    """Write `options.json` + `weights.hdf5` in the bilm-tf layout that bilm-tf,
    AllenNLP and `load_bilm` read. Written to temporary files and renamed.

    extra (Dict[str, ndarray]): more datasets (e.g. a softmax under its own group).
    RETURNS (Path): output_dir.
    """
    import h5py

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays: Dict[str, numpy.ndarray] = {}
    with torch.no_grad():
        for name, shape, _ in _tf_to_torch(model.config):
            arrays[name] = _read_back(model, name, shape)
    arrays.update(extra)
    fd, tmp = tempfile.mkstemp(dir=output_dir, suffix=".hdf5.tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as handle:
            for name, array in arrays.items():
                handle.create_dataset(name, data=array)
        os.replace(tmp, output_dir / "weights.hdf5")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    atomic_write_text(output_dir / "options.json", json.dumps(model.config.to_options(), indent=2))
    return output_dir


def _read_back(model: BiLM, name: str, shape: Tuple[int, ...]) -> numpy.ndarray:
    """The file array for dataset `name`: the inverse of the loader's setter."""
    cnn = model.char_cnn
    parts = name.split("/")
    if name == "char_embed":
        return cnn.char_embed.weight[1:].cpu().numpy().copy()
    if parts[0] == "CNN":
        i = int(parts[1].rsplit("_", 1)[1])
        if parts[1].startswith("W_"):
            return cnn.convs[i].weight.cpu().numpy().transpose(2, 1, 0)[None].copy()
        return cnn.convs[i].bias.cpu().numpy().copy()
    if parts[0].startswith("CNN_high_"):
        k = int(parts[0].rsplit("_", 1)[1])
        kind = parts[1].split("_", 1)[1]
        linear = getattr(cnn.highway, kind)[k]
        return (linear.weight.T if parts[1].startswith("W_") else linear.bias).cpu().numpy().copy()
    if parts[0] == "CNN_proj":
        return (cnn.proj.weight.T if parts[1] == "W_proj" else cnn.proj.bias).cpu().numpy().copy()
    direction = int(parts[0].split("_")[1])
    layer = model.lstm.layers[int(parts[3][len("Cell") :])]
    if parts[-1] == "W_0":
        return _LstmW0(layer, direction).data.cpu().numpy().copy()
    if parts[-1] == "B":
        return layer.bias[direction].cpu().numpy().copy()
    return layer.weight_proj[direction].cpu().numpy().copy()


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to a temporary file beside `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
