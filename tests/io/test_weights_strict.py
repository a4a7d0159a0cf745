"""Weights that hold more of the model than options.json names (LSTM layers,
char-CNN filters, highway layers) are an error unless strict is off."""
import json
import shutil

import h5py
import numpy
import pytest
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.errors import WeightsError
from spacy_elmo.io.pretrained import load_pretrained_bilm
from spacy_elmo.io.weights import load_bilm

SENT = [["ELMo", "vectors", "are", "contextual", "."], ["Yes", "."]]


def options_with(fixtures_dir, tmp_path, mutate):
    options = json.loads((fixtures_dir / "options.json").read_text())
    mutate(options)
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options))
    return path


def one_layer(options):
    options["lstm"]["n_layers"] = 1


def one_highway(options):
    options["char_cnn"]["n_highway"] = 1


def four_filters(options):
    options["char_cnn"]["filters"] = options["char_cnn"]["filters"][:4]


@pytest.mark.parametrize(
    "mutate,found",
    [
        (one_layer, "2 LSTM layers (the options: lstm.n_layers 1)"),
        (one_highway, "2 highway layers (the options: char_cnn.n_highway 1)"),
        (four_filters, "5 char-CNN filters (the options: char_cnn.filters 4)"),
    ],
)
def test_weights_with_unnamed_parts_are_an_error(fixtures_dir, tmp_path, mutate, found):
    options = options_with(fixtures_dir, tmp_path, mutate)
    weights = fixtures_dir / "lm_weights.hdf5"
    with pytest.raises(WeightsError, match="E015|hold more") as info:
        load_bilm(options, weights)
    text = str(info.value)
    assert found in text and str(weights) in text and str(options) in text
    assert "--strict false" in text
    with pytest.raises(WeightsError, match="hold more"):
        load_pretrained_bilm(None, options_file=str(options), weight_file=str(weights))


def test_strict_false_loads_what_the_options_name_with_a_warning(fixtures_dir, tmp_path):
    options = options_with(fixtures_dir, tmp_path, one_layer)
    weights = fixtures_dir / "lm_weights.hdf5"
    with pytest.warns(UserWarning, match=r"2 LSTM layers \(the options: lstm.n_layers 1\)"):
        small = load_bilm(options, weights, strict=False)
    full = load_bilm(fixtures_dir / "options.json", weights)
    assert small.config.n_layers == 1
    ids = batch_to_ids(SENT)
    got, _ = small.embed(ids, "reset")
    want, _ = full.embed(ids, "reset")
    # the first LSTM layer does not depend on the second: same numbers
    assert got.shape[1] == 2
    torch.testing.assert_close(got, want[:, :2], rtol=0, atol=0)
    with pytest.warns(UserWarning, match="strict is off"):
        load_pretrained_bilm(None, options_file=str(options), weight_file=str(weights), strict=False)


def test_matching_weights_and_a_softmax_group_load_without_a_warning(fixtures_dir, tmp_path, recwarn):
    """A pretraining export carries softmax/W and softmax/b: not part of the biLM."""
    weights = tmp_path / "weights.hdf5"
    shutil.copy(fixtures_dir / "lm_weights.hdf5", weights)
    with h5py.File(weights, "a") as f:
        f["softmax/W"] = numpy.zeros((10, 16), dtype=numpy.float32)
        f["softmax/b"] = numpy.zeros((10,), dtype=numpy.float32)
    load_bilm(fixtures_dir / "options.json", weights)
    assert not [w for w in recwarn if "hold more" in str(w.message)]


def test_dump_token_embeddings_strict_switch(fixtures_dir, tmp_path):
    """The command loads weights too: the same check and the same switch."""
    from typer.testing import CliRunner

    from spacy_elmo.cli._app import app

    runner = CliRunner()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    options_with(fixtures_dir, model_dir, one_layer)
    shutil.copy(fixtures_dir / "lm_weights.hdf5", model_dir / "weights.hdf5")
    vocab = fixtures_dir / "vocab_test.txt"
    result = runner.invoke(app, ["dump-token-embeddings", str(model_dir), str(vocab), str(tmp_path / "a.hdf5")])
    assert result.exit_code == 1 and "2 LSTM layers (the options: lstm.n_layers 1)" in " ".join(result.output.split())
    with pytest.warns(UserWarning, match="strict is off"):
        result = runner.invoke(
            app, ["dump-token-embeddings", str(model_dir), str(vocab), str(tmp_path / "a.hdf5"), "--strict", "false"]
        )
    assert result.exit_code == 0, result.output
    full = runner.invoke(app, ["dump-token-embeddings", str(fixtures_dir), str(vocab), str(tmp_path / "b.hdf5")])
    assert full.exit_code == 0, full.output
    with h5py.File(tmp_path / "a.hdf5", "r") as a, h5py.File(tmp_path / "b.hdf5", "r") as b:
        numpy.testing.assert_array_equal(a["embedding"][...], b["embedding"][...])  # the char CNN is all there


def test_component_strict_setting(fixtures_dir, tmp_path):
    """[components.elmo.model.bilm] strict: the same check in a pipeline,
    and `strict = false` loads with the warning."""
    import spacy

    options = options_with(fixtures_dir, tmp_path, one_layer)
    bilm = {"weights": None, "options_file": str(options), "weight_file": str(fixtures_dir / "lm_weights.hdf5")}
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": bilm}})
    with pytest.raises(WeightsError, match="hold more"):
        nlp.initialize()
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {**bilm, "strict": False}}})
    with pytest.warns(UserWarning, match="strict is off"):
        nlp.initialize()
    assert nlp("A test .")._.elmo_layers.shape[0] == 2  # char CNN + the one named LSTM layer
