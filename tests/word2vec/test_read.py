"""word2vec readers (text, binary, gensim) against gensim on real files; their errors."""
import bz2
import gzip
import re
import warnings

import numpy
import pytest

from spacy_elmo.errors import InputError
from spacy_elmo.word2vec.numbers import parse_text_block_fast
from spacy_elmo.word2vec.detect import detect_format
from spacy_elmo.word2vec.read import read_word2vec

from helpers import write_binary

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402

FIXTURES = [
    ("word2vec_pre_kv_c", False),
    ("EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", False),
    ("IT.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", False),
    ("lee_fasttext.vec", False),
    ("high_precision.kv.txt", False),
    ("euclidean_vectors.bin", True),
    ("high_precision.kv.bin", True),
]


def assert_same(table, kv):
    assert table.keys == list(kv.index_to_key)
    assert table.data.dtype == numpy.float32
    assert (table.data.view(numpy.uint32) == kv.vectors.view(numpy.uint32)).all()


@pytest.mark.parametrize("name,binary", FIXTURES)
def test_fixtures_match_gensim(shared_data, name, binary):
    path = shared_data / "word2vec-gensim-fixtures" / name
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    table = read_word2vec(path)
    assert table.fmt == ("binary" if binary else "text")
    assert_same(table, kv)


def test_compressed_and_headerless(shared_data, tmp_path):
    src = shared_data / "word2vec-gensim-fixtures" / "lee_fasttext.vec"
    kv = KeyedVectors.load_word2vec_format(str(src))
    for opener, suffix in [(gzip.open, ".gz"), (bz2.open, ".bz2")]:
        dst = tmp_path / ("v" + suffix)
        with opener(dst, "wb") as f:
            f.write(src.read_bytes())
        assert_same(read_word2vec(dst), kv)
    nohead = tmp_path / "glove.txt"
    nohead.write_bytes(src.read_bytes().split(b"\n", 1)[1])
    assert detect_format(nohead) == "text"
    assert_same(read_word2vec(nohead), kv)


def test_binary_c_tool_newline_and_gensim(wiki_kv, tmp_path):
    """gensim's binary (no newline after vectors) and the C tool's (newline)."""
    gpath = tmp_path / "g.bin"
    wiki_kv.save_word2vec_format(str(gpath), binary=True)
    assert_same(read_word2vec(gpath), KeyedVectors.load_word2vec_format(str(gpath), binary=True))
    cpath = tmp_path / "c.bin"
    with cpath.open("wb") as f:
        f.write(f"{len(wiki_kv.index_to_key)} {wiki_kv.vector_size}\n".encode())
        for key in wiki_kv.index_to_key:
            f.write(key.encode() + b" " + wiki_kv[key].astype("<f4").tobytes() + b"\n")
    table = read_word2vec(cpath)
    assert table.fmt == "binary"
    assert_same(table, KeyedVectors.load_word2vec_format(str(cpath), binary=True))
    tpath = tmp_path / "t.txt"
    wiki_kv.save_word2vec_format(str(tpath))
    assert_same(read_word2vec(tpath), KeyedVectors.load_word2vec_format(str(tpath)))


def test_gensim_pickle_is_opt_in(wiki_kv, tmp_path):
    path = tmp_path / "w.kv"
    wiki_kv.save(str(path))
    with pytest.raises(InputError, match="allow_pickle"):
        read_word2vec(path)
    table = read_word2vec(path, allow_pickle=True)
    assert table.fmt == "gensim"
    assert table.keys == list(wiki_kv.index_to_key)
    assert numpy.array_equal(table.data, wiki_kv.vectors)


def test_crlf_line_ends(wiki_kv, tmp_path):
    """Windows line ends ("\\r\\n", also after a trailing space) read like "\\n",
    on the fast path; a lone "\\r" inside a line leaves the block to the line path."""
    path = tmp_path / "t.txt"
    wiki_kv.save_word2vec_format(str(path))
    text = path.read_bytes()
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(text.replace(b"\n", b" \r\n", 10).replace(b"\n", b"\r\n"))
    a, b = read_word2vec(path), read_word2vec(crlf)
    assert a.keys == b.keys and a.data.tobytes() == b.data.tobytes()
    block = text.split(b"\n", 1)[1][:20000]
    block = block[: block.rfind(b"\n")]
    fast = parse_text_block_fast(block.replace(b"\n", b"\r\n"), wiki_kv.vector_size)
    assert fast is not None
    assert fast[1].tobytes() == parse_text_block_fast(block, wiki_kv.vector_size)[1].tobytes()
    assert parse_text_block_fast(block.replace(b" ", b"\r ", 1), wiki_kv.vector_size) is None


BAD = [
    ("3 2\na 1 2\nb 3 4\n", "header says 3 rows, but the file ends after 2 rows"),
    ("1 2\na 1 2\nb 3 4\n", "line 3: the header says 1 rows, but the file has more"),
    ("2 2\na 1 2\nb 3 4 5\n", "line 3: expected 2 values after the key 'b', found 3"),
    ("2 2\na 1 2\nb 3\n", "line 3: expected 2 values after the key 'b', found 1"),
    ("2 2\na 1 x2\nb 3 4\n", "line 2: 'x2' is not a number \\(value 2 of the row for 'a'\\)"),
    ("2 2\n 1 2\nb 3 4\n", "line 2: the row has an empty key"),
    ("2 2\na 1  2\nb 3 4\n", "line 2: two spaces in a row before value 2 of the row for 'a'"),
    ("2 2\na 1\t2\nb 3 4\n", "line 2: expected 2 values after the key 'a', found 1"),
    ("", "the file is empty"),
    ("0 5\n", "no rows"),
]


@pytest.mark.parametrize("text,match", BAD)
@pytest.mark.parametrize("fmt", ["auto", "text"])
def test_bad_text(tmp_path, text, match, fmt):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf8")
    with pytest.raises(InputError, match=match) as err:
        read_word2vec(path, fmt=fmt)
    assert str(path) in str(err.value)


def test_bad_binary_and_unicode(shared_data, tmp_path):
    src = (shared_data / "word2vec-gensim-fixtures" / "euclidean_vectors.bin").read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(src[:-7])
    with pytest.raises(InputError, match=r"byte offset \d+: the binary file ends before row 2747 of 2747 is complete.*2746 rows are complete"):
        read_word2vec(path)
    path = tmp_path / "u.txt"
    path.write_bytes(b"2 2\nab\xff 1 2\ncd 3 4\n")
    with pytest.raises(InputError, match="line 2: the key is not valid UTF-8"):
        read_word2vec(path)
    assert read_word2vec(path, unicode_errors="replace").keys == ["ab\ufffd", "cd"]
    assert read_word2vec(path, unicode_errors="ignore").keys == ["ab", "cd"]
    with pytest.raises(InputError, match="does not exist"):
        read_word2vec(tmp_path / "missing.txt")


def test_many_blocks(wiki_kv, tmp_path, monkeypatch):
    """With small blocks the file is many blocks: rows, values, a duplicate
    many blocks later and the line numbers of errors are those of one block;
    a line longer than a block is read whole, and truncate stops mid-file."""
    import spacy_elmo.word2vec.read as w2v

    path = tmp_path / "t.txt"
    wiki_kv.save_word2vec_format(str(path))
    a = read_word2vec(path)
    monkeypatch.setattr(w2v, "TEXT_BLOCK_SIZE", 4096)
    b = read_word2vec(path)
    assert path.stat().st_size > 50 * 4096
    assert a.keys == b.keys == list(wiki_kv.index_to_key)
    assert a.data.tobytes() == b.data.tobytes() == wiki_kv.vectors.tobytes()
    lines = path.read_text(encoding="utf8").splitlines()
    first_key = lines[1].split(" ")[0]
    lines[0] = f"{len(lines)} {wiki_kv.vector_size}"
    path.write_text("\n".join(lines + [first_key + lines[2][lines[2].index(" "):]]) + "\n", encoding="utf8")
    with pytest.warns(UserWarning, match="1 duplicate"):
        dup = read_word2vec(path)  # a duplicate many blocks later: the first row wins
    assert dup.keys == a.keys and dup.data.tobytes() == a.data.tobytes() and dup.n_duplicates == 1
    lines[0] = f"{len(lines) - 1} {wiki_kv.vector_size}"
    bad_line = len(lines) - 7
    bad = lines[bad_line - 1]
    lines[bad_line - 1] = bad.rsplit(" ", 1)[0] + " 0.5x"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    with pytest.raises(InputError, match=f"line {bad_line}\\b"):
        read_word2vec(path)
    lines[bad_line - 1] = bad
    long_key = "x" * 20000  # longer than a block
    lines.insert(200, long_key + lines[5][lines[5].index(" "):])
    lines[0] = f"{len(lines) - 1} {wiki_kv.vector_size}"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    table = read_word2vec(path)
    assert table.keys[199] == long_key and (table.data[199] == wiki_kv.vectors[4]).all()
    assert table.keys[:199] + table.keys[200:] == a.keys
    short = read_word2vec(path, truncate=300)
    assert short.keys == table.keys[:300] and short.data.tobytes() == table.data[:300].tobytes()


def test_truncate_stops_before_a_bad_row(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("3 2\na 1 2\nb 3 4\nc 5 x\n", encoding="utf8")
    assert read_word2vec(path, truncate=2).keys == ["a", "b"]
    with pytest.raises(InputError, match="line 4"):
        read_word2vec(path, truncate=3)


@pytest.mark.parametrize("compress", [False, True])
def test_progress_bar(wiki_kv, tmp_path, capsys, compress):
    path = tmp_path / "t.txt"
    wiki_kv.save_word2vec_format(str(path))
    if compress:
        gz = tmp_path / "t.txt.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    read_word2vec(path)
    assert "Reading" not in capsys.readouterr().err
    table = read_word2vec(path, progress=True)
    err = capsys.readouterr().err
    assert f"Reading {path.name}" in err
    assert ("100%" in err) != compress  # a total only for plain files
    assert table.keys == list(wiki_kv.index_to_key)


def _small(rows, dims, seed):
    rng = numpy.random.default_rng(seed)
    keys = [f"w{i}" for i in range(rows)]
    return keys, (rng.standard_normal((rows, dims)) * 0.1).astype(numpy.float32)


@pytest.mark.parametrize("newline", [False, True])
def test_small_binary_files_are_detected_by_content(tmp_path, newline):
    """Valid 9 x 5 binary files, whatever bytes their floats happen to have
    (the old rule looked for control characters in the first row: ~1 file in
    10 has none), are read as binary and match gensim bit for bit."""
    for seed in range(40):
        keys, data = _small(9, 5, seed)
        path = write_binary(tmp_path / f"s{seed}.bin", keys, data, newline)
        assert detect_format(path) == "binary", seed
        table = read_word2vec(path)
        assert_same(table, KeyedVectors.load_word2vec_format(str(path), binary=True))


def test_the_other_format_is_named(tmp_path):
    keys, data = _small(9, 5, 0)
    binary = write_binary(tmp_path / "s.bin", keys, data)
    with pytest.raises(InputError, match=r"looks like binary word2vec.*--format binary"):
        read_word2vec(binary, fmt="text")
    text = tmp_path / "s.txt"
    KeyedVectors.load_word2vec_format(str(binary), binary=True).save_word2vec_format(str(text))
    with pytest.raises(InputError, match=r"looks like text word2vec.*--format text"):
        read_word2vec(text, fmt="binary")


@pytest.mark.parametrize("newline", [False, True])
@pytest.mark.parametrize("complete", [0, 7, 8])
@pytest.mark.parametrize("into", [0, 1, 3, 10])
def test_truncated_binary_suggests_the_complete_rows(tmp_path, newline, complete, into):
    """A 9-row binary file cut `into` bytes after its last complete row (at
    the boundary, inside the key, inside the values): the error names the
    number of complete rows, and truncate with that number reads them."""
    keys, data = _small(9, 5, 1)
    path = write_binary(tmp_path / "s.bin", keys, data, newline)
    row = len("w0 ") + 4 * 5 + newline
    path.write_bytes(path.read_bytes()[: len(b"9 5\n") + complete * row + into])
    if complete == 0:  # with raw bytes to see, it is a binary file with no complete row
        with pytest.raises(InputError, match="no complete row" if into == 10 else None):
            read_word2vec(path)
        return
    with pytest.raises(InputError, match=f"{complete} rows are complete.*--truncate {complete}\\)") as err:
        read_word2vec(path)
    suggested = int(re.search(r"--truncate (\d+)", str(err.value)).group(1))
    table = read_word2vec(path, truncate=suggested)
    assert table.keys == keys[:complete]
    assert table.data.tobytes() == data[:complete].tobytes()


CUT_OR_LONGER = [  # (file, the rows that the suggested truncate reads)
    (b"3 2\na 1 2\nb 3 4\n", ["a", "b"]),  # E103: fewer rows than the header
    (b"1 2\na 1 2\nb 3 4\n", ["a"]),  # E104: more rows than the header
    (b"2 2\na 1 2\nb 3 4\njunk\n", ["a", "b"]),  # E104: a bad line after the header's rows
    (b"3 2\na 1 2\nb 3 4\nc 5", ["a", "b"]),  # E123: cut inside the last row
    (b"3 2\na 1 2\nb 3 4\nc 5 -", ["a", "b"]),  # E123: cut inside a number
    (b"a 1 2\nb 3 4\nc 5", ["a", "b"]),  # E123, headerless
    (b"1 2\na " + numpy.ones(2, "<f4").tobytes() + b"b " + numpy.ones(2, "<f4").tobytes(), ["a"]),  # E118
]


@pytest.mark.parametrize("data,keys", CUT_OR_LONGER)
def test_suggested_truncate_works(tmp_path, data, keys):
    """Every error that suggests truncate=N names a number with which the
    file then reads (before, E104/E118 suggested the header's row count,
    which failed again, and a cut last row got no suggestion)."""
    path = tmp_path / "v.txt"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"--truncate \d+\)") as err:
        read_word2vec(path)
    suggested = int(re.search(r"--truncate (\d+)\)", str(err.value)).group(1))
    assert read_word2vec(path, truncate=suggested).keys == keys


def test_last_row_without_line_break_warns(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 2\na 1 2\nb 3 4.5")
    with pytest.warns(UserWarning, match=r"line 3: the file ends without a line break .*key 'b'"):
        table = read_word2vec(path)
    assert table.data.tolist() == [[1, 2], [3, 4.5]]


@pytest.mark.parametrize("compress", [False, True])
def test_header_too_large_to_allocate(tmp_path, compress):
    path = tmp_path / "v.txt"
    data = b"1 99999999999999\nw 1 2\n" if not compress else gzip.compress(b"99999999999999 99999\nw 1 2\n")
    path.write_bytes(data)
    with pytest.raises(InputError, match="cannot be allocated"):
        read_word2vec(path)


@pytest.mark.parametrize("compress,damage", [
    (gzip.compress, lambda data: data[:-9]),  # cut
    (bz2.compress, lambda data: data[:20] + bytes([data[20] ^ 0xFF]) + data[21:]),  # a byte changed
])
def test_damaged_compressed_file(tmp_path, compress, damage):
    """A compressed file that cannot be decompressed is an InputError naming
    the compression and the tool that checks it (it was an OSError/EOFError
    from the decompressor)."""
    data = b"2 3\na 1 2 3\nb 4 5 6\n"
    path = tmp_path / "v.txt"
    path.write_bytes(damage(compress(data)))
    for fmt in ("auto", "text", "binary"):
        with pytest.raises(InputError, match=r"the (bz2|gzip) data is damaged or cut off .* -t "):
            read_word2vec(path, fmt=fmt)


def test_text_starting_with_bz2s_magic_is_text(tmp_path):
    """Found by fuzzing: 'BZh' alone is bz2's magic; a text file starting with
    it is read as text (io/text.py also checks the block magic), not as a
    damaged bz2 stream."""
    path = tmp_path / "v.txt"
    path.write_bytes(b"BZh 1 2 3\nb 4 5 6\n")
    table = read_word2vec(path)
    assert table.keys == ["BZh", "b"] and table.data.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_headerless_single_line_ending_with_a_line_break(tmp_path):
    """Found by fuzzing: a headerless file of one line with its line break read
    as 'no line break' (the first line keeps its newline)."""
    path = tmp_path / "v.txt"
    path.write_bytes(b"a 1.5 2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_word2vec(path).data.tolist() == [[1.5, 2]]


@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_binary_file_whose_floats_are_printable_bytes(tmp_path, newline):
    """Found by fuzzing: a one-row binary file whose float32 bytes are all
    printable ASCII ('\\t"&=') was read as text and failed. The binary reading
    explains the whole file exactly and the text reading fails: binary."""
    path = tmp_path / "v.bin"
    value = numpy.frombuffer(b'\t"&=', dtype="<f4")
    path.write_bytes(b"1 1\n0 " + value.tobytes() + newline)
    table = read_word2vec(path)
    assert table.fmt == "binary" and table.keys == ["0"]
    assert table.data.view(numpy.uint32).tolist() == [[int(value.view(numpy.uint32)[0])]]
