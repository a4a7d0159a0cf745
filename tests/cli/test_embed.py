"""`python -m spacy elmo embed`: parity through the command, AllenNLP's layout."""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy
import pytest
from typer.testing import CliRunner

from helpers import DEFAULT_DIM
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


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the command reads the input or loads a model: flag
    and output errors must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("work started before the checks")

    monkeypatch.setattr("spacy_elmo.embed.scan_input", fail, raising=False)
    monkeypatch.setattr("spacy_elmo.embed.load_for_cli", fail, raising=False)


@pytest.mark.parametrize("flags", [["--top", "--all"], ["--all", "--average"], ["--top", "--average", "--all"]])
def test_two_output_flags_is_an_error(tmp_path, no_work, flags):
    (tmp_path / "in.txt").write_text("x\n")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o"), *flags])
    assert result.exit_code == 1, result.output
    assert "choose one of --all, --top and --average" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_help_says_all_is_the_default():
    result = runner.invoke(app, ["embed", "--help"], terminal_width=400)
    assert result.exit_code == 0
    assert "Applies when none of --all, --top, --average is given" in " ".join(result.output.split())


@pytest.mark.parametrize("mode", ["reset", "warm"])
def test_stateful_with_another_state_mode_is_an_error(tmp_path, no_work, mode):
    (tmp_path / "in.txt").write_text("x\n")
    result = runner.invoke(
        app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--stateful", "--state-mode", mode]
    )
    assert result.exit_code == 1, result.output
    expected = f"--stateful means --state-mode carry, so it cannot be combined with --state-mode {mode}"
    assert expected in " ".join(result.output.split())


def test_stateful_and_state_mode_carry_agree(tmp_path, fixture_bilm_dir):
    (tmp_path / "in.txt").write_text("The bank closed .\nIt opened again .\n")
    outputs = []
    for flags in (["--stateful"], ["--stateful", "--state-mode", "carry"], ["--state-mode", "carry"]):
        out = tmp_path / f"o{len(outputs)}.hdf5"
        args = ["embed", str(tmp_path / "in.txt"), str(out), "-w", str(fixture_bilm_dir), "-b", "1", *flags]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(h5py.File(out, "r")["1"][...])
    numpy.testing.assert_array_equal(outputs[0], outputs[1])
    numpy.testing.assert_array_equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--state-mode", "carry", "--max-length", "100"], "--max-length 100 applies to --state-mode warm and reset only"),
        (["--stateful", "--token-budget", "99"], "--token-budget 99 applies to --state-mode warm and reset only"),
        (["--precision", "fp16"], "--precision: precision 'fp16' needs a CUDA GPU"),
        (["--precision", "fp64"], "--precision: unknown precision 'fp64'"),
        (["--state-mode", "sticky"], "--state-mode: unknown state mode 'sticky'"),
        (["--gpu-id", "7"], "--gpu-id 7: there is no CUDA device 7"),
    ],
)
def test_bad_flags_fail_before_any_work(tmp_path, no_work, flags, message):
    (tmp_path / "in.txt").write_text("x\n")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), *flags])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o.hdf5").exists()


def test_precision_bf16_runs_close_to_fp32(tmp_path, fixture_bilm_dir):
    (tmp_path / "in.txt").write_text("The bank closed .\nA second , longer line here .\n")
    arrays = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.hdf5"
        args = ["embed", str(tmp_path / "in.txt"), str(out), "-w", str(fixture_bilm_dir), "--precision", precision]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        arrays[precision] = h5py.File(out, "r")["1"][...]
    deviation = numpy.abs(arrays["bf16"] - arrays["fp32"]).max()
    assert 0 < deviation < 0.1 * numpy.abs(arrays["fp32"]).max()


def test_token_cache_size_changes_nothing_but_speed(tmp_path, fixture_bilm_dir):
    """--token-cache-size 0 (no cache) and a cache of 3 tokens (evictions)
    write the same file, bit for bit, as the default cache."""
    words = "the bank closed . the river bank flooded . a bank of the river".split()
    lines = [" ".join(words[i : i + 3 + i % 4]) for i in range(len(words) - 3)] * 3
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    outputs = {}
    for size in (None, "0", "3"):
        out = tmp_path / f"cache{size}.hdf5"
        args = ["embed", str(tmp_path / "in.txt"), str(out), "-w", str(fixture_bilm_dir), "-b", "4"]
        result = runner.invoke(app, args + ([] if size is None else ["--token-cache-size", size]))
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as handle:
            outputs[size] = [handle[str(i)][...] for i in range(len(lines))]
    for size in ("0", "3"):
        assert all(numpy.array_equal(a, b) for a, b in zip(outputs[None], outputs[size]))


def test_output_onto_a_directory_fails_before_any_work(tmp_path, no_work):
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "out").mkdir()
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "is an existing directory, so the OUTPUT_FILE cannot be written there" in " ".join(result.output.split())
    assert list((tmp_path / "out").iterdir()) == []


def test_output_below_a_file_fails_before_any_work(tmp_path, no_work):
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(tmp_path / "file" / "o.hdf5")])
    assert result.exit_code == 1, result.output
    assert "is a file, not a directory" in " ".join(result.output.split())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_in_an_unwritable_folder_fails_before_any_work(tmp_path, no_work):
    (tmp_path / "in.txt").write_text("x\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(locked / "o.hdf5")])
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 1 and "is not writable" in " ".join(result.output.split())


def test_too_little_disk_space_fails_before_any_embedding(tmp_path, fixture_bilm_dir, monkeypatch):
    """The output's size is known once the input is scanned: a disk that
    cannot hold it is an error before the first batch, naming the sizes."""
    import shutil
    from collections import namedtuple

    import spacy_elmo.embed.run

    (tmp_path / "in.txt").write_text("Hello world .\nA second line here\n" * 50)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 20_000, 20_000))
    monkeypatch.setattr(spacy_elmo.embed.run, "_embed_into", lambda *a, **k: pytest.fail("embedding started"))
    out = tmp_path / "o.hdf5"
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), "--weights", str(fixture_bilm_dir)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "the OUTPUT_FILE needs about" in text, result.output
    assert "19.5 KiB free" in text and "or pass --top or --average" in text
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "in.txt"]
    # 350 tokens x 3 layers x 32 x 4 bytes + 100 lines x 512 + the input: ~183 KiB; --top: ~95 KiB
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 0, 120_000))
    monkeypatch.setattr(spacy_elmo.embed.run, "_embed_into", lambda *a, **k: None)
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), "--weights", str(fixture_bilm_dir), "--top"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("fault", ["oserror", "h5py"])
def test_disk_full_while_writing_is_a_clear_error(tmp_path, fixture_bilm_dir, monkeypatch, fault):
    """The disk fills up mid-run (another process): a message that says so,
    not h5py's traceback, and no temporary left behind."""
    import errno

    from spacy_elmo.embed.writer import LineWriter

    def full(self, *args, **kwargs):
        if fault == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise RuntimeError("Can't write data (file write failed: errno = 28, error message = 'No space left on device')")

    monkeypatch.setattr(LineWriter, "write", full)
    (tmp_path / "in.txt").write_text("Hello world .\n")
    out = tmp_path / "o.hdf5"
    result = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), str(out), "--weights", str(fixture_bilm_dir)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "the disk filled up while it was written" in text, result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == [tmp_path / "in.txt"]


def test_kill_9_then_the_next_embed_removes_the_temporary(tmp_path, fixture_bilm_dir, shared_data):
    """A real kill -9 of the command while it writes; the next run to the same
    target removes the dead process's temporary file and says so."""
    source = (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8")
    text = "\n".join(line.strip() for line in source.splitlines() if line.strip()) + "\n"
    (tmp_path / "in.txt").write_text(text * 4, encoding="utf8")
    out = tmp_path / "out.hdf5"
    cmd = [sys.executable, "-m", "spacy", "elmo", "embed", str(tmp_path / "in.txt"), str(out),
           "-w", str(fixture_bilm_dir), "--top"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.hdf5.*.tmp")):
            assert proc.poll() is None, "embed finished before it could be killed"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.02)
        time.sleep(0.3)  # let it write a little
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stale = list(tmp_path.glob(".out.hdf5.*.tmp"))
    assert len(stale) == 1 and f".{proc.pid}." in stale[0].name and not out.exists()
    (tmp_path / "in.txt").write_text("The next run .\n")
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Removed {stale[0]}" in again.stderr and f"left by process {proc.pid}" in again.stderr
    assert not stale[0].exists() and not list(tmp_path.glob(".out.hdf5.*"))
    assert h5py.File(out, "r")["0"].shape == (4, 32)


def test_strict_false_loads_weights_with_more_layers(tmp_path, fixtures_dir):
    options = json.loads((fixtures_dir / "options.json").read_text())
    options["lstm"]["n_layers"] = 1
    (tmp_path / "options.json").write_text(json.dumps(options))
    (tmp_path / "in.txt").write_text("The bank closed .\n")
    args = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--options-file",
            str(tmp_path / "options.json"), "--weight-file", str(fixtures_dir / "lm_weights.hdf5")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "2 LSTM layers (the options: lstm.n_layers 1)" in " ".join(result.output.split())
    assert not (tmp_path / "o.hdf5").exists()
    with pytest.warns(UserWarning, match="strict is off"):
        result = runner.invoke(app, args + ["--strict", "false"])
    assert result.exit_code == 0, result.output
    assert h5py.File(tmp_path / "o.hdf5", "r")["0"].shape == (2, 4, 32)
    result = runner.invoke(app, args + ["--strict", "maybe"])
    assert result.exit_code == 2 and "is not true or false" in result.output


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
