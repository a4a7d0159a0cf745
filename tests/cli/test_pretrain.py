"""`python -m spacy elmo pretrain | evaluate-lm | dump-token-embeddings`
through Typer's CliRunner, plus DDP with torchrun (gloo, 2 CPU processes)."""
import json
import math
import os
import subprocess
import sys

import h5py
import pytest
import numpy
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.training.checkpoint import CHECKPOINT

from helpers import FAST, ROOT, TINY_CFG, wikitext_slice

runner = CliRunner()

pytestmark = pytest.mark.usefixtures("one_thread")


def _overrides(**extra):
    values = dict(FAST)
    values.update(extra)
    args = []
    for key, value in values.items():
        args += [f"--{key}", str(value)]
    return args


def test_cli_pretrain_then_evaluate_lm(tmp_path):
    train = wikitext_slice(tmp_path, "train", 200)
    dev = wikitext_slice(tmp_path, "valid", 20)
    out = tmp_path / "out"
    args = ["pretrain", str(TINY_CFG), str(out), "--paths.train", str(train), "--paths.dev", str(dev)]
    result = runner.invoke(app, args + _overrides(**{"training.max_steps": 6}))
    assert result.exit_code == 0, result.output
    for name in ("options.json", "weights.hdf5", "vocab.txt"):
        assert (out / "model-last" / name).exists() and (out / "model-best" / name).exists()
    metrics = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 6
    result = runner.invoke(app, ["evaluate-lm", str(out / "model-last"), str(dev)])
    assert result.exit_code == 0, result.output
    ppl = json.loads(result.output.strip().splitlines()[-1])
    assert set(ppl) == {"forward", "backward", "mean", "tokens"}
    assert math.isclose(ppl["mean"], math.sqrt(ppl["forward"] * ppl["backward"]), rel_tol=1e-9)
    # evaluate-lm uses batch 16 / unroll 20 (training used batch 8): close, not equal
    assert abs(ppl["forward"] / metrics[-1]["dev_ppl_forward"] - 1) < 0.05
    longest = max(len(line) for line in dev.read_text(encoding="utf8").splitlines())
    result = runner.invoke(
        app, ["evaluate-lm", str(out / "model-last"), str(dev), "--max-line-chars", str(longest - 1)]
    )
    assert result.exit_code == 1
    assert f"more than the limit of {longest - 1:,}" in result.output and "--max-line-chars" in result.output


def test_cli_dump_token_embeddings_matches_bilm_tf_fixture(fixtures_dir, tmp_path):
    out = tmp_path / "emb.hdf5"
    result = runner.invoke(
        app, ["dump-token-embeddings", str(fixtures_dir), str(fixtures_dir / "vocab_test.txt"), str(out)]
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as ours, h5py.File(fixtures_dir / "elmo_token_embeddings.hdf5", "r") as ref:
        a, b = ours["embedding"][...], ref["embedding"][...]
    assert a.shape == b.shape == (458, 16)
    numpy.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_cli_errors_exit_1_with_the_reason(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\n\xff\xfe broken\n")
    result = runner.invoke(app, ["pretrain", str(TINY_CFG), str(tmp_path / "o"), "--paths.train", str(bad)])
    assert result.exit_code == 1
    assert "line 2: not valid UTF-8" in " ".join(result.output.split())
    result = runner.invoke(app, ["pretrain", str(TINY_CFG), str(tmp_path / "o")])
    assert result.exit_code == 1 and "data.train" in " ".join(result.output.split())
    vocab = tmp_path / "v.txt"
    vocab.write_text("a\nb\na\n")
    result = runner.invoke(app, ["dump-token-embeddings", str(ROOT.parent / "shared/data/allennlp-elmo-fixtures"), str(vocab), str(tmp_path / "e.hdf5")])
    assert result.exit_code == 1 and "line 3" in " ".join(result.output.split())


def test_torchrun_ddp_two_cpu_processes(tmp_path):
    train = wikitext_slice(tmp_path, "train", 200)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
        "-m", "spacy", "elmo", "pretrain", str(TINY_CFG), str(out), "--paths.train", str(train),
    ] + _overrides(**{"training.max_steps": 4, "training.softmax": "sampled", "training.n_samples": 200})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    payload = torch.load(out / CHECKPOINT, weights_only=False)
    assert payload["world_size"] == 2 and payload["step"] == 4
    workers = payload["workers"]
    # both workers hold identical parameters after DDP's gradient averaging ...
    assert workers[0]["param_sum"] == workers[1]["param_sum"]
    # ... but read different shards of the text
    assert workers[0]["stream"]["rows"] != workers[1]["stream"]["rows"]
    assert workers[0]["stream"]["next_line"] % 2 == 1 and workers[1]["stream"]["next_line"] % 2 == 0
    metrics = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["tokens"] == 4 * 2 * 8 * 20
