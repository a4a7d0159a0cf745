"""Memory of `embed` does not grow with the input: the reader streams, and no
batch grows with the longest lines (benchmarks/bench_memory.py measures the
default model at 2k-100k sentences)."""
import os
import subprocess
import sys
import tracemalloc

import pytest
import torch

from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.model import BiLM
from spacy_elmo.embed.reader import iter_lines, scan_input
from spacy_elmo.io.weights import export_bilm


def peak_rss_mib(cmd, cwd):
    """Peak RSS of a child process (its own ru_maxrss, via wait4)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")[-3000:]
    return usage.ru_maxrss / 1024


@pytest.fixture(scope="module")
def wide_cnn_bilm(tmp_path_factory):
    """A biLM whose memory per batch is mostly the char CNN (256 filters of
    width 3 over every distinct token) and whose LSTM is tiny, so batch
    memory shows at a small, fast scale."""
    torch.manual_seed(0)
    config = BiLMConfig(lstm_dim=32, projection_dim=16, n_layers=1, char_dim=8,
                        filters=((1, 32), (3, 256)), n_highway=1)
    model = BiLM(config)
    for param in model.parameters():
        torch.nn.init.uniform_(param, -0.1, 0.1)
    return export_bilm(model, tmp_path_factory.mktemp("wide_cnn"))


def test_peak_rss_flat_from_200_to_2000_lines(tmp_path, wide_cnn_bilm, shared_data):
    """200 WikiText-2 paragraphs vs 2,000 of them with 64 lines of 1,000
    tokens among them. The old code put the 64 longest lines into one batch
    and read the whole file: 593 -> 1,146 MiB peak (1.93x). Batches bounded by
    --token-budget, lines cut at --max-length and a streamed input leave
    bookkeeping that grows with the number of lines (HDF5's and the
    allocator's: 478 -> 566 MiB, 1.18x, measured); 1.35x leaves room for
    other machines and fails the old behaviour by far."""
    text = (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    words = " ".join(lines).split()
    long_lines = [" ".join(words[i * 1000 : (i + 1) * 1000]) for i in range(64)]
    (tmp_path / "small.txt").write_text("\n".join(lines[:200]) + "\n", encoding="utf8")
    (tmp_path / "large.txt").write_text("\n".join((lines * 2)[:1936] + long_lines) + "\n", encoding="utf8")
    peaks = {}
    for name in ("small", "large"):
        cmd = [sys.executable, "-m", "spacy", "elmo", "embed", str(tmp_path / f"{name}.txt"),
               str(tmp_path / f"{name}.hdf5"), "-w", str(wide_cnn_bilm), "--top"]
        peaks[name] = peak_rss_mib(cmd, tmp_path)
    assert peaks["large"] < 1.35 * peaks["small"], peaks


def test_reader_holds_one_line_at_a_time(tmp_path):
    """200,000 lines, 5M tokens: reading them all as lists of str took
    ~300 MB; streaming holds one line (the check pass keeps 16 bytes a line)."""
    row = " ".join(f"w{i}" for i in range(25)) + "\n"
    path = tmp_path / "big.txt"
    path.write_text(row * 200_000, encoding="utf8")
    tracemalloc.start()
    try:
        n = sum(len(tokens) for tokens in iter_lines(path))
        _, streaming = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        summary = scan_input(path)
        _, scanning = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == summary.n_tokens == 5_000_000 and summary.n_lines == 200_000
    assert streaming < 2**20, streaming
    assert scanning < 1.2 * 16 * 200_000 + 2**20, scanning  # a bytearray grows by ~1/8


def test_heap_trimmer_trims_only_when_the_slack_is_used_up(monkeypatch):
    """The level is taken one batch after a trim (the batch's pages are back);
    only growth beyond level + slack trims again."""
    import spacy_elmo.embed.memory as memory

    trims = []
    readings = iter([500, 560, 629, 420, 500, 549, 300, 700])
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: trims.append(pad))
    monkeypatch.setattr(memory, "resident_mib", lambda: next(readings))
    trimmer = memory.HeapTrimmer(slack_mib=128)
    calls = []
    for _ in range(8):
        trimmer()
        calls.append(len(trims))
    # level 500: 629 > 628 trims; level 420 (one batch later): 549 > 548 trims; level 300: 700 trims
    assert calls == [0, 0, 1, 1, 1, 2, 2, 3]
    assert trimmer.trims == 3 and trimmer.level is None and trims == [0, 0, 0]


def test_heap_trimmer_is_a_no_op_without_glibc(monkeypatch):
    import spacy_elmo.embed.memory as memory

    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    trimmer = memory.HeapTrimmer()
    trimmer()
    assert trimmer.level is None and trimmer.trims == 0
