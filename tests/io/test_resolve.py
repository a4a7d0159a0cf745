"""io/resolve.py: one way to name a model, for every command and config."""
import shutil

import h5py
import numpy
import pytest
import spacy
from typer.testing import CliRunner

from spacy_elmo.cli._app import app
from spacy_elmo.errors import DownloadError
from spacy_elmo.io.resolve import resolve_model, resolve_weights

runner = CliRunner()


def test_folders_by_their_files(tmp_path, fixtures_dir, fixture_bilm_dir):
    # AllenNLP's fixture folder: options.json, lm_weights.hdf5 and other .hdf5 files
    found = resolve_model(str(fixtures_dir))
    assert (found.kind, found.options.name, found.weights.name) == ("bilm-tf", "options.json", "lm_weights.hdf5")
    published = tmp_path / "published"
    published.mkdir()
    shutil.copy(fixtures_dir / "options.json", published / "elmo_2x1024_options.json")
    shutil.copy(fixtures_dir / "lm_weights.hdf5", published / "elmo_2x1024_model.hdf5")
    found = resolve_model(published)
    assert found.kind == "bilm-tf" and found.weights.name == "elmo_2x1024_model.hdf5"
    shutil.copy(fixtures_dir / "lm_weights.hdf5", published / "other.hdf5")
    with pytest.raises(DownloadError, match=r"holds elmo_2x1024_options.json, elmo_2x1024_model.hdf5, other.hdf5.*ambiguous"):
        resolve_model(published)
    assert resolve_model(fixture_bilm_dir).weights == fixture_bilm_dir / "weights.hdf5"
    assert resolve_model("default").kind == "preset"


def test_an_efml_folder_is_one_layout(shared_data):
    folder = shared_data / "efml-fixture" / "models" / "cnn_word_char"
    found = resolve_model(folder)
    assert (found.kind, found.folder, found.options, found.weights) == ("efml", folder, None, None)
    assert found.local_inputs() == [(f"the model {folder}", folder)]
    with pytest.raises(DownloadError, match="'.*cnn_word_char' is an ELMoForManyLangs model folder, not an options"):
        resolve_weights(folder)


def test_what_it_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    for name, start in ((str(tmp_path), "the folder holds no model"), ("nope", "Unknown ELMo weights 'nope'")):
        with pytest.raises(DownloadError) as info:
            resolve_model(name)
        message = str(info.value)
        assert start in message and "Looked for: a preset ('default', 'small'" in message
        for layout in ("options.json + weights.hdf5", "*options.json", "ELMoForManyLangs model folder",
                       "saved spaCy pipeline", "--options-file"):
            assert layout in message


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory, fixture_bilm_dir):
    path = tmp_path_factory.mktemp("pipe") / "pipeline"
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(fixture_bilm_dir)}}})
    nlp.initialize()
    nlp.to_disk(path)
    return path


def test_every_command_and_the_config_take_every_name(tmp_path, fixtures_dir, saved_pipeline):
    """The fixture folder (lm_weights.hdf5) and a saved pipeline, in the
    component's config, embed --weights and dump-token-embeddings; the same
    vectors each way."""
    assert resolve_model(saved_pipeline).kind == "pipeline"
    (tmp_path / "in.txt").write_text("The bank closed .\n")
    (tmp_path / "vocab.txt").write_text("bank\nriver\n")
    outputs = {}
    for name in (fixtures_dir, saved_pipeline):
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(name), "state_mode": "reset"}}})
        nlp.initialize()
        component = nlp("The bank closed .")._.elmo_layers
        out = tmp_path / f"{name.name}.hdf5"
        result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), "--weights", str(name),
                                     "--state-mode", "reset"])
        assert result.exit_code == 0, result.output
        dump = tmp_path / f"{name.name}.tokens.hdf5"
        result = runner.invoke(app, ["dump-token-embeddings", str(name), str(tmp_path / "vocab.txt"), str(dump)])
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as embedded, h5py.File(dump, "r") as tokens:
            outputs[name] = (component, embedded["0"][...], tokens["embedding"][...])
    (a_component, a_embed, a_tokens), (b_component, b_embed, b_tokens) = outputs.values()
    numpy.testing.assert_allclose(a_component, a_embed, rtol=0, atol=1e-6)
    numpy.testing.assert_array_equal(a_embed, b_embed)
    numpy.testing.assert_array_equal(a_tokens, b_tokens)


def test_demo_takes_a_saved_pipeline(saved_pipeline):
    result = runner.invoke(app, ["demo", "--weights", str(saved_pipeline)])
    assert result.exit_code == 0, result.output
    assert "nearest by ELMo" in result.output
