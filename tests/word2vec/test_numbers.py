"""The text block parser: bit-identical to gensim's numpy.float32(float(token))."""
import numpy
import pytest

from spacy_elmo.word2vec.numbers import parse_text_block, parse_text_block_fast


def test_fast_path_equals_line_path(shared_data):
    text = (shared_data / "word2vec-gensim-fixtures" / "word2vec_pre_kv_c").read_bytes()
    block = text.split(b"\n", 1)[1].rstrip(b"\n")
    fast = parse_text_block_fast(block, 10)
    assert fast is not None
    lines = block.split(b"\n")
    ref = numpy.array([[numpy.float32(float(x)) for x in l.split(b" ")[1:]] for l in lines])
    assert fast[0] == [l.split(b" ")[0] for l in lines]
    assert (fast[1].view(numpy.uint32) == ref.view(numpy.uint32)).all()
    # exponents, negative zero, long mantissas, trailing spaces
    block = b"a -0.000000 1e-05 \nb 0.12345678901234567890 -3\nc 1.5E+2 .5 "
    keys, values, _, problem = parse_text_block(block, 2)
    assert problem is None and keys == [b"a", b"b", b"c"]
    expect = numpy.array([[-0.0, 1e-05], [0.12345678901234567890, -3], [150.0, 0.5]], dtype=numpy.float32)
    assert (values.view(numpy.uint32) == expect.view(numpy.uint32)).all()


def _random_token(rng):
    """Mostly what word2vec tools write, ~3% odd but valid float() input."""
    r = rng.random()
    if r < 0.97:
        value = numpy.float32(rng.gauss(0, 0.1 if r < 0.5 else 2.0))
        return str(value) if r < 0.8 else "%.6f" % value  # gensim / the C tool
    sign = rng.choice(["", "-", "+"])
    kind = rng.randrange(5)
    if kind == 0:  # long mantissas: past 16 characters or 2**53
        return sign + "".join(rng.choice("0123456789") for _ in range(rng.randint(15, 22))) + "." + "9"
    if kind == 1:
        return sign + "%.*e" % (rng.randint(0, 9), rng.uniform(0, 1e6))
    if kind == 2:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16)))
        cut = rng.randint(0, len(digits))
        return sign + digits[:cut] + "." + digits[cut:]
    if kind == 3:
        return sign + str(rng.randint(0, 10**rng.randint(1, 17)))
    return rng.choice(["-0", "-0.0", ".5", "5.", "-.5", "nan", "inf", "-inf", "1_0", "9007199254740993"])


@pytest.mark.parametrize("bitwise_count", [True, False])
def test_fast_path_random_tokens(bitwise_count, monkeypatch):
    """The vectorized parser gives gensim's numpy.float32(float(token)) bit for
    bit on random tokens (and with numpy < 2's fallback for bit counting)."""
    import random

    if not bitwise_count and hasattr(numpy, "bitwise_count"):
        monkeypatch.delattr(numpy, "bitwise_count")
    rng = random.Random(0)
    for _ in range(60):
        dims = rng.randint(1, 50)
        tokens = [[_random_token(rng) for _ in range(dims)] for _ in range(rng.randint(40, 120))]
        lines = [f"k{i}é " + " ".join(row) + (" " if rng.random() < 0.3 else "") for i, row in enumerate(tokens)]
        block = "\n".join(lines).encode("utf8")
        fast = parse_text_block_fast(block, dims)
        assert fast is not None
        ref = numpy.array([[numpy.float32(float(t)) for t in row] for row in tokens], dtype=numpy.float32)
        assert fast[0] == [line.split(" ")[0].encode("utf8") for line in lines]
        assert (fast[1].view(numpy.uint32) == ref.view(numpy.uint32)).all()


@pytest.mark.parametrize("bad", ["1.2.3", ".", "-", "+", "--1", "1-", "a", "1e", "0x10", "1,5", "١", "-.", "1.5x"])
def test_fast_path_leaves_bad_tokens_to_line_path(bad):
    rows = "\n".join(f"w{i} 0.{i} -1.5" for i in range(20))
    block = f"{rows}\nbad 1.0 {bad}\nlast 2.0 3.0".encode("utf8")
    assert parse_text_block_fast(block, 2) is None
    _, _, _, problem = parse_text_block(block, 2)
    assert problem is not None and problem[0] == 20
