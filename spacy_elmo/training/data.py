"""Streamed training text -> batches of windows for truncated BPTT.

The text is never loaded whole: files are read line by line (plain or .gz),
each line is one whitespace-tokenized sentence. Lines are sharded across
distributed workers by index (line i goes to worker i % world_size).

Every batch row is its own token stream. Sentences are wrapped as bilm-tf does:
the forward stream holds `<S> w1 .. wn </S>`, the backward stream the same
sentence reversed, `</S> wn .. w1 <S>`, so both streams have the same length
and one window position cuts both (Peters et al. 2018; bilm-tf
`Vocabulary.encode(reverse=True)`). A window has `unroll + 1` tokens: inputs
0..T-1, targets 1..T; the next window starts at the last input's successor, so
the LSTM state carries across windows. Each new sentence goes to the row with
the least buffered text (deterministic), which keeps rows balanced.

Targets that cross a sentence boundary (`</S> -> <S>` forward, `<S> -> </S>`
backward) are not predicted: each sentence of n words has n + 1 targets per
direction (its words and the closing marker).

With `reset_prob` > 0, each sentence starts from the zero LSTM state with that
probability (the same positions in both streams, since a sentence occupies the
same positions in each). A model whose state is never reset learns to depend on
state built up since the start of training and can fail from the zero state
that evaluation and the `reset` mode use (measured: docs/results_pretrain.md). The
draw is a function of (seed, epoch, line), so resuming reproduces it.
"""
import glob
import heapq
import random
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from ..bilm.chars import BOS_TOKEN, EOS_TOKEN, CharEncoder
from ..errors import Errors, InputError
from ..io.text import tokenized_lines
from .vocab import Vocab

IGNORE = -1
PathLike = Union[str, Path]


def expand_paths(spec: Union[None, str, Sequence[str]], key: str) -> List[Path]:
    """Files for a config value: a path, a glob, or several of them separated
    by commas (or given as a list). Each pattern must match something."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return []
    patterns = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    files: List[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(pattern))) if glob.has_magic(str(pattern)) else [str(pattern)]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise InputError(Errors.E207.format(key=key, pattern=str(pattern)))
        files.extend(Path(m) for m in matches)
    for path in files:
        if path.stat().st_size == 0:
            raise InputError(Errors.E201.format(path=path))
    return files


def iter_lines(
    paths: Sequence[Path],
    max_line_chars: int,
    rank: int = 0,
    world_size: int = 1,
    start: int = 0,
) -> Iterator[Tuple[int, List[str]]]:
    """(global line index, tokens) for this worker's non-empty lines.

    Lines come from `io.text.tokenized_lines` (errors name the line: bad
    bytes, a line over `max_line_chars`); blank lines hold no sentence and
    are skipped; a file without any token is an error.
    start (int): skip global lines before this index (resuming).
    """
    index = 0
    for path in paths:
        has_tokens = False
        for _, tokens in tokenized_lines(path, max_line_chars=max_line_chars):
            index += 1  # blank lines count: the index is the line's, across files
            if not tokens:
                continue
            has_tokens = True
            if index - 1 >= start and (index - 1) % world_size == rank:
                yield index - 1, tokens
        if not has_tokens and start == 0:
            raise InputError(Errors.E201.format(path=path))


class Batch:
    """One window for every row.

    chars (Tensor[int64]): *Shape:* (n_unique, max_chars), the distinct tokens.
    index (Tensor[int64]): *Shape:* (2, batch, unroll), row of `chars` for each
        input position; direction 0 forward, 1 backward stream.
    targets (Tensor[int64]): *Shape:* (2, batch, unroll), vocab ids, -1 = ignore.
    resets (Optional[Tensor[bool]]): *Shape:* (batch, unroll), True where the
        LSTM state is zeroed before that input (both directions); None = never.
    reset_steps (Optional[FrozenSet[int]]): the steps where `resets` has a
        True, read once on the host where the batch is made (None: read from
        `resets` now); `to(device)` keeps it, so a GPU step never syncs for it.
    """

    def __init__(
        self,
        chars: torch.Tensor,
        index: torch.Tensor,
        targets: torch.Tensor,
        resets: Optional[torch.Tensor] = None,
        reset_steps: Optional[FrozenSet[int]] = None,
    ):
        self.chars = chars
        self.index = index
        self.targets = targets
        self.resets = resets
        if reset_steps is None and resets is not None:
            reset_steps = frozenset(resets.any(0).nonzero().flatten().tolist())
        self.reset_steps = reset_steps

    @property
    def n_targets(self) -> int:
        return int((self.targets >= 0).sum())

    def to(self, device: torch.device) -> "Batch":
        chars, index, targets = (t.to(device, non_blocking=True) for t in (self.chars, self.index, self.targets))
        resets = self.resets.to(device, non_blocking=True) if self.resets is not None else None
        return Batch(chars, index, targets, resets, self.reset_steps)


class WindowStream:
    """Batches of `unroll`-token windows over `batch_size` row streams.

    repeat (bool): start the next epoch when the files end (training); the row
        buffers carry over. Otherwise stop, and with `flush` emit the remaining
        text in padded windows (evaluation: every target counted once).
    max_epochs (Optional[int]): with repeat, stop after this many epochs.
    reset_prob (float): probability that a sentence starts from the zero state.
    seed (int): seeds the reset draws.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        vocab: Vocab,
        batch_size: int,
        unroll: int,
        max_chars: int = 50,
        max_line_chars: int = 20_000,
        rank: int = 0,
        world_size: int = 1,
        repeat: bool = True,
        max_epochs: Optional[int] = None,
        flush: bool = False,
        reset_prob: float = 0.0,
        seed: int = 0,
    ):
        self.paths = list(paths)
        self.vocab = vocab
        self.batch_size = batch_size
        self.unroll = unroll
        self.max_line_chars = max_line_chars
        self.rank = rank
        self.world_size = world_size
        self.repeat = repeat
        self.max_epochs = max_epochs
        self.flush = flush
        self.reset_prob = reset_prob
        self.seed = seed
        self.encoder = CharEncoder(max_chars)
        self.epoch = 0
        self.next_line = 0  # global line index to read next in this epoch
        self.rows: List[List[str]] = [[] for _ in range(batch_size)]  # forward streams
        self.back: List[List[str]] = [[] for _ in range(batch_size)]  # backward streams
        self.resets: List[List[int]] = [[] for _ in range(batch_size)]  # positions in rows
        self._lines: Optional[Iterator[Tuple[int, List[str]]]] = None
        self._done = False

    # -- state for exact resume ------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "next_line": self.next_line,
            "rows": [list(r) for r in self.rows],
            "back": [list(r) for r in self.back],
            "resets": [list(r) for r in self.resets],
            "done": self._done,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.next_line = state["next_line"]
        self.rows = [list(r) for r in state["rows"]]
        self.back = [list(r) for r in state["back"]]
        self.resets = [list(r) for r in state.get("resets", [[] for _ in self.rows])]
        self._done = state["done"]
        self._lines = None

    # -- reading -----------------------------------------------------------------
    def _read_sentence(self) -> Optional[List[str]]:
        """The next sentence of this worker, moving to the next epoch if needed."""
        while True:
            if self._lines is None:
                self._lines = iter_lines(
                    self.paths, self.max_line_chars, self.rank, self.world_size, self.next_line
                )
            item = next(self._lines, None)
            if item is not None:
                self.next_line = item[0] + 1
                return item[1]
            self._lines = None
            if not self.repeat or (self.max_epochs is not None and self.epoch + 1 >= self.max_epochs):
                return None
            self.epoch += 1
            self.next_line = 0

    def _fill(self) -> bool:
        """Read sentences until every row holds a full window; False at the end.
        Each sentence goes to the shortest row (the first of equals): a heap of
        (length, row) gives the same choice as scanning every row."""
        need = self.unroll + 1
        heap = [(len(r), b) for b, r in enumerate(self.rows)]
        heapq.heapify(heap)
        while heap[0][0] < need:
            words = self._read_sentence()
            if words is None:
                return False
            length, row = heapq.heappop(heap)
            if self.reset_prob > 0 and self._draw_reset():
                self.resets[row].append(length)
            self.rows[row].extend([BOS_TOKEN] + words + [EOS_TOKEN])
            self.back[row].extend([EOS_TOKEN] + words[::-1] + [BOS_TOKEN])
            heapq.heappush(heap, (length + len(words) + 2, row))
        return True

    def _draw_reset(self) -> bool:
        """Whether the sentence just read (line next_line - 1) starts from the
        zero state: a pure function of (seed, epoch, line)."""
        key = f"{self.seed}/{self.epoch}/{self.next_line - 1}"
        return random.Random(key).random() < self.reset_prob

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._done:
            raise StopIteration
        if not self._fill():
            if not self.flush or max(len(r) for r in self.rows) < 2:
                self._done = True
                raise StopIteration
        return self._cut()

    def _cut(self) -> Batch:
        """The next window of every row (Python lists, one tensor per field:
        this runs once per training step and must keep up with a GPU)."""
        T, B = self.unroll, self.batch_size
        unique: Dict[str, int] = {}
        add = unique.setdefault
        get = self.vocab.index.get
        unk = self.vocab.unk
        skip = (BOS_TOKEN, EOS_TOKEN)  # boundary target per direction
        index_rows: List[List[int]] = []
        target_rows: List[List[int]] = []
        for direction, streams in enumerate((self.rows, self.back)):
            after, before = skip[direction], skip[1 - direction]
            for stream in streams:
                window = stream[: T + 1]
                ids = [add(tok, len(unique)) for tok in window[:T]]
                index_rows.append(ids + [0] * (T - len(ids)))
                row = [
                    IGNORE if (tok == after and prev == before) else get(tok, unk)
                    for prev, tok in zip(window, window[1:])
                ]
                target_rows.append(row + [IGNORE] * (T - len(row)))
        index = torch.tensor(index_rows, dtype=torch.long).view(2, B, T)
        targets = torch.tensor(target_rows, dtype=torch.long).view(2, B, T)
        resets = None
        if self.reset_prob > 0:
            resets = torch.zeros(B, T, dtype=torch.bool)
            for b, positions in enumerate(self.resets):
                for pos in positions:
                    if pos < T:
                        resets[b, pos] = True
        for b in range(B):
            # keep the last input's successor: it is the next window's first input
            cut = min(T, max(len(self.rows[b]) - 1, 0))
            del self.rows[b][:cut]
            del self.back[b][:cut]
            if self.resets[b]:
                self.resets[b] = [pos - cut for pos in self.resets[b] if pos >= T]
        if not unique:
            unique[BOS_TOKEN] = 0
        chars = torch.from_numpy(self.encoder.encode(list(unique)))
        return Batch(chars, index, targets, resets)
