"""Which lines of a file go through the biLM together: the batching policy
(bilm/batching.py, the one the `elmo` component uses) over a stream of lines.

- warm / reset: the input is read in windows of about `WINDOW_BATCHES`
  batches' worth of tokens; within a window the lines are cut into chunks of
  at most `max_length` tokens, sorted longest first and grouped by
  `token_budget` and `batch_size` (bilm/batching.py). Memory is bounded by one
  window and one batch, whatever the length of the file or of its longest line.
- carry: row i of a batch continues row i of the previous one (bilm-tf /
  AllenNLP), so batches are `batch_size` whole lines in file order.

A window is the unit of work that `embed` hands to a rank under torchrun:
its batches are the same in one process and in many, so the vectors are too.
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, List

from ..bilm.batching import Segment, budget_batches, chunks, longest_first, split_rows

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


def window_batches(
    window: Window, *, batch_size: int, token_budget: int, max_length: int
) -> Iterator[List[Segment]]:
    """warm / reset: the window's chunks, longest first, in batches of at most
    `batch_size` rows and `token_budget` padded tokens (at least one row)."""
    segments = longest_first(
        segment
        for offset, tokens in enumerate(window.lines)
        for segment in chunks(window.first + offset, 0, len(tokens), max_length)
    )
    for batch in budget_batches(segments, token_budget):
        yield from split_rows(batch, batch_size)


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
