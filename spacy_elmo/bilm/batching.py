"""The batching policy: which token sequences run through the biLM together.

One policy for the `elmo` component (models/encoder.py), `embed`
(embed/plan.py) and `ElmoEmbedder`:

- a sequence longer than `max_length` tokens is cut into chunks of at most
  `max_length` tokens, each run with its own <S> / </S> markers and start
  state, so cost stays linear in its length (0: never cut);
- where every row starts from the same state ("warm", "reset"), rows may be
  regrouped: they are sorted longest first (a stable sort, so equal lengths
  keep their order);
- consecutive rows form a batch while rows x (longest row + 2 markers) stays
  within `token_budget` padded tokens (a batch always holds one row);
- where a row limit applies (`embed --batch-size`), a batch with more rows is
  split into equal parts, not into full batches and a remainder.

A segment is (item, start token, end token): the item is a Doc's index for the
component, a line's number for `embed`.
"""
from typing import Iterable, Iterator, List, Sequence, Tuple

Segment = Tuple[int, int, int]

MAX_LENGTH = 256  # [components.elmo.model] max_length, embed --max-length
TOKEN_BUDGET = 4096  # [components.elmo.model] token_budget, embed --token-budget


def chunks(item: int, start: int, end: int, max_length: int) -> Iterator[Segment]:
    """Tokens start..end of one item: all of them, or consecutive pieces of
    `max_length` tokens (0: never cut). An empty span yields nothing."""
    step = max_length or max(end - start, 1)
    for first in range(start, end, step):
        yield item, first, min(first + step, end)


def longest_first(segments: Iterable[Segment]) -> List[Segment]:
    """The segments, longest first; equal lengths keep their order."""
    return sorted(segments, key=lambda s: s[1] - s[2])


def budget_batches(segments: Sequence[Segment], budget: int) -> Iterator[List[Segment]]:
    """Group consecutive segments so that rows x (longest row + 2 markers)
    stays within the budget (a batch always holds at least one row)."""
    batch: List[Segment] = []
    longest = 0
    for seg in segments:
        length = seg[2] - seg[1] + 2
        if batch and max(longest, length) * (len(batch) + 1) > budget:
            yield batch
            batch, longest = [], 0
        batch.append(seg)
        longest = max(longest, length)
    if batch:
        yield batch


def split_rows(batch: List[Segment], batch_size: int) -> Iterator[List[Segment]]:
    """A batch with more than `batch_size` rows as equal parts (sizes differ
    by at most one), in order; a smaller batch as it is."""
    parts = -(-len(batch) // batch_size)
    for i in range(parts):
        yield batch[i * len(batch) // parts : (i + 1) * len(batch) // parts]
