"""issue 23 item 5: every number is checked before any work, with the
allowed range in the message; non-text and empty text are errors; an
unknown language code is named."""
import pytest
from typer.testing import CliRunner

from spacy_elmo.cli._app import app

runner = CliRunner()


def said(result) -> str:
    return " ".join(result.output.split())


def out_of_range(result, value, low) -> bool:
    """Typer's message for min=low, in its older and newer wording."""
    text = said(result)
    return result.exit_code == 2 and (
        f"{value} is not in the range x>={low}" in text or f"greater than or equal to {low}" in text
    )


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("the bank closed .\nwe sat on the bank .\n" * 10, encoding="utf8")
    return path


@pytest.mark.parametrize("flag,value,low", [
    ("--batch-size", "0", 1), ("-b", "-3", 1), ("--unroll", "0", 1), ("--gpu-id", "-2", -1),
])
def test_evaluate_lm_numbers(tmp_path, text, flag, value, low):
    result = runner.invoke(app, ["evaluate-lm", str(tmp_path), str(text), flag, value])
    assert out_of_range(result, value, low), result.output


@pytest.mark.parametrize("flag,value,low", [("--prune", "-5", 1), ("--prune", "0", 1), ("--truncate", "-1", 0)])
def test_init_vectors_numbers(tmp_path, text, flag, value, low):
    result = runner.invoke(app, ["init-vectors", "en", str(text), str(tmp_path / "out"), flag, value])
    assert out_of_range(result, value, low), result.output
    assert not (tmp_path / "out").exists()


def test_init_vectors_unknown_language(tmp_path, shared_data):
    src = shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec"
    result = runner.invoke(app, ["init-vectors", "zz", str(src), str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 1 and "'zz' is not a language code spaCy knows" in said(result)
    assert "ImportError" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag,value,low,high", [
    ("--window", "-1", 1, 10_000),  # gensim's workers crash and training hangs on it
    ("--window", "0", 1, 10_000),
    ("--epochs", "0", 1, 100_000),
    ("--size", "0", 1, 100_000),
    ("--min-count", "0", 1, 2**31 - 1),
    ("--negative", "0", 1, 1_000),
    ("--workers", "0", 1, 1_024),
    ("--seed", "-1", 0, 2**32 - 1),
])
def test_train_word2vec_numbers(tmp_path, text, flag, value, low, high):
    pytest.importorskip("gensim")
    out = tmp_path / "w2v.txt"
    result = runner.invoke(app, ["train-word2vec", str(text), str(out), flag, value])
    assert result.exit_code == 1, result.output
    assert f"(--{flag[2:]}) is {value}, not in the range {low}..{high}" in said(result)
    assert not out.exists()


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty (no tokens on any line)"),
    (b"\n  \n\t\n", "the file is empty (no tokens on any line)"),
    (b"good line\n\x89PNG\r\n\x1a\n\xff\xd8 binary\n", "line 2: not valid UTF-8"),
    ("the bank\n".encode("utf-16"), "the file is UTF-16"),
    (b"a\x00b\x00\n", "line 1: a NUL byte"),
])
def test_train_word2vec_needs_text(tmp_path, content, message):
    pytest.importorskip("gensim")
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    result = runner.invoke(app, ["train-word2vec", str(src), str(tmp_path / "w2v.txt"), "--min-count", "1"])
    assert result.exit_code == 1 and message in said(result), result.output
    assert not (tmp_path / "w2v.txt").exists()


def test_pretrain_batch_size_zero_names_the_range(tmp_path, text):
    from spacy_elmo.cli.pretrain import pretrain_cli  # noqa: F401  (registers the command)

    cfg = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "configs" / "bilm_tiny.cfg")
    result = runner.invoke(app, ["pretrain", cfg, str(tmp_path / "out"), "--paths.train", str(text),
                                 "--training.batch_size", "0"])
    assert result.exit_code == 1 and "training.batch_size' has the invalid value 0: expected int > 0" in said(result)


@pytest.mark.parametrize("command", [
    ["embed", "IN", "OUT"], ["evaluate-lm", "DIR", "IN"], ["dump-token-embeddings", "DIR", "IN", "OUT"],
    ["pretrain", "IN", "OUT"], ["demo"],
])
def test_threads_on_every_command_that_computes(tmp_path, text, command, monkeypatch):
    """issue 23 item 7: --threads N (0: torch's default) reaches torch."""
    import torch

    args = [{"IN": str(text), "OUT": str(tmp_path / "out.hdf5"), "DIR": str(tmp_path)}.get(a, a) for a in command]
    result = runner.invoke(app, [*args, "--threads", "-1"])
    assert out_of_range(result, "-1", 0), result.output
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    result = runner.invoke(app, [*args, "--threads", "3"])
    assert calls and calls[0] == 3, result.output
