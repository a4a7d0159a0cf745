"""Which tokens go through the biLM together: the batching policy of `embed`.

- warm / reset: every sequence starts from the same state, so rows may be
  regrouped. Lines are cut into chunks of at most `max_length` tokens, each
  run with its own <S> / </S> markers and start state, exactly as the `elmo`
  component cuts long sentences (models/encoder.py), so cost stays linear in
  the length of a line. The input is read in windows of about
  `WINDOW_BATCHES` batches' worth of tokens; within a window the chunks are
  sorted by length (longest first) and grouped into batches of at most
  `token_budget` padded tokens (rows x (longest + 2)), as the component
  groups them, and at most `batch_size` rows (a group with more rows is
  split into equal parts). Memory is bounded by one window and one
  batch, whatever the length of the file or of its longest line.
- carry: row i of a batch continues row i of the previous one (bilm-tf /
  AllenNLP), so batches are `batch_size` whole lines in file order.

A window is the unit of work that `embed` hands to a rank under torchrun:
its batches are the same in one process and in many, so the vectors are too.
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Tuple

from ..models.encoder import budget_batches

Segment = Tuple[int, int, int]  # (line index, start token, end token), as in models/encoder.py
WINDOW_BATCHES = 16


@dataclass
class Window:
    """Consecutive lines of the input: `lines[i]` is line `first + i`."""

    number: int
    first: int
    lines: List[List[str]]

    def tokens(self, segment: Segment) -> List[str]:
        line, start, end = segment
        return self.lines[line - self.first][start:end]

    def length(self, line: int) -> int:
        return len(self.lines[line - self.first])


def windows(lines: Iterable[List[str]], max_tokens: int) -> Iterator[Window]:
    """Consecutive lines, about `max_tokens` tokens a window (a window closes
    at the first line that brings it to `max_tokens` or more)."""
    current: List[List[str]] = []
    first = number = size = 0
    for tokens in lines:
        current.append(tokens)
        size += len(tokens)
        if size >= max_tokens:
            yield Window(number, first, current)
            first, number, size, current = first + len(current), number + 1, 0, []
    if current:
        yield Window(number, first, current)


def chunks(line: int, n_tokens: int, max_length: int) -> Iterator[Segment]:
    """The segments of one line: all of it, or pieces of `max_length` tokens
    (0: never cut)."""
    size = max_length or n_tokens
    for start in range(0, n_tokens, size):
        yield line, start, min(start + size, n_tokens)


def window_batches(
    window: Window, *, batch_size: int, token_budget: int, max_length: int
) -> Iterator[List[Segment]]:
    """warm / reset: the window's chunks, longest first, in batches of at most
    `batch_size` rows and `token_budget` padded tokens (at least one row)."""
    segments = [
        segment
        for offset, tokens in enumerate(window.lines)
        for segment in chunks(window.first + offset, len(tokens), max_length)
    ]
    segments.sort(key=lambda s: s[1] - s[2])  # stable, longest first, as the component
    for batch in budget_batches(segments, token_budget):
        # more rows than batch_size: equal parts, not batch_size rows and a remainder
        parts = -(-len(batch) // batch_size)
        for i in range(parts):
            yield batch[i * len(batch) // parts : (i + 1) * len(batch) // parts]


def carry_batches(lines: Iterable[List[str]], batch_size: int) -> Iterator[Window]:
    """carry: windows of `batch_size` whole lines in file order, one batch each."""
    current: List[List[str]] = []
    first = number = 0
    for tokens in lines:
        current.append(tokens)
        if len(current) == batch_size:
            yield Window(number, first, current)
            first, number, current = first + batch_size, number + 1, []
    if current:
        yield Window(number, first, current)
