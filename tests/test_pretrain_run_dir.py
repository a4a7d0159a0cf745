"""OUTPUT_DIR of `pretrain`: resuming on other training files is refused
(--allow-data-change)."""
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

from pretrain_helpers import one_thread  # noqa: F401  (fixture)
from pretrain_helpers import FAST, TINY_CFG, settings, wikitext_slice

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


def test_old_checkpoint_without_a_record_resumes_with_a_warning(corpus, tmp_path):
    out = tmp_path / "out"
    _run(corpus[0], out, training__max_steps=2)
    payload = torch.load(out / CHECKPOINT, weights_only=False)
    del payload["data_files"]
    torch.save(payload, out / CHECKPOINT)
    with pytest.warns(UserWarning, match=r"no record of its training files"):
        assert _run(corpus[0], out, resume=True)["step"] == 4
    assert "data_files" in torch.load(out / CHECKPOINT, weights_only=False)
