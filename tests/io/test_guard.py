"""io/guard.py: an output is never an input; one writer at a time."""
import os
import subprocess
import sys

import pytest

from spacy_elmo.errors import OutputError
from spacy_elmo.io.guard import check_not_inputs, lock_path, output_lock

from helpers import HOLD_LOCK as HOLD


def hold_lock(target):
    """A second process holding the output lock of `target` until its stdin
    closes; returns when it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_same_file_by_name_symlink_and_hard_link(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a b\n")
    (tmp_path / "link.txt").symlink_to(src)
    os.link(src, tmp_path / "hard.txt")
    for name in ("in.txt", "link.txt", "hard.txt", "sub/../in.txt"):
        with pytest.raises(OutputError, match=r"OUTPUT_FILE .* is INPUT_FILE .*in\.txt.*would destroy the input"):
            check_not_inputs([("OUTPUT_FILE", tmp_path / name)], [("INPUT_FILE", src)])
    check_not_inputs([("OUTPUT_FILE", tmp_path / "new.hdf5")], [("INPUT_FILE", src)])
    assert src.read_text() == "a b\n"


def test_folder_output_holding_an_input_and_a_file_of_an_input_folder(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.hdf5").write_bytes(b"x")
    (tmp_path / "alias").symlink_to(model)
    with pytest.raises(OutputError, match=r"OUTPUT_DIR .*alias holds VECTORS_PATH .*weights\.hdf5"):
        check_not_inputs([("OUTPUT_DIR", tmp_path / "alias")], [("VECTORS_PATH", model / "weights.hdf5")],
                         folder_outputs=("OUTPUT_DIR",))
    # an existing file of an input folder is the input; a new file beside it is not
    with pytest.raises(OutputError, match=r"--output file .*weights\.hdf5 is MODEL_DIR"):
        check_not_inputs([("--output file", tmp_path / "alias" / "weights.hdf5")], [("MODEL_DIR", model)])
    check_not_inputs([("--output file", model / "ppl.json")], [("MODEL_DIR", model)])


def test_a_held_lock_names_its_process_and_a_dead_ones_does_not_block(tmp_path):
    target = tmp_path / "sub" / "out.hdf5"
    holder = hold_lock(target)
    try:
        with pytest.raises(OutputError, match=rf"OUTPUT .*out\.hdf5 is being written by process {holder.pid} on "):
            with output_lock(target, "OUTPUT"):
                pass
    finally:
        holder.kill()  # as kill -9: the lock file stays, with its PID
        holder.wait()
    assert lock_path(target).exists()
    with output_lock(target, "OUTPUT") as path:
        assert path.read_text().split()[0] == str(os.getpid())
        with output_lock(target, "OUTPUT"):  # the same process again: nested, not blocked
            pass
    assert not lock_path(target).exists()


def test_the_folder_made_for_a_lock_goes_if_nothing_was_written(tmp_path):
    with pytest.raises(RuntimeError):
        with output_lock(tmp_path / "a" / "b" / "out.txt"):
            raise RuntimeError("failed before writing")
    assert list(tmp_path.iterdir()) == []
    with output_lock(tmp_path / "a" / "out.txt"):
        (tmp_path / "a" / "out.txt").write_text("x")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["out.txt"]


def test_a_killed_runs_temporary_goes_with_the_next_write_into_its_folder(tmp_path):
    """issue 23 item 8: any command writing into the folder removes it (here
    another output name), once its writer's PID is gone."""
    import signal
    import warnings

    from spacy_elmo.io.atomic import atomic_write_text

    script = (
        "import os, signal, sys\n"
        "from spacy_elmo.io.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1], suffix='.hdf5.tmp') as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.hdf5")])
    assert proc.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".big.hdf5.") and left.name.endswith(".hdf5.tmp")
    with pytest.warns(UserWarning, match=rf"Removed .*{left.name}: a temporary file for .*big\.hdf5 left by process"):
        atomic_write_text(tmp_path / "metrics.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atomic_write_text(tmp_path / "metrics.json", "{}")
