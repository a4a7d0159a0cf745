"""Vocabulary, streamed windows and sharding on real WikiText-2 text."""
import pytest
import torch

from spacy_elmo.bilm.chars import BOS_TOKEN, EOS_TOKEN, CharEncoder
from spacy_elmo.errors import InputError
from spacy_elmo.training.data import IGNORE, WindowStream, expand_paths, iter_lines
from spacy_elmo.training.vocab import SPECIALS, Vocab, build_vocab

from helpers import wikitext_slice


def _lines(path):
    return [l.split() for l in path.read_text(encoding="utf8").splitlines() if l.split()]


def test_build_vocab_order_min_count_and_max_size(tmp_path):
    vocab = build_vocab([["b", "a", "b", "c"], ["b", "a", "<S>"]], min_count=2)
    assert vocab.tokens == list(SPECIALS) + ["b", "a"]
    assert vocab.lookup("c") == vocab.unk == 2 and vocab.lookup("b") == 3
    assert len(build_vocab([["b", "a", "b", "c"]], max_size=4)) == 4
    vocab.to_disk(tmp_path / "vocab.txt")
    assert Vocab.from_disk(tmp_path / "vocab.txt") == vocab


def test_vocab_file_with_duplicates_names_both_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<S>\n</S>\n<UNK>\nthe\nof\nthe\n", encoding="utf8")
    with pytest.raises(InputError, match=r"line 6: the token 'the' already appeared on line 4"):
        Vocab.from_disk(path)


def test_vocab_file_without_specials_gets_them_first(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("the\nof\n", encoding="utf8")
    assert Vocab.from_disk(path).tokens == list(SPECIALS) + ["the", "of"]


def test_windows_follow_both_streams_and_count_every_target_once(tmp_path):
    path = wikitext_slice(tmp_path, "valid", 60)
    lines = _lines(path)
    vocab = build_vocab(lines)
    stream = WindowStream([path], vocab, batch_size=4, unroll=7, repeat=False, flush=True)
    n_targets = torch.zeros(2, dtype=torch.long)
    for batch in stream:
        n_targets += (batch.targets >= 0).sum(dim=(1, 2))
        # the input at t + 1 is the forward target at t (when that is a word)
        words = batch.targets[0, :, :-1]
        nxt = batch.index[0, :, 1:]
        ids = torch.from_numpy(stream.encoder.encode([vocab.tokens[i] for i in words[words > 2].tolist()]))
        assert torch.equal(batch.chars[nxt[words > 2]], ids)
    # each line of n words gives n + 1 targets per direction, nothing more
    expected = sum(len(l) + 1 for l in lines)
    assert n_targets.tolist() == [expected, expected]


def test_backward_stream_is_each_sentence_reversed(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b c\n\nd e\n", encoding="utf8")
    vocab = build_vocab([["a", "b", "c", "d", "e"]])
    batch = next(WindowStream([path], vocab, batch_size=1, unroll=9, repeat=False, flush=True))
    names = vocab.tokens
    fwd = [names[i] if i >= 0 else None for i in batch.targets[0, 0].tolist()]
    bwd = [names[i] if i >= 0 else None for i in batch.targets[1, 0].tolist()]
    # inputs: <S> a b c </S> <S> d e </S>; the </S> -> <S> step is not a target
    assert fwd == ["a", "b", "c", EOS_TOKEN, None, "d", "e", EOS_TOKEN, None]
    # inputs: </S> c b a <S> </S> e d <S>
    assert bwd == ["c", "b", "a", BOS_TOKEN, None, "e", "d", BOS_TOKEN, None]


def test_sharding_splits_lines_without_overlap(tmp_path):
    path = wikitext_slice(tmp_path, "valid", 80)
    everything = [i for i, _ in iter_lines([path], 20_000)]
    shards = [[i for i, _ in iter_lines([path], 20_000, rank=r, world_size=2)] for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == everything
    assert all(i % 2 == 0 for i in shards[0]) and all(i % 2 == 1 for i in shards[1])


def test_stream_state_restores_exactly(tmp_path):
    path = wikitext_slice(tmp_path, "valid", 40)
    vocab = build_vocab(_lines(path))
    make = lambda: WindowStream([path], vocab, batch_size=3, unroll=5, max_epochs=3, reset_prob=0.5)  # noqa: E731
    first = make()
    for _ in range(17):
        next(first)
    second = make()
    second.load_state_dict(first.state_dict())
    for _ in range(40):  # crosses epoch boundaries
        a, b = next(first), next(second)
        assert torch.equal(a.targets, b.targets) and torch.equal(a.chars[a.index], b.chars[b.index])
        assert torch.equal(a.resets, b.resets)


def test_state_resets_fall_on_sentence_starts_of_both_streams(tmp_path):
    path = wikitext_slice(tmp_path, "valid", 60)
    lines = _lines(path)
    vocab = build_vocab(lines)
    names = vocab.tokens

    def run(prob, seed=0):
        stream = WindowStream([path], vocab, batch_size=3, unroll=6, repeat=False, flush=True, reset_prob=prob, seed=seed)
        return list(stream)

    assert all(b.resets is None for b in run(0.0))
    bos, eos = torch.from_numpy(CharEncoder(50).encode([BOS_TOKEN, EOS_TOKEN]))
    n_resets = 0
    for batch in run(1.0):
        for b, t in batch.resets.nonzero().tolist():
            n_resets += 1
            # the input there opens a sentence in each stream
            fwd = batch.chars[batch.index[0, b, t]]
            bwd = batch.chars[batch.index[1, b, t]]
            assert torch.equal(fwd, bos) and torch.equal(bwd, eos)
    assert n_resets == len(lines)  # every sentence, each once
    some = [b.resets for b in run(0.3)]
    again = [b.resets for b in run(0.3)]
    other = [b.resets for b in run(0.3, seed=1)]
    assert all(torch.equal(x, y) for x, y in zip(some, again))
    assert not all(torch.equal(x, y) for x, y in zip(some, other))
    fraction = sum(int(x.sum()) for x in some) / len(lines)
    assert 0.15 < fraction < 0.45


def test_train_stream_repeats_and_stops_after_max_epochs(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b c d e f g h\n", encoding="utf8")
    vocab = build_vocab([list("abcdefgh")])
    batches = list(WindowStream([path], vocab, batch_size=1, unroll=5, max_epochs=2))
    # 2 epochs x 10 tokens = 20 tokens -> 3 full windows of 5 (+1 look-ahead)
    assert len(batches) == 3
    # the only untargeted step: </S> -> <S> between the epochs, once per direction
    assert sum(int((b.targets == IGNORE).sum()) for b in batches) == 2


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "is empty"),
        (b"  \n\n \t\n", "is empty"),
        (b"fine line\n" + b"x " * 50_000 + b"\n", r"line 2: the line is 100,001 characters long"),
        (b"ok\nla caf\xe9 est\n", r"line 2: not valid UTF-8"),
    ],
)
def test_bad_text_files_name_the_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        files = expand_paths(str(path), "paths.train")
        list(iter_lines(files, 20_000))


def test_globs_and_missing_files(tmp_path):
    for i in range(2):
        (tmp_path / f"part{i}.txt").write_text(f"line {i}\n", encoding="utf8")
    assert [p.name for p in expand_paths(str(tmp_path / "part*.txt"), "paths.train")] == ["part0.txt", "part1.txt"]
    with pytest.raises(InputError, match=r"paths.train.*nothing\*.txt"):
        expand_paths(str(tmp_path / "nothing*.txt"), "paths.train")


def test_cut_compressed_text_names_the_line_where_it_breaks_off(tmp_path):
    """A truncated .gz training file is an InputError naming the file, the
    line and `gzip -t`, not the decompressor's EOFError."""
    import gzip

    path = tmp_path / "train.txt.gz"
    data = gzip.compress(b"".join(b"line %d of text\n" % i for i in range(5000)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"train.txt.gz, line \d+: the gzip data is damaged or cut off.*gzip -t"):
        list(iter_lines([path], 1000))
