"""The input of `embed`, streamed: one whitespace-tokenized sentence per line.

The file is read in passes, never held in memory: `scan_input` checks every
line (UTF-8, not blank) before any embedding starts and keeps 16 bytes per
line (a digest of the sentence) for the AllenNLP `sentence_to_index` entry;
`iter_lines` yields the sentences again for the embedding pass; and
`write_sentence_index` writes that entry's JSON from a third pass.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List, Union

import numpy

from ..errors import Errors, InputError
from ..io.text import tokenized_lines

PathLike = Union[str, Path]
HINT = "Pass a text file, one whitespace-tokenized sentence per line."
DIGEST_SIZE = 16


def iter_lines(path: PathLike) -> Iterator[List[str]]:
    """The tokens of each line, in file order (`io.text.tokenized_lines`:
    bad bytes are an InputError naming the line, a BOM is dropped); a line
    without a token is an InputError naming it (E043): the output's keys are
    line numbers, so a blank line cannot be skipped.

    path (PathLike): a text file, optionally gzip/bz2/xz-compressed.
    """
    path = Path(path)
    for number, tokens in tokenized_lines(path, HINT):
        if not tokens:
            raise InputError(Errors.E043.format(path=path, line=number))
        yield tokens


@dataclass(frozen=True)
class InputSummary:
    """What the checking pass learnt about an input file.

    n_lines (int): sentences (lines).
    n_tokens (int): tokens in all lines.
    longest (int): tokens in the longest line.
    digests (bytearray): DIGEST_SIZE bytes per line, a hash of the line's
        sentence (its tokens joined by single spaces), to find repeated ones.
    """

    path: Path
    n_lines: int
    n_tokens: int
    longest: int
    digests: bytearray


def _sentence(tokens: List[str]) -> str:
    """A line's key in `sentence_to_index`."""
    return " ".join(tokens)


def scan_input(path: PathLike) -> InputSummary:
    """Check every line of the input (see `iter_lines`) in one streaming pass."""
    n_lines = n_tokens = longest = 0
    digests = bytearray()
    for tokens in iter_lines(path):
        n_lines += 1
        n_tokens += len(tokens)
        longest = max(longest, len(tokens))
        sentence = _sentence(tokens).encode("utf8")
        digests += hashlib.blake2b(sentence, digest_size=DIGEST_SIZE).digest()
    return InputSummary(Path(path), n_lines, n_tokens, longest, digests)


def write_sentence_index(summary: InputSummary, out: IO[bytes]) -> None:
    """Write the JSON of AllenNLP's `sentence_to_index` entry to `out`:
    exactly `json.dumps({sentence: str(index) for index, sentence in
    enumerate(sentences)})` (a repeated sentence keeps its first position and
    maps to its last line), built from a streaming pass over the input."""
    digests = numpy.frombuffer(summary.digests, dtype=numpy.dtype((numpy.void, DIGEST_SIZE)))
    _, first, group = numpy.unique(digests, return_index=True, return_inverse=True)
    _, first_reversed = numpy.unique(digests[::-1], return_index=True)
    last_of_line = (len(digests) - 1 - first_reversed)[group.reshape(-1)]
    is_first = numpy.zeros(len(digests), dtype=bool)
    is_first[first] = True
    out.write(b"{")
    separator = b""
    for index, tokens in enumerate(iter_lines(summary.path)):
        if index >= len(digests):
            break
        if is_first[index]:
            entry = f"{json.dumps(_sentence(tokens))}: {json.dumps(str(last_of_line[index]))}"
            out.write(separator + entry.encode("ascii"))
            separator = b", "
    out.write(b"}")
