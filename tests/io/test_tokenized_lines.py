"""io/text.py tokenized_lines: the one reader of one-sentence-per-line text
(embed, pretraining, evaluation, word2vec training) and its rules."""
import gzip
import json

import h5py
import pytest
from typer.testing import CliRunner

from spacy_elmo.cli._app import app
from spacy_elmo.embed.reader import iter_lines as embed_lines
from spacy_elmo.errors import InputError
from spacy_elmo.io.text import tokenized_lines
from spacy_elmo.training.data import iter_lines as training_lines
from spacy_elmo.word2vec.train import TokenizedText


def test_numbers_tokens_blank_lines_and_bom(tmp_path):
    path = tmp_path / "in.txt.gz"
    with gzip.open(path, "wb") as handle:
        handle.write("\ufeffThe bank\n\n  a\tb  \n".encode("utf8"))
    assert list(tokenized_lines(path)) == [(1, ["The", "bank"]), (2, []), (3, ["a", "b"])]
    # one meaning in every reader: blank lines hold no sentence
    assert list(TokenizedText([path])) == [["The", "bank"], ["a", "b"]]
    assert list(training_lines([path], 100)) == [(0, ["The", "bank"]), (2, ["a", "b"])]
    with pytest.raises(InputError, match=r"in\.txt\.gz, line 2: the line is empty"):
        list(embed_lines(path))  # its keys are line numbers: a blank line is refused


@pytest.mark.parametrize("content,message", [
    (b"ok\n\xff\xfe\n", r"line 2: not valid UTF-8"),
    ("ok\n".encode("utf-16-le") + b"\n", r"line 1: a NUL byte"),
    ("ok\n".encode("utf-16"), r"the file is UTF-16"),
    (b"ok\n" + b"x" * 30 + b"\n", r"line 2: the line is 31 characters long, more than the limit of 20"),
])
def test_bad_bytes_are_an_error_naming_the_line_in_every_reader(tmp_path, content, message):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    readers = [lambda: list(tokenized_lines(path, max_line_chars=20)), lambda: list(training_lines([path], 20))]
    if "limit" not in message:  # word2vec training text has no line limit
        readers.append(lambda: list(TokenizedText([path])))
    for read in readers:
        with pytest.raises(InputError, match=message):
            read()


def test_embed_drops_a_bom(tmp_path, fixture_bilm_dir):
    src = tmp_path / "in.txt"
    src.write_bytes("\ufeffThe bank closed .\n".encode("utf8"))
    out = tmp_path / "out.hdf5"
    result = CliRunner().invoke(app, ["embed", str(src), str(out), "--weights", str(fixture_bilm_dir), "--top"])
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        assert json.loads(f["sentence_to_index"][0]) == {"The bank closed .": "0"}
        assert f["0"].shape[0] == 4
