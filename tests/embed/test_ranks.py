"""`embed` under torchrun: two CPU processes over gloo write the same HDF5
file as one process."""
import os
import subprocess
import sys

import h5py
import numpy
import pytest

from typer.testing import CliRunner

from spacy_elmo.cli._app import app
from spacy_elmo.embed import EmbedSettings, Ranks, embed_file, load_for_cli, scan_input
from spacy_elmo.embed.run import _work


def embed_args(tmp_path, fixture_bilm_dir, out, mode):
    return ["embed", str(tmp_path / "in.txt"), str(out), "-w", str(fixture_bilm_dir), "--state-mode", mode,
            "--token-budget", "64", "--max-length", "24"]


def run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def torchrun(n):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
            "-m", "spacy", "elmo"]


@pytest.fixture
def input_file(tmp_path, shared_data):
    lines = [line.strip() for line in (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8").splitlines()]
    (tmp_path / "in.txt").write_text("\n".join([line for line in lines if line][:60]) + "\n", encoding="utf8")
    return tmp_path / "in.txt"


def contents(path):
    with h5py.File(path, "r") as f:
        return {key: f[key][...] for key in f}


@pytest.mark.parametrize("mode", ["warm", "reset"])
def test_two_ranks_write_the_file_of_one_process(tmp_path, fixture_bilm_dir, input_file, mode):
    one, two = tmp_path / "one.hdf5", tmp_path / "two.hdf5"
    bilm = load_for_cli(str(fixture_bilm_dir), None, None, -1)
    settings = EmbedSettings(mode=mode, token_budget=64, max_length=24)
    embed_file(input_file, one, bilm, settings, progress=False)
    ranked = run(torchrun(2) + embed_args(tmp_path, fixture_bilm_dir, two, mode))
    assert ranked.returncode == 0, ranked.stdout + ranked.stderr
    # one file, written once, by rank 0 for both
    assert ranked.stdout.count("Embedded 60 sentences") == 1 and "in 2 processes" in ranked.stdout
    a, b = contents(one), contents(two)
    assert sorted(a) == sorted(b) and len(a) == 61
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert numpy.array_equal(a[key], b[key]), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "one.hdf5", "two.hdf5"]


def test_carry_mode_under_torchrun_is_an_error(tmp_path, fixture_bilm_dir, input_file, monkeypatch):
    """Checked before any rank starts work (WORLD_SIZE as torchrun sets it)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    result = CliRunner().invoke(app, embed_args(tmp_path, fixture_bilm_dir, tmp_path / "o.hdf5", "carry")[:-4])
    assert result.exit_code == 1
    assert "--state-mode carry cannot be split across 2 processes" in " ".join(result.output.split())
    assert not (tmp_path / "o.hdf5").exists()


def test_ranks_share_the_windows(input_file):
    """Every window goes to exactly one rank, round robin."""
    summary = scan_input(input_file)
    settings = EmbedSettings(token_budget=64, max_length=24).resolved()
    taken = {}
    for rank in range(3):
        for window, _ in _work(None, summary, settings, Ranks(rank, 3)):
            assert window.number % 3 == rank and window.number not in taken
            taken[window.number] = window.first
    every = [window.first for window, _ in _work(None, summary, settings, Ranks())]
    assert [taken[n] for n in sorted(taken)] == every and len(every) > 3
