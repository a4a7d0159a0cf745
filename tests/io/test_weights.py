"""options.json / weights.hdf5: loading, exporting, and clear errors."""
import json
import shutil

import h5py
import numpy
import pytest
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.model import BiLM
from spacy_elmo.errors import OptionsError, WeightsError
from spacy_elmo.io.weights import export_bilm, load_bilm, read_options

SENT = [["ELMo", "vectors", "are", "contextual", "."], ["Yes", "."]]


def test_export_round_trip_is_bit_identical(fixtures_dir, tmp_path):
    model = load_bilm(fixtures_dir / "options.json", fixtures_dir / "lm_weights.hdf5")
    export_bilm(model, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["options.json", "weights.hdf5"]
    with h5py.File(fixtures_dir / "lm_weights.hdf5", "r") as ref, h5py.File(
        tmp_path / "out" / "weights.hdf5", "r"
    ) as ours:
        names = []
        ref.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            assert numpy.array_equal(ref[name][...], ours[name][...]), name
    again = load_bilm(tmp_path / "out" / "options.json", tmp_path / "out" / "weights.hdf5")
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    ids = batch_to_ids(SENT)
    assert torch.equal(model.embed(ids, "reset")[0], again.embed(ids, "reset")[0])


@pytest.mark.parametrize(
    "options",
    [
        # any config bilm-tf can write: other filters, no highway, 3 layers, no clipping, tanh
        {"lstm": {"dim": 8, "projection_dim": 4, "n_layers": 3, "use_skip_connections": False},
         "char_cnn": {"embedding": {"dim": 3}, "filters": [[1, 2], [3, 5]], "n_highway": 0,
                      "n_characters": 261, "max_characters_per_token": 50, "activation": "tanh"}},
        {"lstm": {"dim": 6, "projection_dim": 5, "n_layers": 1, "cell_clip": 1.5, "proj_clip": 0.5},
         "char_cnn": {"embedding": {"dim": 2}, "filters": [[2, 3]], "n_highway": 3,
                      "n_characters": 262, "max_characters_per_token": 20, "activation": "relu"}},
    ],
)
def test_any_bilm_tf_shape_exports_and_loads(options, tmp_path):
    torch.manual_seed(0)
    config = BiLMConfig.from_options(options)
    model = BiLM(config)
    for p in model.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    export_bilm(model, tmp_path)
    loaded = load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    assert loaded.config == config
    ids = batch_to_ids(SENT, max_chars=config.max_chars)
    layers, n = loaded.embed(ids, "reset")
    assert layers.shape == (2, config.n_layers + 1, 5, 2 * config.projection_dim)
    assert torch.equal(layers, model.embed(ids, "reset")[0])
    if config.proj_clip is not None:
        assert layers[:, 1:].abs().max() <= config.proj_clip * (2 if config.use_skip_connections else 1)


def write_options(path, mutate):
    options = json.loads((path.parent / "base.json").read_text())
    mutate(options)
    path.write_text(json.dumps(options))
    return path


@pytest.fixture
def options_dir(fixtures_dir, tmp_path):
    shutil.copy(fixtures_dir / "options.json", tmp_path / "base.json")
    return tmp_path


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda o: o["lstm"].pop("dim"), "lstm.dim"),
        (lambda o: o.pop("char_cnn"), "char_cnn"),
        (lambda o: o["char_cnn"]["embedding"].pop("dim"), "char_cnn.embedding.dim"),
        (lambda o: o["char_cnn"].__setitem__("activation", "gelu"), "char_cnn.activation"),
        (lambda o: o["char_cnn"].__setitem__("filters", []), "char_cnn.filters"),
        (lambda o: o["char_cnn"].__setitem__("filters", [[1, "a"]]), "char_cnn.filters"),
        (lambda o: o["lstm"].__setitem__("n_layers", 0), "lstm.n_layers"),
        (lambda o: o["lstm"].__setitem__("cell_clip", -1), "lstm.cell_clip"),
    ],
)
def test_bad_options_name_the_key(options_dir, mutate, match):
    path = write_options(options_dir / "options.json", mutate)
    with pytest.raises(OptionsError, match=match) as info:
        read_options(path)
    assert str(path) in str(info.value)


def test_options_not_json(tmp_path):
    (tmp_path / "options.json").write_text("{lstm: ")
    with pytest.raises(OptionsError, match="not valid JSON"):
        read_options(tmp_path / "options.json")


def test_missing_files(fixtures_dir, tmp_path):
    with pytest.raises(OptionsError, match="does not exist"):
        read_options(tmp_path / "nope.json")
    with pytest.raises(WeightsError, match="does not exist"):
        load_bilm(fixtures_dir / "options.json", tmp_path / "nope.hdf5")


def test_missing_dataset(fixtures_dir, tmp_path):
    path = tmp_path / "w.hdf5"
    shutil.copy(fixtures_dir / "lm_weights.hdf5", path)
    with h5py.File(path, "a") as f:
        del f["CNN_high_1/W_carry"]
    with pytest.raises(WeightsError, match="CNN_high_1/W_carry") as info:
        load_bilm(fixtures_dir / "options.json", path)
    assert "is missing" in str(info.value)


def test_shape_disagrees_with_options(fixtures_dir, tmp_path):
    options = json.loads((fixtures_dir / "options.json").read_text())
    options["lstm"]["dim"] = 32
    (tmp_path / "options.json").write_text(json.dumps(options))
    with pytest.raises(WeightsError, match=r"RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0.*\(32, 256\).*\(32, 128\)"):
        load_bilm(tmp_path / "options.json", fixtures_dir / "lm_weights.hdf5")


def test_truncated_hdf5(fixtures_dir, tmp_path):
    data = (fixtures_dir / "lm_weights.hdf5").read_bytes()
    path = tmp_path / "weights.hdf5"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="truncated or corrupt") as info:
        load_bilm(fixtures_dir / "options.json", path)
    assert str(path) in str(info.value)


def test_not_hdf5(fixtures_dir, tmp_path):
    path = tmp_path / "weights.hdf5"
    path.write_text("<html>404</html>")
    with pytest.raises(WeightsError, match="cannot read this file as HDF5"):
        load_bilm(fixtures_dir / "options.json", path)


def test_written_files_get_normal_permissions(tmp_path, fixtures_dir):
    """Atomic writes go through mkstemp (mode 0600); the finished files get
    the permissions a plain open() would give (0666 minus the umask)."""
    import os

    from spacy_elmo.io.atomic import atomic_write_text
    from spacy_elmo.io.weights import export_bilm, load_bilm

    umask = os.umask(0)
    os.umask(umask)
    model = load_bilm(fixtures_dir / "options.json", fixtures_dir / "lm_weights.hdf5")
    export_bilm(model, tmp_path / "out")
    atomic_write_text(tmp_path / "x.json", "{}\n")
    for path in (tmp_path / "out" / "weights.hdf5", tmp_path / "out" / "options.json", tmp_path / "x.json"):
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask, path
