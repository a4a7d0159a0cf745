"""The benchmark scripts run (tiny sizes, CPU) and report sane rows."""
import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT


def _run(tmp_path, *args, timeout=300, env=None):
    rows = tmp_path / "rows.jsonl"
    cmd = [sys.executable, *args, "--jsonl", str(rows), "--threads", "1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout, [json.loads(line) for line in rows.read_text().splitlines()]


def test_bench_embed_rows_and_agreement(tmp_path):
    stdout, rows = _run(
        tmp_path, "benchmarks/bench_embed.py", "--shape", "default", "--tokens", "200",
        "--precision", "fp32,bf16", "--batch-size", "8,32", "--anchor", "--anchor-shape", "4x8",
    )
    by_row = {r["row"]: r for r in rows}
    for label in ("embed fp32 batch 8 eager", "embed fp32 batch 32 eager", "embed bf16 batch 8 eager",
                  "AllenNLP-structure loop batch 8", "nn.LSTM(proj_size) fp32 4x8"):
        assert by_row[label]["tokens_per_s"] > 0, label
    assert by_row["max |embed fp32 - baseline|"]["max_abs"] < 1e-5
    assert 1e-4 < by_row["max |embed bf16 - embed fp32|"]["max_abs"] < 0.5
    assert "MiB RSS" in by_row["embed fp32 batch 8 eager"]["memory"]


def test_bench_embed_efml_rows_beside_the_original_shape(tmp_path):
    """An ELMoForManyLangs model of the published shape, then bilm-tf's
    `original` shape on the same sentences in the same run (issue 22 item 9)."""
    _, rows = _run(tmp_path, "benchmarks/bench_embed.py", "--shape", "efml", "--tokens", "20",
                   "--batch-size", "4")
    assert [r["row"] for r in rows] == ["embed fp32 batch 4 eager", "bilm-tf original fp32 batch 4 eager"]
    assert all(r["shape"] == "efml" and r["tokens_per_s"] > 0 for r in rows)


def test_bench_pretrain_step_anchor_and_data_only(tmp_path):
    stdout, rows = _run(
        tmp_path, "benchmarks/bench_pretrain.py", "--steps", "1", "--warmup", "1", "--anchor",
        "--lines", "300", "--batch-size", "4",
    )
    labels = [r["row"] for r in rows]
    assert labels == ["training step fp32 (eager)", "nn.LSTM(proj_size) fwd+bwd fp32 4x20"]
    assert all(r["tokens_per_s"] > 0 and r["batch"] == 4 for r in rows)
    _, rows = _run(tmp_path, "benchmarks/bench_pretrain.py", "--data-only", "--steps", "3",
                   "--lines", "300", "--batch-size", "4")
    assert rows[-1]["row"] == "input pipeline" and rows[-1]["windows_per_s"] > 0


def test_bench_under_load_rows(tmp_path):
    stdout, rows = _run(tmp_path, "benchmarks/bench_under_load.py", "--lines", "20", "--busy", "1",
                        "--repeat", "1")
    assert [r["row"] for r in rows] == ["quiet", "beside 1 busy", "kept under load"]
    assert rows[0]["busy"] == 0 and rows[1]["busy"] == 1
    assert all(r["tokens_per_s"] > 0 and r["peak_rss_mib"] > 0 for r in rows[:2])
    assert rows[2]["ratio"] == pytest.approx(rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"])
    assert "kept under load" in stdout


@pytest.mark.slow
def test_gpu_report_script_runs_on_the_cpu(tmp_path):
    out = subprocess.run(["bash", "benchmarks/gpu_report.sh"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "SMOKE": "1", "GPU_ID": "-1",
                                           "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "exited with" not in out.stdout, out.stdout[-3000:]
    table = (tmp_path / "table.md").read_text()
    assert "training step bf16" in table and "embed fp32 batch 8 eager" in table
    assert "char CNN bilm_tiny" in table and "ConvMax vs float64" in table


def test_bench_char_cnn_rows_and_gradients(tmp_path):
    """ConvMax beside autograd's conv1d + amax backward, each against float64."""
    _, rows = _run(tmp_path, "benchmarks/bench_char_cnn.py", "--config", "configs/bilm_tiny.cfg",
                   "--tokens", "60", "--repeat", "1")
    by_row = {r["row"]: r for r in rows}
    assert by_row["ConvMax"]["tokens_per_s"] > 0 and by_row["autograd conv1d + amax"]["tokens_per_s"] > 0
    assert by_row["ConvMax vs float64 (relative)"]["max_abs"] < 1e-5
    assert by_row["autograd conv1d + amax vs float64 (relative)"]["max_abs"] < 1e-3
    assert all(r["bench"] == "char_cnn" and r["config"] == "bilm_tiny" for r in rows)
