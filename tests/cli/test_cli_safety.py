"""issue 23 items 1-4 through the commands: no output is an input, a
pipeline is not replaced without --overwrite, one writer at a time (a second
real process holds the lock), exit 130 after Ctrl-C."""
import os
import signal
import subprocess
import sys

import pytest
import spacy
from typer.testing import CliRunner

from spacy_elmo.cli._app import app

from helpers import HOLD_LOCK as HOLD

runner = CliRunner()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_CFG = os.path.join(ROOT, "configs", "bilm_tiny.cfg")
FAST = ["--training.batch_size", "4", "--training.unroll_steps", "5", "--training.max_steps", "3",
        "--training.eval_every", "0", "--training.checkpoint_every", "0", "--data.max_vocab_size", "200"]


def said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def holder():
    """Start a second process that holds the output lock of a path."""
    procs = []

    def start(target):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("The bank closed .\nWe sat on the bank of the river .\n" * 20, encoding="utf8")
    return path


def untouched(path, text):
    return path.read_text(encoding="utf8").startswith("The bank closed .\n")


def test_embed_refuses_its_input_by_name_symlink_and_hard_link(tmp_path, text, fixture_bilm_dir):
    (tmp_path / "link.txt").symlink_to(text)
    os.link(text, tmp_path / "hard.txt")
    for out in (text, tmp_path / "link.txt", tmp_path / "hard.txt"):
        result = runner.invoke(app, ["embed", str(text), str(out), "--weights", str(fixture_bilm_dir)])
        assert result.exit_code == 1, result.output
        assert f"OUTPUT_FILE {out} is INPUT_FILE {text}" in said(result)
        assert untouched(text, text)
    result = runner.invoke(app, ["embed", str(text), str(fixture_bilm_dir / "weights.hdf5"),
                                 "--weights", str(fixture_bilm_dir)])
    assert result.exit_code == 1 and "is --weights" in said(result)


def test_dump_token_embeddings_refuses_its_vocabulary(tmp_path, fixture_bilm_dir):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("bank\nriver\n", encoding="utf8")
    result = runner.invoke(app, ["dump-token-embeddings", str(fixture_bilm_dir), str(vocab), str(vocab)])
    assert result.exit_code == 1 and f"OUTPUT_FILE {vocab} is VOCAB_FILE {vocab}" in said(result)
    assert vocab.read_text(encoding="utf8") == "bank\nriver\n"


def test_evaluate_lm_refuses_its_text_and_model_files(tmp_path, text):
    model = tmp_path / "model"
    model.mkdir()
    (model / "options.json").write_text("{}")
    for out, what in ((text, "TEXT_FILE"), (model / "options.json", "MODEL_DIR")):
        result = runner.invoke(app, ["evaluate-lm", str(model), str(text), "--output", str(out)])
        assert result.exit_code == 1 and f"--output file {out} is {what}" in said(result), result.output
    assert untouched(text, text) and (model / "options.json").read_text() == "{}"


def test_train_word2vec_refuses_its_text(tmp_path, text):
    pytest.importorskip("gensim")
    result = runner.invoke(app, ["train-word2vec", str(text), str(text)])
    assert result.exit_code == 1 and f"OUTPUT_PATH {text} is TEXT_PATHS {text}" in said(result)
    assert untouched(text, text)


def test_pretrain_refuses_a_config_or_data_that_is_one_of_its_outputs(tmp_path, text):
    out = tmp_path / "out"
    out.mkdir()
    os.link(text, out / "metrics.jsonl")  # a hard link: another name for the training text
    args = ["pretrain", TINY_CFG, str(out), "--paths.train", str(text), *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "data.train = " in said(result) and "lies in metrics.jsonl" in said(result)
    assert untouched(text, text)
    config = out / "config.json"  # a copy of the config where the run writes its own
    config.write_bytes(open(TINY_CFG, "rb").read())
    result = runner.invoke(app, ["pretrain", str(config), str(out), "--overwrite", "--paths.train", str(text)])
    assert result.exit_code == 1 and "CONFIG_PATH = " in said(result) and "lies in config.json" in said(result)
    assert config.read_bytes() == open(TINY_CFG, "rb").read()


def test_init_vectors_refuses_an_output_dir_holding_its_input(tmp_path, shared_data):
    out = tmp_path / "vec"
    out.mkdir()
    src = out / "vectors.txt"
    src.write_bytes((shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec").read_bytes())
    result = runner.invoke(app, ["init-vectors", "en", str(src), str(out), "--no-progress"])
    assert result.exit_code == 1 and f"OUTPUT_DIR {out} holds VECTORS_PATH {src}" in said(result)
    assert src.exists()


def test_init_vectors_replaces_a_saved_pipeline_only_with_overwrite(tmp_path, shared_data, fixture_bilm_dir):
    pipeline = tmp_path / "my_pipeline"
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": str(fixture_bilm_dir)}}})
    nlp.initialize()
    nlp.to_disk(pipeline)
    src = str(shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec")
    result = runner.invoke(app, ["init-vectors", "en", src, str(pipeline), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "holds a spaCy pipeline that this command did not write (it has the components elmo" in said(result)
    assert "--overwrite" in said(result) and spacy.load(pipeline).pipe_names == ["elmo"]
    result = runner.invoke(app, ["init-vectors", "en", src, str(pipeline), "--no-progress", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert spacy.load(pipeline).pipe_names == []
    # its own output is replaced without --overwrite, as before
    result = runner.invoke(app, ["init-vectors", "en", src, str(pipeline), "--no-progress", "-t", "5"])
    assert result.exit_code == 0 and spacy.load(pipeline).vocab.vectors.shape[0] == 5


def test_embed_with_a_second_writer(tmp_path, text, fixture_bilm_dir, holder):
    out = tmp_path / "out.hdf5"
    other = holder(out)
    args = ["embed", str(text), str(out), "--weights", str(fixture_bilm_dir), "--top"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and f"is being written by process {other.pid} on" in said(result)
    assert not out.exists()
    other.kill()  # killed: its lock does not block
    other.wait()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.hdf5"]


def test_init_vectors_with_a_second_writer(tmp_path, shared_data, holder):
    out = tmp_path / "vec"
    other = holder(out)
    src = str(shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec")
    result = runner.invoke(app, ["init-vectors", "en", src, str(out), "--no-progress"])
    assert result.exit_code == 1 and f"OUTPUT_DIR {out} is being written by process {other.pid}" in said(result)
    other.kill()
    other.wait()
    result = runner.invoke(app, ["init-vectors", "en", src, str(out), "--no-progress"])
    assert result.exit_code == 0, result.output


def test_pretrain_with_a_second_writer_then_ctrl_c_exits_130(tmp_path, text, holder, monkeypatch):
    from spacy_elmo.training import step

    out = tmp_path / "out"
    other = holder(out)
    args = ["pretrain", TINY_CFG, str(out), "--paths.train", str(text), *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and f"OUTPUT_DIR {out} is being written by process {other.pid}" in said(result)
    assert not out.exists()
    other.kill()
    other.wait()
    original = step.TrainStep.__call__

    def ctrl_c_after_the_step(self, *args, **kwargs):
        outcome = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return outcome

    monkeypatch.setattr(step.TrainStep, "__call__", ctrl_c_after_the_step)
    result = runner.invoke(app, args)
    assert result.exit_code == 130, result.output
    assert "Interrupted at step 1" in said(result) and (out / "model-last" / "weights.hdf5").exists()


def test_embed_ctrl_c_exits_130_and_writes_nothing(tmp_path, text, fixture_bilm_dir, monkeypatch):
    from spacy_elmo.bilm.model import BiLM

    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BiLM, "embed_sentences", ctrl_c)
    out = tmp_path / "out.hdf5"
    result = runner.invoke(app, ["embed", str(text), str(out), "--weights", str(fixture_bilm_dir)])
    assert result.exit_code == 130 and f"Interrupted (Ctrl-C): {out} was not written" in said(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
