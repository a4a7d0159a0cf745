"""Property-based tests of the word2vec readers (issue 17, "Fuzzing").

- Random valid text and binary files read bit-identically to gensim's
  `KeyedVectors.load_word2vec_format` (keys and float32 bits).
- Random corruptions of valid files (truncation, changed bytes, junk lines, bad
  headers) give an ElmoError, never another exception; when they read, the
  result is the original table or exactly what gensim reads from the damaged
  file in the format we report: never a wrong array without an error.

A bounded number of examples by default (~5 s); the `slow` variants run the
same properties on 10x more (`pytest -m slow tests/word2vec/test_fuzz.py`).
"""
import atexit
import bz2
import gzip
import lzma
import random
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spacy_elmo.errors import ElmoError
from spacy_elmo.word2vec.detect import parse_header
from spacy_elmo.word2vec.read import read_word2vec

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402

FEW = settings(max_examples=100, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WORKDIR = Path(tempfile.mkdtemp(prefix="w2v_fuzz_"))  # one file, rewritten per example
atexit.register(shutil.rmtree, WORKDIR, True)

# Keys as word2vec tools write them: no whitespace, no control characters.
keys_st = st.text(st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")), min_size=1, max_size=8)
NUMBER_FORMATS = {  # how tools write a float32
    "str": str,  # gensim, numpy's shortest repr
    "%.6f": lambda x: "%.6f" % x,  # the word2vec C tool
    "repr64": lambda x: repr(float(x)),  # the float32's exact float64
    "%.9g": lambda x: "%.9g" % x,
    "%e": lambda x: "%e" % x,
    "%.3e": lambda x: "%.3e" % x,
}


@st.composite
def tables(draw, finite: bool = False):
    """(keys, float32 array): unique keys, 1-20 rows of 1-8 values."""
    dims = draw(st.integers(1, 8))
    keys = draw(st.lists(keys_st, min_size=1, max_size=20, unique=True))
    if finite:
        floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
        data = draw(arrays(numpy.float32, (len(keys), dims), elements=floats))
    else:  # any bits: NaN payloads, infinities, subnormals
        data = draw(arrays(numpy.uint32, (len(keys), dims))).view(numpy.float32)
    return keys, data


@st.composite
def text_files(draw):
    """The bytes of a valid word2vec text file (header or not)."""
    keys, data = draw(tables(finite=draw(st.booleans())))
    fmt = NUMBER_FORMATS[draw(st.sampled_from(sorted(NUMBER_FORMATS)))]
    end = draw(st.sampled_from(["\n", " \n", "\r\n", " \r\n"]))
    lines = [key + " " + " ".join(fmt(x) for x in row) + end for key, row in zip(keys, data)]
    header = draw(st.booleans())
    text = "".join(lines)
    if header:
        text = f"{len(keys)} {data.shape[1]}\n" + text
    else:
        assume(parse_header(lines[0].encode("utf8")) is None)  # key "5", value "3" is a header
    return text.encode("utf8"), header


@st.composite
def binary_files(draw):
    """The bytes of a valid binary word2vec file (gensim's, or the C tool's
    with a newline after each vector)."""
    keys, data = draw(tables())
    newline = b"\n" if draw(st.booleans()) else b""
    rows = [key.encode("utf8") + b" " + row.astype("<f4").tobytes() + newline for key, row in zip(keys, data)]
    return f"{len(keys)} {data.shape[1]}\n".encode() + b"".join(rows)


def _write(data: bytes) -> Path:
    path = WORKDIR / "v"
    path.write_bytes(data)
    return path


def _gensim(path: Path, binary: bool, header: bool = True):
    return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)


def _same(table, keys, data) -> bool:
    return table.keys == list(keys) and table.data.shape == data.shape and (
        table.data.view(numpy.uint32) == data.view(numpy.uint32)
    ).all()


def check_text(file):
    data, header = file
    path = _write(data)
    kv = _gensim(path, binary=False, header=header)
    table = read_word2vec(path)
    assert table.fmt == "text"
    assert _same(table, kv.index_to_key, kv.vectors)


def check_binary(data):
    path = _write(data)
    kv = _gensim(path, binary=True)
    table = read_word2vec(path)
    assert table.fmt == "binary"
    assert _same(table, kv.index_to_key, kv.vectors)


JUNK_HEADERS = [b"", b"x", b"5", b"-1 5", b"5 -1", b"1e3 5", b"5 5 5", b"99999999999 5", b"1 999999999999", b"0 5", b"5 0", b"2 2"]


@st.composite
def corrupted_files(draw):
    """(damaged bytes, original keys, original data): a valid file with 1-3
    corruptions."""
    if draw(st.booleans()):
        data, _ = draw(text_files())
    else:
        data = draw(binary_files())
    path = _write(data)
    binary = read_word2vec(path).fmt == "binary"
    kv = _gensim(path, binary=binary, header=parse_header(data.partition(b"\n")[0]) is not None)
    original = (list(kv.index_to_key), kv.vectors.copy())
    compress = draw(st.sampled_from([None, None, gzip.compress, bz2.compress, lzma.compress]))
    if compress is not None:  # damage the compressed stream
        data = compress(data)
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))  # positions spread evenly (drawn integers favour 0)
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        op = draw(st.sampled_from(["truncate", "byte", "junk", "header"]))
        at = rng.randrange(len(data))
        if op == "truncate":
            data = data[:at]
        elif op == "byte":
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif op == "junk":  # a line of junk at a line start
            at = data.rfind(b"\n", 0, at) + 1
            junk = draw(st.one_of(st.binary(max_size=24), st.text(max_size=24).map(lambda t: t.encode("utf8"))))
            data = data[:at] + junk + b"\n" + data[at:]
        else:
            header = draw(st.one_of(st.sampled_from(JUNK_HEADERS), st.binary(max_size=12)))
            data = header + b"\n" + data.partition(b"\n")[2]
    return data, original


def check_corrupted(case):
    data, (keys, values) = case
    path = _write(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = read_word2vec(path)
        except ElmoError as err:
            event(f"error {str(err).split(': ', 1)[1][:40]}")
            return
        if _same(table, keys, values):
            event("read: the original table")
            return
        event("read: what gensim reads")
        # Read without an error: it must be what the damaged file says (gensim
        # fails on blank lines, which we skip).
        header = parse_header(data.partition(b"\n")[0]) is not None
        if table.fmt == "text":
            path = _write(b"\n".join(line for line in data.split(b"\n") if line.strip()))
        try:
            kv = _gensim(path, binary=table.fmt == "binary", header=header)
        except Exception as err:  # gensim cannot read it: then neither may we
            raise AssertionError(f"read {len(table.keys)} rows that gensim rejects ({err!r})") from None
    assert _same(table, kv.index_to_key, kv.vectors), (table.keys, kv.index_to_key)


@FEW
@given(text_files())
def test_text_files_read_like_gensim(file):
    check_text(file)


@FEW
@given(binary_files())
def test_binary_files_read_like_gensim(data):
    check_binary(data)


@settings(FEW, max_examples=300)
@given(corrupted_files())
def test_corrupted_files_fail_cleanly(case):
    check_corrupted(case)


@pytest.mark.slow
@MANY
@given(text_files())
def test_text_files_read_like_gensim_many(file):
    check_text(file)


@pytest.mark.slow
@MANY
@given(binary_files())
def test_binary_files_read_like_gensim_many(data):
    check_binary(data)


@pytest.mark.slow
@settings(MANY, max_examples=2000)
@given(corrupted_files())
def test_corrupted_files_fail_cleanly_many(case):
    check_corrupted(case)
