"""The pieces of `embed`: the streaming reader, AllenNLP's sentence_to_index,
and the batching plan (windows, chunks of long lines, batches)."""
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_elmo.embed.plan import Window, carry_batches, window_batches, windows
from spacy_elmo.embed.reader import iter_lines, scan_input, write_sentence_index
from spacy_elmo.errors import InputError

token = st.text(st.characters(blacklist_categories=["Cs", "Zs", "Zl", "Zp", "Cc"]), min_size=1, max_size=4)
token_lists = st.lists(st.lists(token | st.sampled_from(['"', "\\\\", "a", "b"]), min_size=1, max_size=4),
                       max_size=12)


@settings(max_examples=100, deadline=None)
@given(token_lists)
def test_sentence_index_is_allennlps_json(tmp_path_factory, sentences):
    """Streamed, it is byte for byte json.dumps of the dict AllenNLP builds
    (repeated sentences: first position, last index)."""
    sentences = [s for s in sentences if " ".join(s).split() == s]
    path = tmp_path_factory.mktemp("index") / "in.txt"
    path.write_text("".join(" ".join(s) + "\n" for s in sentences), encoding="utf8")
    summary = scan_input(path)
    assert (summary.n_lines, summary.n_tokens) == (len(sentences), sum(map(len, sentences)))
    out = io.BytesIO()
    write_sentence_index(summary, out)
    expected = json.dumps({" ".join(s): str(i) for i, s in enumerate(sentences)})
    assert out.getvalue().decode("ascii") == expected


def test_reader_checks_every_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"a b\n  tabs\tand  spaces \r\n")
    assert list(iter_lines(path)) == [["a", "b"], ["tabs", "and", "spaces"]]
    path.write_bytes(b"a b\n \t\nc\n")
    with pytest.raises(InputError, match="line 2: the line is empty"):
        scan_input(path)
    path.write_bytes(b"a b\nc \xff\n")
    with pytest.raises(InputError, match="line 2: not valid UTF-8"):
        scan_input(path)
    with pytest.raises(InputError, match="is a directory"):
        scan_input(tmp_path)


def test_windows_partition_the_lines():
    lines = [["w"] * n for n in (5, 1, 9, 2, 2, 30, 1)]
    got = list(windows(iter(lines), max_tokens=10))
    assert [(w.number, w.first, [len(t) for t in w.lines]) for w in got] == [
        (0, 0, [5, 1, 9]), (1, 3, [2, 2, 30]), (2, 6, [1])]


@pytest.mark.parametrize("batch_size,budget,max_length", [(64, 4096, 256), (3, 50, 7), (1, 1, 1), (5, 100, 0)])
def test_batches_cover_every_token_once_within_the_limits(batch_size, budget, max_length):
    lengths = [1, 40, 3, 17, 17, 2, 9, 300, 8]
    window = Window(2, 100, [[f"t{i}"] * n for i, n in enumerate(lengths)])
    batches = list(window_batches(window, batch_size=batch_size, token_budget=budget, max_length=max_length))
    covered = sorted((line, i) for batch in batches for line, start, end in batch for i in range(start, end))
    assert covered == sorted((100 + k, i) for k, n in enumerate(lengths) for i in range(n))
    for batch in batches:
        longest = max(end - start for _, start, end in batch)
        assert 1 <= len(batch) <= batch_size
        assert len(batch) == 1 or len(batch) * (longest + 2) <= budget
        assert max_length == 0 or longest <= max_length
    flat = [end - start for batch in batches for _, start, end in batch]
    assert flat == sorted(flat, reverse=True)  # longest first


def test_carry_batches_keep_file_order():
    lines = [["w"] * n for n in (3, 1, 2, 5, 4)]
    got = [(w.first, [len(t) for t in w.lines]) for w in carry_batches(iter(lines), 2)]
    assert got == [(0, [3, 1]), (2, [2, 5]), (4, [4])]
