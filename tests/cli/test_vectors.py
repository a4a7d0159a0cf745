"""init-vectors / train-word2vec CLI, atomic output, the registered callback."""
import shutil
import warnings

import numpy
import pytest
import spacy
from typer.testing import CliRunner

from spacy_elmo.cli._app import app

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402

runner = CliRunner()
FIX = "word2vec-gensim-fixtures"


def said(result) -> str:
    """The CLI's output with wasabi's line wrapping undone."""
    return " ".join(result.output.split())


def test_init_vectors_cli_output_contract(shared_data, tmp_path):
    src = shared_data / FIX / "euclidean_vectors.bin"
    out = tmp_path / "vec"
    result = runner.invoke(app, ["init-vectors", "en", str(src), str(out), "--name", "w2v.vectors"])
    assert result.exit_code == 0, result.output
    kv = KeyedVectors.load_word2vec_format(str(src), binary=True)
    nlp = spacy.load(out)
    assert nlp.vocab.vectors.name == "w2v.vectors" and nlp.meta["vectors"]["name"] == "w2v.vectors"
    for key in kv.index_to_key[:50]:
        assert numpy.array_equal(nlp.vocab.vectors[nlp.vocab.strings[key]], kv[key])
    # [initialize] vectors = OUTPUT_DIR, as with `spacy init vectors`
    config = spacy.util.load_config_from_str(
        f"""
[nlp]
lang = "en"
pipeline = []
[components]
[initialize]
vectors = "{out}"
"""
    )
    nlp2 = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp2.initialize()
    word = kv.index_to_key[3]
    assert numpy.array_equal(nlp2(word)[0].vector, kv[word])


def test_init_vectors_cli_failure_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\na 1 2\nb 3 x\n", encoding="utf8")
    out = tmp_path / "sub" / "vec"
    result = runner.invoke(app, ["init-vectors", "en", str(bad), str(out)])
    assert result.exit_code == 1
    assert "line 3:" in result.output and "'x' is not a number" in result.output
    assert not out.exists() and not any(p.name.startswith(".vec") for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["init-vectors", "en", str(tmp_path / "nope.txt"), str(out)])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not out.exists()


def test_init_vectors_replaces_pipeline_dir_only(shared_data, tmp_path):
    from spacy_elmo.errors import InputError
    from spacy_elmo.word2vec.convert import init_vectors

    src = shared_data / FIX / "high_precision.kv.txt"
    out = tmp_path / "vec"
    init_vectors("en", src, out)
    init_vectors("en", shared_data / FIX / "lee_fasttext.vec", out, truncate=5)
    assert spacy.load(out).vocab.vectors.shape == (5, 10)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not a spaCy pipeline directory"):
        init_vectors("en", src, other)
    assert (other / "keep.txt").exists()


@pytest.mark.parametrize("progress", [False, True])
def test_registered_callback_before_init(shared_data, capfd, progress):
    path = shared_data / FIX / "lee_fasttext.vec"
    config = spacy.util.load_config_from_str(
        f"""
[nlp]
lang = "en"
pipeline = []
[components]
[initialize]
[initialize.before_init]
@callbacks = "spacy-elmo.Word2VecVectors.v1"
path = "{path}"
prune = 100
progress = {str(progress).lower()}
"""
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    capfd.readouterr()
    nlp.initialize()
    # tqdm writes "B/s" (bytes read per second) only when the bar is shown
    assert ("B/s" in capfd.readouterr().err) == progress
    kv = KeyedVectors.load_word2vec_format(str(path))
    assert nlp.vocab.vectors.shape == (100, 10)
    assert numpy.array_equal(nlp("the")[0].vector, kv["the"])
    assert nlp("the")[0].similarity(nlp("the")[0]) == pytest.approx(1.0)


def test_train_word2vec_then_convert(shared_data, tmp_path):
    lines = (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8").splitlines()[:2000]
    text = tmp_path / "text.txt"
    text.write_text("\n".join(lines), encoding="utf8")
    for binary in (False, True):
        out = tmp_path / ("w.bin" if binary else "w.txt")
        args = ["train-word2vec", str(text), str(out), "--size", "16", "--min-count", "5", "--epochs", "1"]
        result = runner.invoke(app, args + (["--binary"] if binary else []))
        assert result.exit_code == 0, result.output
        kv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
        assert kv.vector_size == 16 and "the" in kv.key_to_index
        pipe = tmp_path / ("p_bin" if binary else "p_txt")
        result = runner.invoke(app, ["init-vectors", "en", str(out), str(pipe)])
        assert result.exit_code == 0, result.output
        nlp = spacy.load(pipe)
        assert numpy.array_equal(nlp("the")[0].vector, kv["the"])
    # same seed, one worker: same vectors
    out2 = tmp_path / "w2.txt"
    runner.invoke(app, ["train-word2vec", str(text), str(out2), "--size", "16", "--min-count", "5", "--epochs", "1"])
    assert (tmp_path / "w.txt").read_bytes() == out2.read_bytes()
    result = runner.invoke(app, ["train-word2vec", str(text), str(out2), "--min-count", "10000000"])
    assert result.exit_code == 1 and "min_count" in result.output


def test_init_vectors_input_directory_is_named(tmp_path):
    """issue 17 item 3: a directory as VECTORS_PATH is named as a directory
    (not 'does not exist'), with what to pass, and nothing is written."""
    folder = tmp_path / "vectors"
    folder.mkdir()
    out = tmp_path / "out"
    result = runner.invoke(app, ["init-vectors", "en", str(folder), str(out)])
    assert result.exit_code == 1, result.output
    assert "is a directory, not a file" in said(result) and "Pass a word2vec file" in said(result)
    assert not out.exists()
    result = runner.invoke(app, ["train-word2vec", str(folder), str(tmp_path / "w.txt")])
    assert result.exit_code == 1 and "is a directory, not a file" in said(result)


def _no_work(*args, **kwargs):
    raise AssertionError("the work started before the output path was checked")


def test_output_paths_are_checked_before_the_work(shared_data, tmp_path, monkeypatch):
    """issue 17 item 10: an output path that cannot be written fails at once,
    with our message, before reading or training (train-word2vec used to train
    and then end in IsADirectoryError)."""
    import gensim.models

    import spacy_elmo.word2vec.convert as convert

    monkeypatch.setattr(convert, "read_word2vec", _no_work)
    monkeypatch.setattr(gensim.models, "Word2Vec", _no_work)
    src = shared_data / FIX / "lee_fasttext.vec"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    a_dir = tmp_path / "dir"
    a_dir.mkdir()
    cases = [
        (["init-vectors", "en", str(src), str(a_file)], "is an existing file"),
        (["init-vectors", "en", str(src), str(a_file / "out")], "is a file, not a directory"),
        (["train-word2vec", str(src), str(a_dir)], "is an existing directory"),
        (["train-word2vec", str(src), str(a_file / "w.txt")], "is a file, not a directory"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output, result.exception)
        assert message in said(result), (args, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file.txt"] and not any(a_dir.iterdir())


def test_init_vectors_after_kill_9_removes_the_stale_folder(shared_data, tmp_path):
    """issue 17 item 11: init-vectors killed (SIGKILL) while writing leaves its
    temporary folder; the next run removes it, says so, and writes OUTPUT_DIR."""
    import signal
    import subprocess
    import sys

    src = str(shared_data / FIX / "lee_fasttext.vec")
    out = tmp_path / "vec"
    die = (
        "import os, signal, sys\n"
        "import spacy.language\n"
        "def to_disk(self, path, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "spacy.language.Language.to_disk = to_disk\n"
        "from spacy_elmo.cli._app import app\n"
        "app(['init-vectors', 'en', sys.argv[1], sys.argv[2], '--no-progress'])\n"
    )
    killed = subprocess.run([sys.executable, "-c", die, src, str(out)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".vec.")]
    assert len(stale) == 1 and stale[0].is_dir() and not out.exists()
    again = subprocess.run(
        [sys.executable, "-m", "spacy", "elmo", "init-vectors", "en", src, str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"Removed {stale[0]}" in again.stderr and "no longer runs" in again.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["vec"]
    assert spacy.load(out).vocab.vectors.shape[1] == 10
