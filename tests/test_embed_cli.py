"""`python -m spacy elmo embed`: parity through the command, AllenNLP's layout."""
import json
import subprocess
import sys

import h5py
import numpy
import pytest
from typer.testing import CliRunner

from conftest import DEFAULT_DIM
from spacy_elmo.cli._app import app

runner = CliRunner()


def write_fixture_input(fixtures_dir, path):
    """Lines in bilm-tf's batch order: batch i = sentence i of lists 0, 1, 2."""
    lists = json.loads((fixtures_dir / "sentences.json").read_text())
    lines = [lists[k][i] for i in range(10) for k in range(3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return lines


def test_embed_stateful_matches_bilm_tf(fixtures_dir, tmp_path):
    lines = write_fixture_input(fixtures_dir, tmp_path / "in.txt")
    out = tmp_path / "out.hdf5"
    result = runner.invoke(
        app,
        ["embed", str(tmp_path / "in.txt"), str(out), "--options-file",
         str(fixtures_dir / "options.json"), "--weight-file", str(fixtures_dir / "lm_weights.hdf5"),
         "--all", "--batch-size", "3", "--stateful"],
    )
    assert result.exit_code == 0, result.output
    refs = [h5py.File(fixtures_dir / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    with h5py.File(out, "r") as f:
        for line_index in range(30):
            i, k = divmod(line_index, 3)
            got = f[str(line_index)][...]
            assert got.dtype == numpy.float32
            assert got.shape == (3, len(lines[line_index].split()), 32)
            expected = numpy.concatenate(list(refs[k][str(i)][...]), axis=-1)
            numpy.testing.assert_allclose(got[2], expected, rtol=0, atol=1e-6)
        mapping = json.loads(f["sentence_to_index"][0])
    assert mapping[lines[4]] == "4" and len(mapping) == 30


@pytest.mark.parametrize("flag,ndim", [("--top", 2), ("--average", 2), ("--all", 3)])
def test_output_layouts(tmp_path, flag, ndim):
    (tmp_path / "in.txt").write_text("Hello world .\nA second line here\n")
    out = tmp_path / "o.hdf5"
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), flag])
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        assert f["0"].ndim == ndim and f["1"].shape[-1] == DEFAULT_DIM
        assert f["1"].shape[-2] == 4
        all_keys = sorted(k for k in f.keys() if k != "sentence_to_index")
    assert all_keys == ["0", "1"]


def test_top_and_average_are_consistent_with_all(tmp_path):
    (tmp_path / "in.txt").write_text("The bank closed .\n")
    arrays = {}
    for flag in ("--all", "--top", "--average"):
        out = tmp_path / f"{flag[2:]}.hdf5"
        assert runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), flag]).exit_code == 0
        arrays[flag] = h5py.File(out, "r")["0"][...]
    numpy.testing.assert_array_equal(arrays["--top"], arrays["--all"][-1])
    numpy.testing.assert_allclose(arrays["--average"], arrays["--all"].mean(axis=0), rtol=1e-6)


def test_empty_line_is_an_error_and_writes_nothing(tmp_path):
    (tmp_path / "in.txt").write_text("fine line\n\nanother\n")
    out = tmp_path / "out.hdf5"
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "empty" in result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "in.txt"]


def test_invalid_utf8_is_an_error(tmp_path):
    (tmp_path / "in.txt").write_bytes(b"ok line\nbad \xff\xfe bytes\n")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5")])
    assert result.exit_code == 1 and "line 2" in result.output and "UTF-8" in result.output


def test_two_output_flags_is_an_error(tmp_path):
    (tmp_path / "in.txt").write_text("x\n")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o"), "--top", "--all"])
    assert result.exit_code == 1


def test_installed_command_via_python_m_spacy(tmp_path):
    """The spacy_cli entry point makes `python -m spacy elmo` exist."""
    (tmp_path / "in.txt").write_text("Entry points work .\n")
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "elmo", "embed", str(tmp_path / "in.txt"),
         str(tmp_path / "out.hdf5"), "--top"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert h5py.File(tmp_path / "out.hdf5", "r")["0"].shape == (4, DEFAULT_DIM)


def test_weights_from_saved_pipeline_and_directory(tmp_path, fixtures_dir):
    """--weights takes a saved spaCy pipeline or a weights directory; both give
    the same vectors as the two explicit files."""
    import shutil

    import spacy

    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    shutil.copy(fixtures_dir / "options.json", weights_dir / "options.json")
    shutil.copy(fixtures_dir / "lm_weights.hdf5", weights_dir / "weights.hdf5")
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(weights_dir)}}})
    nlp.initialize()
    nlp.to_disk(tmp_path / "pipeline")
    (tmp_path / "in.txt").write_text("The bank closed .\n")
    outputs = []
    for args in (["--weights", str(tmp_path / "pipeline")], ["--weights", str(weights_dir)],
                 ["--options-file", str(fixtures_dir / "options.json"),
                  "--weight-file", str(fixtures_dir / "lm_weights.hdf5")]):
        out = tmp_path / f"out{len(outputs)}.hdf5"
        result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), "--all", *args])
        assert result.exit_code == 0, result.output
        outputs.append(h5py.File(out, "r")["0"][...])
    numpy.testing.assert_array_equal(outputs[0], outputs[1])
    numpy.testing.assert_array_equal(outputs[1], outputs[2])
