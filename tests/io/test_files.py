"""io/text.py (one opener for every input file) and io/atomic.py (output
checks, temporaries that carry the writer's PID and are cleaned up after a
crash)."""
import bz2
import gzip
import lzma
import os
import subprocess
import sys
import warnings

import pytest

from spacy_elmo.errors import InputError, OutputError
from spacy_elmo.io.atomic import (
    atomic_dir,
    atomic_path,
    check_free_space,
    check_output_dir,
    check_output_file,
    remove_stale_temps,
)
from spacy_elmo.io.text import check_input_file, detect_compression, open_text

TEXT = "the cat sat\non the mat\n".encode("utf8")


@pytest.mark.parametrize(
    "name,compress,expected",
    [
        ("plain.txt", lambda b: b, None),
        ("a.gz", gzip.compress, "gzip"),
        ("no_suffix", gzip.compress, "gzip"),  # detected by magic bytes, not the name
        ("a.txt.bz2", bz2.compress, "bz2"),
        ("a.xz", lzma.compress, "xz"),
        ("looks.gz", lambda b: b, None),  # a plain file with a misleading suffix
    ],
)
def test_open_text_detects_compression_by_content(tmp_path, name, compress, expected):
    path = tmp_path / name
    path.write_bytes(compress(TEXT))
    assert detect_compression(path) == expected
    with open_text(path) as handle:
        assert list(handle) == [b"the cat sat\n", b"on the mat\n"]


def test_text_starting_like_bz2_stays_text(tmp_path):
    """'BZh' is plain text: a NER file whose first token is 'BZh' is not bz2
    (only 'BZh', a block size and a block or end-of-stream magic are)."""
    path = tmp_path / "ner.conll"
    path.write_bytes(b"BZh\tO\nBZh9\tO\n")
    assert detect_compression(path) is None
    with open_text(path) as handle:
        assert list(handle) == [b"BZh\tO\n", b"BZh9\tO\n"]
    empty = tmp_path / "empty"
    empty.write_bytes(bz2.compress(b""))
    assert detect_compression(empty) == "bz2"
    with open_text(empty) as handle:
        assert handle.read() == b""


def test_input_checks_say_missing_or_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist. Pass X"):
        check_input_file(tmp_path / "nope.txt", "Pass X")
    with pytest.raises(InputError, match="is a directory, not a file. Pass X"):
        open_text(tmp_path, "Pass X")


def test_output_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="existing directory"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="existing file"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        check_output_file(tmp_path / "file" / "deeper" / "out.hdf5")
    assert check_output_file(tmp_path / "new" / "deeper" / "out.hdf5")
    assert check_output_dir(tmp_path / "new_dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_check_unwritable_parent(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_output_file(locked / "out.hdf5")
    finally:
        locked.chmod(0o700)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "out.hdf5"
    host = os.uname().nodename
    dead = _dead_pid()
    stale_file = tmp_path / f".out.hdf5.{host}.{dead}.abc.hdf5.tmp"
    stale_file.write_bytes(b"half")
    stale_dir = tmp_path / f".out.hdf5.{host}.{dead}.def.tmp"
    stale_dir.mkdir()
    (stale_dir / "x").write_text("x")
    live = tmp_path / f".out.hdf5.{host}.{os.getppid()}.ghi.tmp"  # a running process
    live.write_bytes(b"busy")
    other_host = tmp_path / f".out.hdf5.otherhost.{dead}.jkl.tmp"
    other_host.write_bytes(b"elsewhere")
    unrelated = tmp_path / ".other.hdf5.tmp"
    unrelated.write_bytes(b"keep")
    with pytest.warns(UserWarning, match=f"left by process {dead}"):
        with atomic_path(target, suffix=".hdf5.tmp") as tmp:
            assert f".{os.getpid()}." in tmp.name
            tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and other_host.exists() and unrelated.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert remove_stale_temps(target) == []


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "pipeline"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("2")
            raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline"]
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline"]


def test_kill_9_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    target = tmp_path / "out.txt"
    script = (
        "import os, signal\n"
        "from spacy_elmo.io.atomic import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -9
    left = [p for p in tmp_path.iterdir() if p.name != "out.txt"]
    assert len(left) == 1 and not target.exists()
    with pytest.warns(UserWarning, match="no longer runs"):
        with atomic_path(target) as tmp:
            tmp.write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_free_space_check(tmp_path):
    check_free_space(tmp_path / "new" / "o.hdf5", 1)  # the nearest existing folder's disk
    with pytest.raises(OutputError, match=r"o.hdf5: the output file needs about [\d,.]+ GiB and .* has [\d,.]+ \w+ free"):
        check_free_space(tmp_path / "new" / "o.hdf5", 2**63, hint=", or pass --top")


def test_other_errors_in_atomic_path_pass_through(tmp_path):
    with pytest.raises(RuntimeError, match="not about space"):
        with atomic_path(tmp_path / "o.txt"):
            raise RuntimeError("not about space")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", ["atomic_path", "scratch_path", "atomic_dir"])
def test_a_full_disk_is_one_clear_error_in_every_writer(tmp_path, writer):
    """ENOSPC from Python, or inside an h5py message, while any of the three
    writers is open: E055 naming the target, nothing left behind."""
    import errno

    from spacy_elmo.io import atomic

    for fault in (OSError(errno.ENOSPC, "No space left on device"),
                  RuntimeError("Can't write data (errno = 28, error message = 'No space left on device')")):
        with pytest.raises(OutputError, match=r"out: the disk filled up while it was written"):
            with getattr(atomic, writer)(tmp_path / "out"):
                raise fault
        assert list(tmp_path.iterdir()) == []
