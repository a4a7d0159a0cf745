"""Parse blocks of word2vec text rows. Imports only numpy.

Values are bit-identical to gensim's `numpy.float32(token)`: numpy parses a
decimal string to float64 (correctly rounded) and then rounds to float32, and
`numpy.fromstring(..., dtype=float32, sep=" ")` does the same. A row that
`fromstring` rejects is retried token by token with Python's `float` (what
`numpy.float32(str)` uses), so both paths agree on every input and a bad token
is reported exactly. `parse_text_block_fast` is whole-array numpy work.
"""
import sys
import threading
from typing import Dict, List, Optional, Tuple

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
        Blank lines are skipped; parsing stops at the first bad row. As in
        gensim, the key ends at the first space, values are separated by
        single spaces and whitespace at the end of a line is ignored.
    """
    fast = parse_text_block_fast(block, dims)
    if fast is not None:
        return fast
    lines = block.split(b"\n")
    # r rows take (2 * dims + 2) * r - 1 bytes at least: a huge `dims` allocates nothing.
    out = numpy.empty((min(len(lines), (len(block) + 1) // (2 * dims + 2)), dims), dtype=numpy.float32)
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
        # Split at single spaces, trailing whitespace cut (gensim): `fromstring` takes
        # any whitespace run for a space, so only rows with dims - 1 spaces go to it.
        rest = rest.rstrip()
        row = None
        if rest.count(b" ") == dims - 1:
            try:
                row = fromstring(rest, dtype=float32, sep=" ")
            except ValueError:
                pass
        if row is None or row.shape[0] != dims:
            tokens = rest.split(b" ") if rest else []
            if len(tokens) != dims and b"" not in tokens:
                return keys, out[: len(keys)], line_of_row, (i, "count", key, len(tokens))
            row, bad = parse_tokens(tokens)
            if row is None:
                return keys, out[: len(keys)], line_of_row, (i, "number", key, (bad, tokens[bad]))
        out[len(keys)] = row
        if line_of_row is not None:
            line_of_row.append(i)
        keys.append(key)
    return keys, out[: len(keys)], line_of_row, None


def _mask_table() -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Masks of the last k bytes (k = 0..16) of a 16-byte window, as its two
    little-endian uint64 words (bytes 0-7, bytes 8-15)."""
    first, second = numpy.zeros(17, numpy.uint64), numpy.zeros(17, numpy.uint64)
    for k in range(17):
        mask = ((1 << (8 * k)) - 1) << (8 * (16 - k))
        first[k], second[k] = mask & (2**64 - 1), mask >> 64
    return first, second


_MASK_FIRST, _MASK_SECOND = _mask_table()
_U = numpy.uint64
_ZEROS = _U(0x3030303030303030)  # b"00000000"
_POINT = _U(0x1E1E1E1E1E1E1E1E)  # b"." ^ b"0" in every byte
_LOW7 = _U(0x7F7F7F7F7F7F7F7F)
_HIGH = _U(0x8080808080808080)
_NINE = _U(0x7676767676767676)  # + byte > 0x7F iff byte > 9
# By the point's column c in the 16-byte window (16: no point), F = 15 - c
# digits follow it: 10**F, and the divisor 10**(F+1) that splits off the
# digits before it (inf without a point: floor(a / inf) = 0). Exact in float64.
_SCALE = numpy.array([10.0 ** (15 - c) for c in range(16)] + [1.0])
_DIVISOR = numpy.array([10.0 ** (16 - c) for c in range(16)] + [numpy.inf])
_TWO53 = float(2**53)


class _Scratch(threading.local):
    """Per-thread arrays reused from block to block.

    A block's temporaries are ~1 MiB each; allocated fresh they are new pages
    every time (glibc mmaps them or trims them back from the heap), and the
    page faults then cost more than the arithmetic itself.
    """

    def __init__(self) -> None:
        self.arrays: Dict[str, numpy.ndarray] = {}

    def __call__(self, name: str, dtype, size: int) -> numpy.ndarray:
        array = self.arrays.get(name)
        if array is None or array.shape[0] < size:
            array = self.arrays[name] = numpy.empty(size + size // 4, dtype=dtype)
        return array[:size]


_scratch = _Scratch()


def release_scratch() -> None:
    """Free this thread's scratch arrays (threads that end free theirs)."""
    _scratch.arrays.clear()


def _byte_digits(x: numpy.ndarray, mask: numpy.ndarray, point: numpy.ndarray, bad: numpy.ndarray, t: numpy.ndarray) -> None:
    """8 bytes of right-aligned tokens (in place) -> digit values; `point` gets
    0x80 in each byte that was b".", `bad` 0x80 in each byte that is not a digit.

    Bytes outside `mask` become 0 (leading zeros); XOR with "0" maps b"0".."9"
    to 0..9 and every other byte to something else, without borrows.
    """
    x ^= _ZEROS
    x &= mask
    numpy.bitwise_xor(x, _POINT, out=t)
    numpy.bitwise_and(t, _LOW7, out=point)
    point += _LOW7
    point |= t
    point |= _LOW7
    numpy.invert(point, out=point)
    numpy.right_shift(point, _U(7), out=t)
    t *= _U(0x1E)
    x ^= t  # the point becomes a 0 digit
    numpy.bitwise_and(x, _LOW7, out=bad)
    bad += _NINE
    bad |= x
    bad &= _HIGH


def _digits_to_int(x: numpy.ndarray) -> None:
    """Eight digit values (most significant in the lowest byte) -> 0..99999999, in place."""
    x *= _U(2561)
    x >>= _U(8)
    x &= _U(0x00FF00FF00FF00FF)
    x *= _U(6553601)
    x >>= _U(16)
    x &= _U(0x0000FFFF0000FFFF)
    x *= _U(42949672960001)
    x >>= _U(32)


def _bit_count(x: numpy.ndarray, out: numpy.ndarray) -> None:
    """The number of set bits of each uint64 into `out` (uint8)."""
    if hasattr(numpy, "bitwise_count"):  # numpy >= 2.0
        numpy.bitwise_count(x, out=out)
        return
    y = x - ((x >> _U(1)) & _U(0x5555555555555555))  # numpy < 2: SWAR popcount
    y = (y & _U(0x3333333333333333)) + ((y >> _U(2)) & _U(0x3333333333333333))
    y = (y + (y >> _U(4))) & _U(0x0F0F0F0F0F0F0F0F)
    numpy.copyto(out, (y * _U(0x0101010101010101)) >> _U(56), casting="unsafe")


def parse_text_block_fast(block: bytes, dims: int) -> Optional[BlockResult]:
    """`parse_text_block` for well-formed blocks, or None (its speed beside
    numpy's `fromstring`: docs/results_vectors.md, bench_parse_block.py).

    Float parsing (David Gay's strtod) is the bottleneck of every word2vec
    text reader. Here every token is parsed at once with
    numpy: token ends come from one scan for separators; the 16 bytes before
    each end are loaded as two uint64 words and turned into an integer with
    SWAR arithmetic (8 digits at once), the decimal point becoming a 0 digit
    that is then taken out: a = L*10^(F+1) + R -> M = L*10^F + R, F = digits
    after the point. M / 10^F is one correctly rounded float64 division when
    M < 2^53 and F <= 22 (Clinger's fast path, "How to read floating point
    numbers accurately", PLDI 1990), i.e. exactly `float(token)`, and the cast
    to float32 rounds as gensim's `numpy.float32(token)` does. Tokens outside
    that (over 16 characters, exponents, nan, anything odd) are parsed with
    `float`. Blocks that are not plain "key v1 .. vN" lines separated by single
    spaces (a space and "\\r" before the newline are allowed), or where a
    token is not a number, return None: the caller uses the line-by-line
    `parse_text_block`, which also finds the error line. Thread-safe; releases
    the GIL for most of its time.
    """
    n = len(block)
    if n < 32:
        return None
    scratch = _scratch
    u = numpy.frombuffer(block, dtype=numpy.uint8)
    seps = numpy.flatnonzero(numpy.less_equal(u, 32, out=scratch("sep", bool, n)))
    sep_bytes = numpy.take(u, seps, out=scratch("sep_bytes", numpy.uint8, len(seps)), mode="clip")
    newline = numpy.equal(sep_bytes, 10, out=scratch("newline", bool, len(seps)))
    carriage = sep_bytes == 13
    if numpy.count_nonzero(carriage):  # "\r\n" line ends are fine, any other "\r" is not
        after_cr = seps[carriage] + 1
        if not ((after_cr == n) | (u[numpy.minimum(after_cr, n - 1)] == 10)).all():
            return None
    if numpy.count_nonzero(newline) + numpy.count_nonzero(sep_bytes == 32) + numpy.count_nonzero(carriage) != len(seps):
        return None  # tabs, other control characters: the line path decides
    n_lines = int(numpy.count_nonzero(newline)) + 1
    n_tokens = n_lines * (dims + 1)
    m = len(seps) + 1
    starts = scratch("starts", numpy.int64, m)
    starts[0] = 0
    numpy.add(seps, 1, out=starts[1:])
    ends = scratch("ends", numpy.int64, m)
    ends[:-1] = seps
    ends[-1] = n
    if m != n_tokens:  # empty tokens: only from " " or "\r" at the end of a line
        empty = numpy.flatnonzero(starts == ends)
        if not len(empty) or empty[0] == 0:
            return None
        before = u[starts[empty] - 1]
        after = ends[empty]
        next_byte = u[numpy.minimum(after, n - 1)]
        if not (((before == 32) | (before == 13)) & ((after == n) | (next_byte == 10) | (next_byte == 13))).all():
            return None
        keep = starts != ends
        starts, ends = starts[keep], ends[keep]
        m = len(starts)
        if m != n_tokens:
            return None
    key_starts, key_ends = starts[:: dims + 1], ends[:: dims + 1]
    if key_starts[0] != 0 or (key_starts[1:] != seps[newline] + 1).any():
        return None  # a line with the wrong number of tokens
    if (u[key_ends[key_ends < n]] != 32).any():
        return None  # gensim splits the key off at a space only
    keys = [block[a:b] for a, b in zip(key_starts.tolist(), key_ends.tolist())]
    # Every token is parsed, keys too (their results are dropped at the end).
    at = scratch("at", numpy.int64, m)
    numpy.minimum(starts, n - 1, out=at)
    first = numpy.take(u, at, out=scratch("first", numpy.uint8, m), mode="clip")
    negative = numpy.equal(first, 45, out=scratch("negative", bool, m))
    flag = numpy.equal(first, 43, out=scratch("flag", bool, m))
    flag |= negative  # a sign
    chars = numpy.subtract(ends, starts, out=scratch("chars", numpy.int64, m))
    chars -= flag  # characters without the sign
    slow = numpy.greater(chars, 16, out=scratch("slow", bool, m))
    slow |= numpy.less(ends, 16, out=flag)
    numpy.clip(chars, 0, 16, out=chars)
    # The 16 bytes before each end as two words, from aligned loads: word q of
    # the block shifted by the byte offset, ORed with word q + 1 shifted back.
    aligned = scratch("aligned", numpy.uint64, n // 8 + 3)
    aligned[-3:] = 0
    aligned.view(numpy.uint8)[:n] = u
    if sys.byteorder != "little":
        aligned.byteswap(inplace=True)
    numpy.subtract(ends, 16, out=at)
    numpy.maximum(at, 0, out=at)
    shift = numpy.bitwise_and(at, 7, out=scratch("shift", numpy.int64, m)).view(numpy.uint64)
    shift <<= _U(3)
    back = numpy.subtract(_U(63), shift, out=scratch("back", numpy.uint64, m))
    at >>= 3
    high, low = scratch("high", numpy.uint64, m), scratch("low", numpy.uint64, m)
    t = scratch("t", numpy.uint64, m)
    numpy.take(aligned, at, out=high, mode="clip")
    high >>= shift
    at += 1
    numpy.take(aligned, at, out=low, mode="clip")
    numpy.left_shift(low, back, out=t)
    t <<= _U(1)
    high |= t
    low >>= shift
    at += 1
    numpy.take(aligned, at, out=t, mode="clip")
    t <<= back
    t <<= _U(1)
    low |= t
    mask = numpy.take(_MASK_FIRST, chars, out=scratch("mask", numpy.uint64, m), mode="clip")
    point_h, point_l = scratch("point_h", numpy.uint64, m), scratch("point_l", numpy.uint64, m)
    bad, bad_l = scratch("bad", numpy.uint64, m), scratch("bad_l", numpy.uint64, m)
    _byte_digits(high, mask, point_h, bad, t)
    numpy.take(_MASK_SECOND, chars, out=mask, mode="clip")
    _byte_digits(low, mask, point_l, bad_l, t)
    bad |= bad_l
    slow |= numpy.not_equal(bad, 0, out=flag)
    # The point's column in the 16-byte window (16 without one): a single
    # 0x80 flag at bit 8c + 7 of a word; (flags - 1) has 8c + 7 bits set
    # (64 for no flag), so its bit count // 8 is c (8: none in this word).
    points, col_l = scratch("points", numpy.uint8, m), scratch("col_l", numpy.uint8, m)
    column = scratch("column", numpy.int64, m)
    _bit_count(point_h, points)
    _bit_count(point_l, col_l)
    points += col_l  # more than one point: slow
    numpy.subtract(point_h, _U(1), out=t)
    _bit_count(t, col_l)
    col_l >>= 3
    numpy.copyto(column, col_l)  # c of the high word, 8: none there
    numpy.subtract(point_l, _U(1), out=t)
    _bit_count(t, col_l)
    col_l >>= 3
    numpy.right_shift(column, 3, out=at)  # 1 when there was none in the high word
    at *= col_l
    column += at  # 0-7, 8 + (0-7), or 16 for no point
    slow |= numpy.greater(points, 1, out=flag)
    slow |= numpy.less_equal(chars, points, out=flag)  # "", "-", ".", "-."
    _digits_to_int(high)
    _digits_to_int(low)
    a = scratch("a", numpy.float64, m)
    numpy.copyto(a, high)
    a *= 1e8
    a += low
    slow |= numpy.greater_equal(a, _TWO53, out=flag)
    # a = L * 10**(F+1) + R with F digits after the point -> M = L * 10**F + R
    scale = numpy.take(_SCALE, column, out=scratch("scale", numpy.float64, m), mode="clip")
    q = numpy.take(_DIVISOR, column, out=scratch("q", numpy.float64, m), mode="clip")
    numpy.divide(a, q, out=q)
    numpy.floor(q, out=q)
    q *= scale
    q *= 9.0
    a -= q  # the mantissa M, exact below 2**53
    a /= scale  # M / 10**F: one rounding
    numpy.multiply(negative, -2.0, out=q)
    q += 1.0
    a *= q  # the sign, keeping -0.0
    slow[:: dims + 1] = False
    redo = numpy.flatnonzero(slow)
    if len(redo) > max(64, n_tokens // 10):
        return None  # mostly exponents etc.: the line path is as fast
    for i in redo.tolist():
        try:
            a[i] = float(block[starts[i] : ends[i]])
        except ValueError:
            return None
    out = numpy.empty((n_lines, dims), dtype=numpy.float32)
    numpy.copyto(out, a.reshape(n_lines, dims + 1)[:, 1:], casting="same_kind")
    return keys, out, None, None


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
