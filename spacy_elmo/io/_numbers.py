"""Parse blocks of word2vec text rows. Imports only numpy, so the worker
processes that run `serve()` (`python -m spacy_elmo.io._numbers`) start fast
and stay small.

Values are bit-identical to gensim's `numpy.float32(token)`: numpy parses a
decimal string to float64 (correctly rounded) and then rounds to float32, and
`numpy.fromstring(..., dtype=float32, sep=" ")` does the same. A row that
`fromstring` rejects is retried token by token with Python's `float` (what
`numpy.float32(str)` uses), so both paths agree on every input and a bad token
is reported exactly.
"""
import pickle
import sys
from typing import List, Optional, Tuple

import numpy

# (line index in block, kind, key, detail): kind "empty-key"; kind "count" ->
# detail = number of values found; kind "number" -> detail = (value index,
# bad token).
Problem = Tuple[int, str, bytes, object]
BlockResult = Tuple[List[bytes], numpy.ndarray, Optional[List[int]], Optional[Problem]]


def parse_text_block(block: bytes, dims: int) -> BlockResult:
    """Split complete lines into keys and float32 rows.

    block (bytes): whole lines separated by b"\\n" (no trailing newline needed).
    dims (int): the number of values each row must have.
    RETURNS (BlockResult): (keys, values of shape (rows, dims), line index of
        each row or None when every line is a row, first problem or None).
        Blank lines are skipped; parsing stops at the first bad row.
    """
    fast = parse_text_block_fast(block, dims)
    if fast is not None:
        return fast
    lines = block.split(b"\n")
    out = numpy.empty((len(lines), dims), dtype=numpy.float32)
    keys: List[bytes] = []
    line_of_row: Optional[List[int]] = None
    fromstring = numpy.fromstring
    float32 = numpy.float32
    for i, line in enumerate(lines):
        key, _, rest = line.partition(b" ")
        if not key or not rest:
            if not line.strip():  # blank line (or just "\r")
                if line_of_row is None:
                    line_of_row = list(range(len(keys)))
                continue
            if not key:
                return keys, out[: len(keys)], line_of_row, (i, "empty-key", key, None)
        try:
            row = fromstring(rest, dtype=float32, sep=" ")
        except ValueError:
            row = None
        if row is None or row.shape[0] != dims:
            tokens = rest.split()
            if len(tokens) != dims:
                return keys, out[: len(keys)], line_of_row, (i, "count", key, len(tokens))
            row, bad = parse_tokens(tokens)
            if row is None:
                return keys, out[: len(keys)], line_of_row, (i, "number", key, (bad, tokens[bad]))
        out[len(keys)] = row
        if line_of_row is not None:
            line_of_row.append(i)
        keys.append(key)
    return keys, out[: len(keys)], line_of_row, None



_WS = numpy.zeros(256, dtype=bool)  # C isspace(): what numpy.fromstring skips
_WS[[9, 10, 11, 12, 13, 32]] = True
_TWO53 = 2**53
_P10 = 10.0 ** numpy.arange(23)  # exact in float64


def parse_text_block_fast(block: bytes, dims: int) -> Optional[BlockResult]:
    """`parse_text_block` for well-formed blocks, ~2-3x faster, or None.

    Float parsing (David Gay's strtod, ~2-4M numbers/s) is the bottleneck of
    every word2vec text reader. Here the decimal point is deleted and
    `numpy.fromstring(dtype=int64)` reads each value as an integer mantissa M
    (integers parse ~8x faster); the digits after the point (F) come from the
    point's offset. M / 10**F is one correctly rounded float64 division when
    |M| < 2**53 and F <= 22 (Clinger's fast path, "How to read floating point
    numbers accurately", PLDI 1990), i.e. exactly `float(token)`, and the cast
    to float32 rounds as gensim's `numpy.float32(token)` does. Tokens outside
    that (more digits, F > 22, exponents) are parsed with `float`. Anything
    unusual in the block (nan, bad counts, blank or odd lines) returns None and
    the caller uses the line-by-line `parse_text_block`, which also finds the
    error line.
    """
    u = numpy.frombuffer(block, dtype=numpy.uint8)
    word = ~_WS[u]
    edges = numpy.diff(word.view(numpy.int8), prepend=numpy.int8(0), append=numpy.int8(0))
    starts = numpy.flatnonzero(edges == 1)
    ends = numpy.flatnonzero(edges == -1)
    newlines = numpy.flatnonzero(u == 10)
    line_starts = numpy.concatenate([[0], newlines + 1])
    # Token index of each line's first token; every line: key + dims values.
    first_tok = numpy.searchsorted(starts, line_starts)
    counts = numpy.diff(numpy.append(first_tok, len(starts)))
    if len(starts) != len(line_starts) * (dims + 1) or (counts != dims + 1).any():
        return None
    if (starts[first_tok] != line_starts).any():  # a line starts with whitespace
        return None
    key_ends = ends[first_tok]
    if (u[key_ends] != 32).any():  # gensim splits the key off at a space only
        return None
    keys = [block[a:b] for a, b in zip(line_starts.tolist(), key_ends.tolist())]
    # Blank the keys, delete the points, read integer mantissas.
    values = bytearray(block)
    for a, b in zip(line_starts.tolist(), key_ends.tolist()):
        values[a:b] = b"0" * (b - a)
    is_key = numpy.zeros(len(starts), dtype=bool)
    is_key[first_tok] = True
    # Values with an exponent (gensim writes e.g. 1.2e-05) are blanked too and
    # parsed with float() below; if there are many, the slow path is as fast.
    e_tok = numpy.unique(numpy.searchsorted(starts, numpy.flatnonzero((u | 32) == 101), side="right") - 1)
    e_tok = e_tok[~is_key[e_tok]]
    if len(e_tok) > len(starts) // 10:
        return None
    for a, b in zip(starts[e_tok].tolist(), ends[e_tok].tolist()):
        values[a:b] = b"0" * (b - a)
    try:
        mant = numpy.fromstring(bytes(values).translate(None, b"."), dtype=numpy.int64, sep=" ")
    except ValueError:
        return None
    if mant.shape[0] != len(starts):
        return None
    dots = numpy.flatnonzero(u == 46)
    dot_tok = numpy.searchsorted(starts, dots, side="right") - 1
    value_dot = ~is_key[dot_tok]
    dots, dot_tok = dots[value_dot], dot_tok[value_dot]
    if len(dot_tok) > 1 and (dot_tok[1:] == dot_tok[:-1]).any():
        return None  # two points in one token: let float() reject it
    n_frac = numpy.zeros(len(starts), dtype=numpy.int64)
    n_frac[dot_tok] = ends[dot_tok] - dots - 1
    mant, n_frac = mant[~is_key], n_frac[~is_key]
    v_starts, v_ends = starts[~is_key], ends[~is_key]
    slow = (numpy.abs(mant) >= _TWO53) | (n_frac > 22)
    slow[numpy.searchsorted(numpy.flatnonzero(~is_key), e_tok)] = True
    out = (mant / _P10[numpy.minimum(n_frac, 22)]).astype(numpy.float32)
    negative_zero = (mant == 0) & (u[v_starts] == 45)
    out[negative_zero] = -0.0
    for i in numpy.flatnonzero(slow).tolist():
        try:
            out[i] = numpy.float32(float(block[v_starts[i] : v_ends[i]]))
        except ValueError:
            return None
    return keys, out.reshape(len(keys), dims), None, None


def parse_tokens(tokens: List[bytes]) -> Tuple[Optional[numpy.ndarray], int]:
    """Parse value tokens one by one with Python's `float`.

    RETURNS (Tuple[Optional[numpy.ndarray], int]): (float32 values, -1), or
        (None, index of the first token that is not a number).
    """
    out = numpy.empty(len(tokens), dtype=numpy.float32)
    for i, token in enumerate(tokens):
        try:
            out[i] = numpy.float32(float(token))
        except ValueError:
            return None, i
    return out, -1


def serve() -> None:
    """Worker loop: read pickled (block, dims) jobs from stdin, write results."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            block, dims = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(parse_text_block(block, dims), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    serve()
