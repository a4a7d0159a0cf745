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
