"""OUTPUT_DIR of `pretrain` (and the outputs of evaluate-lm and
dump-token-embeddings): checked before any work, an earlier run is never
silently mixed into (--resume / --overwrite), resuming on other training files
is refused (--allow-data-change), and a run that fails before it saved
anything leaves nothing behind."""
import json
import os
import signal
import warnings

import pytest
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.errors import InputError, OptionsError, OutputError
from spacy_elmo.training.checkpoint import CHECKPOINT
from spacy_elmo.training.train import pretrain
from spacy_elmo.training.vocab import build_vocab

from helpers import FAST, TINY_CFG, settings, wikitext_slice

runner = CliRunner()

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wikitext")
    return wikitext_slice(tmp, "train", 200), wikitext_slice(tmp, "valid", 20)


def _run(train, out, dev=None, **kw):
    flags = {k: kw.pop(k) for k in ("resume", "overwrite", "allow_data_change", "on_step") if k in kw}
    kw.setdefault("training__max_steps", 4)
    return pretrain(settings(train, dev, **kw), out, show_progress=False, **flags)


def _snapshot(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _steps(out):
    return [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines()]


# -- an earlier run: refuse, --resume or --overwrite ---------------------------------


def test_second_run_without_resume_refuses_and_touches_nothing(corpus, tmp_path):
    train, dev = corpus
    out = tmp_path / "out"
    _run(train, out, dev, training__eval_every=2)
    before = _snapshot(out)
    assert _steps(out) == [2, 4]
    with pytest.raises(InputError, match=r"out holds an earlier pretraining run \(checkpoints, model-last, model-best, "
                                         r"metrics\.jsonl, vocab\.txt, config\.json\)\. Pass --resume .* --overwrite"):
        _run(train, out, dev, training__eval_every=2)
    assert _snapshot(out) == before
    # a partial run (only metrics.jsonl left) is an earlier run too
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "metrics.jsonl").write_text('{"step": 20}\n')
    with pytest.raises(InputError, match=r"earlier pretraining run \(metrics\.jsonl\)"):
        _run(train, partial)


def test_overwrite_starts_clean_and_keeps_other_files(corpus, tmp_path):
    train, dev = corpus
    out = tmp_path / "out"
    _run(train, out, dev, training__eval_every=2)
    (out / "notes.txt").write_text("mine")
    (out / "model-best" / "stale.bin").write_bytes(b"x")
    result = _run(train, out, dev, training__eval_every=2, training__max_steps=6, overwrite=True)
    assert result["step"] == 6
    assert _steps(out) == [2, 4, 6]  # not 2, 4, 2, 4, 6
    assert torch.load(out / CHECKPOINT, weights_only=False)["step"] == 6
    assert not (out / "model-best" / "stale.bin").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_empty_existing_directory_is_fine(corpus, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert _run(corpus[0], out)["step"] == 4


def test_conflicting_flags_fail_before_any_work(corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OptionsError, match=r"--resume and --overwrite exclude each other"):
        _run(corpus[0], out, resume=True, overwrite=True)
    with pytest.raises(OptionsError, match=r"--allow-data-change .* only applies with --resume"):
        _run(corpus[0], out, allow_data_change=True)
    assert not out.exists()


def test_inputs_inside_the_outputs_are_refused(corpus, tmp_path):
    train, _ = corpus
    out = tmp_path / "out"
    _run(train, out)
    # starting again from this run's own model (or vocab) would delete it
    with pytest.raises(InputError, match=r"training\.init_model = .*model-last lies in model-last of OUTPUT_DIR"):
        _run(train, out, training__init_model=str(out / "model-last"), overwrite=True)
    with pytest.raises(InputError, match=r"data\.vocab = .*vocab\.txt lies in vocab\.txt of OUTPUT_DIR"):
        _run(train, out, data__vocab=str(out / "vocab.txt"), overwrite=True)
    assert (out / "model-last" / "weights.hdf5").exists() and (out / "vocab.txt").exists()


def test_cli_names_resume_and_overwrite(corpus, tmp_path):
    out = tmp_path / "out"
    args = ["pretrain", str(TINY_CFG), str(out), "--paths.train", str(corpus[0])]
    for key, value in dict(FAST, **{"training.max_steps": 2}).items():
        args += [f"--{key}", str(value)]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Pass --resume" in text and "--overwrite" in text, result.output
    result = runner.invoke(app, args + ["--overwrite"])
    assert result.exit_code == 0, result.output
    assert _steps(out) == [2]


# -- resuming on other training files ------------------------------------------------


def test_resume_on_other_files_is_refused_naming_them(tmp_path):
    train = wikitext_slice(tmp_path, "train", 200)  # changed below: not the shared one
    out = tmp_path / "out"
    _run(train, out, training__max_steps=2)
    other = wikitext_slice(tmp_path, "train", 200, skip=500)
    with pytest.raises(InputError, match=r"trained on other files than data\.train names now \(.*train-0-200\.txt is no "
                                         r"longer passed; .*train-500-200\.txt is new\).*--allow-data-change"):
        _run(other, out, resume=True)
    # the same file, changed in place
    with train.open("a", encoding="utf8") as handle:
        handle.write("one more line\n")
    size = train.stat().st_size
    with pytest.raises(InputError, match=rf"train-0-200\.txt has {size:,} bytes, {size - 14:,} in the checkpoint"):
        _run(train, out, resume=True)
    assert torch.load(out / CHECKPOINT, weights_only=False)["step"] == 2
    # deliberately: a warning, and the run goes on
    with pytest.warns(UserWarning, match=r"resuming on other training files .*\(--allow-data-change\)"):
        result = _run(train, out, resume=True, allow_data_change=True)
    assert result["step"] == 4
    record = torch.load(out / CHECKPOINT, weights_only=False)["data_files"]
    assert record == [{"path": str(train.resolve()), "size": size, "fingerprint": record[0]["fingerprint"]}]


def test_resume_from_a_moved_copy_of_the_same_file_is_fine(corpus, tmp_path):
    out = tmp_path / "out"
    _run(corpus[0], out, training__max_steps=2)
    moved = tmp_path / "moved.txt"
    moved.write_bytes(corpus[0].read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _run(moved, out, resume=True)["step"] == 4


# -- nothing left behind -------------------------------------------------------------


@pytest.mark.parametrize(
    "content,match",
    [
        (b"fine line\n" + b"x " * 200 + b"\n", r"line 2: the line is 401 characters long, more than the limit of 300 "
                                               r"\(\[data\] max_line_chars in a pretraining config"),
        (b"ok\nla caf\xe9 est\n", r"line 2: not valid UTF-8"),
        (b"  \n\n \t\n", r"the file is empty"),
        (b"", r"the file is empty"),
        (None, r"no file matches"),
    ],
)
def test_bad_text_leaves_no_output_dir(tmp_path, content, match):
    train = tmp_path / "train.txt"
    if content is not None:
        train.write_bytes(content)
    out = tmp_path / "a" / "out"
    with pytest.raises(InputError, match=match):
        _run(train, out, data__max_line_chars=300)
    assert not (tmp_path / "a").exists()


def _vocab_and_bad_text(corpus, tmp_path):
    """A vocabulary file (so the text is read lazily, during training) and the
    corpus with bad UTF-8 after 150 lines (about step 12 at batch 8)."""
    lines = corpus[0].read_bytes().splitlines(keepends=True)
    vocab = tmp_path / "vocab.txt"
    build_vocab(l.decode("utf8").split() for l in lines).to_disk(vocab)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"".join(lines[:150]) + b"caf\xe9\n" + b"".join(lines[150:]))
    return vocab, bad


def test_failure_before_the_first_checkpoint_removes_what_the_run_wrote(corpus, tmp_path):
    vocab, bad = _vocab_and_bad_text(corpus, tmp_path)
    steps = []
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(InputError, match=r"bad\.txt, line 151: not valid UTF-8"):
        _run(bad, out, data__vocab=str(vocab), training__max_steps=100, on_step=lambda s, l: steps.append(s))
    assert steps and not (tmp_path / "a").exists()  # it failed during training, and created a/b/out
    # a directory that was there stays, emptied of the run's files only
    there = tmp_path / "there"
    there.mkdir()
    (there / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"line 151: not valid UTF-8"):
        _run(bad, there, data__vocab=str(vocab), training__max_steps=100)
    assert [p.name for p in there.iterdir()] == ["notes.txt"]


def test_failure_after_a_checkpoint_keeps_the_run(corpus, tmp_path):
    vocab, bad = _vocab_and_bad_text(corpus, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"line 151: not valid UTF-8"):
        _run(bad, out, data__vocab=str(vocab), training__max_steps=100, training__checkpoint_every=1)
    assert torch.load(out / CHECKPOINT, weights_only=False)["step"] > 0


def test_second_ctrl_c_at_the_first_step_leaves_nothing(corpus, tmp_path):
    def ctrl_c_twice(step, loss):
        os.kill(os.getpid(), signal.SIGINT)  # stop after this step ...
        os.kill(os.getpid(), signal.SIGINT)  # ... no: at once
        raise AssertionError("the second Ctrl-C did not interrupt")

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(corpus[0], out, on_step=ctrl_c_twice)
    assert not out.exists()


# -- output paths checked before the work --------------------------------------------


def test_pretrain_output_dir_that_cannot_be_a_directory(corpus, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputError, match=r"afile is an existing file, so the OUTPUT_DIR \(a directory\) cannot"):
        _run(corpus[0], afile)
    with pytest.raises(OutputError, match=r"afile is a file, not a directory, so the OUTPUT_DIR .*afile/out cannot"):
        _run(corpus[0], afile / "out")


def test_evaluate_lm_checks_output_before_loading_the_model(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    text = tmp_path / "text.txt"
    text.write_text("a b c\n")
    # MODEL_DIR is empty: the output is checked first, before any work
    result = runner.invoke(app, ["evaluate-lm", str(tmp_path), str(text), "--output", str(afile / "ppl.json")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "is a file, not a directory, so the --output file" in " ".join(result.output.split()), result.output


def test_dump_token_embeddings_checks_output_before_loading_the_model(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("a\nb\n")
    (tmp_path / "emb.hdf5").mkdir()
    result = runner.invoke(app, ["dump-token-embeddings", str(tmp_path), str(words), str(tmp_path / "emb.hdf5")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "emb.hdf5 is an existing directory, so the OUTPUT_FILE cannot" in " ".join(result.output.split())
