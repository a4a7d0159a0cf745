"""A bounded cache token -> context-free token vector (ELMo layer 0, the char
CNN's output) for one biLM on one device.

The char CNN's output for a token depends on the token alone, so a token seen
before need not run through the CNN again (bilm-tf's `dump_token_embeddings`
trick, here as an LRU cache filled while embedding). Outputs stay bit-identical
to an uncached run because every vector, cached or not, is computed the same
way: in fixed-size chunks of rows (`BiLM.token_vectors`), so a token's result
never depends on which other tokens share its batch (BLAS and cuDNN pick
kernels by row count, and different kernels round differently).

The cache is emptied when its signature changes: the device, the precision, or
any char-CNN parameter's storage (`data_ptr`) or in-place version counter
(optimizer steps, `load_state_dict`, `.to()`). Code that changes the weights
behind torch's back (through a numpy view, as thinc's optimizers do) must call
`clear()`.
"""
from collections import OrderedDict
from typing import Hashable, List, Sequence, Tuple

import torch

Signature = Tuple[Hashable, ...]


class TokenCache:
    """LRU map from token text to a row of a vector store on the device.

    size (int): most tokens kept; 0 turns the cache off.
    """

    def __init__(self, size: int):
        self.size = max(int(size), 0)
        self.slots: "OrderedDict[str, int]" = OrderedDict()  # token -> row of store, LRU first
        self.store: torch.Tensor = torch.empty(0)  # *Shape:* (size, dim) once used
        self.signature: Signature = ()
        self.hits = 0
        self.misses = 0

    def __getstate__(self) -> dict:
        """Copies and pickles start empty (the vectors are a cache)."""
        state = dict(self.__dict__)
        state.update(slots=OrderedDict(), store=torch.empty(0), signature=())
        return state

    def __len__(self) -> int:
        return len(self.slots)

    def clear(self) -> None:
        """Forget every vector (the store's memory is released too)."""
        self.slots.clear()
        self.store = torch.empty(0)
        self.signature = ()

    def check(self, signature: Signature) -> None:
        """Empty the cache if `signature` differs from the one it was filled under."""
        if signature != self.signature:
            self.clear()
            self.signature = signature

    def lookup(self, tokens: Sequence[str]) -> Tuple[List[int], List[int], List[int]]:
        """Split `tokens` (distinct) into hits and misses, marking hits as
        recently used.

        RETURNS (Tuple[List[int], List[int], List[int]]): positions of the hits
            in `tokens`, their rows in the store, positions of the misses.
        """
        hit_pos: List[int] = []
        hit_rows: List[int] = []
        miss_pos: List[int] = []
        if not self.size:
            return hit_pos, hit_rows, list(range(len(tokens)))
        slots = self.slots
        for position, token in enumerate(tokens):
            row = slots.get(token)
            if row is None:
                miss_pos.append(position)
            else:
                slots.move_to_end(token)
                hit_pos.append(position)
                hit_rows.append(row)
        self.hits += len(hit_pos)
        self.misses += len(miss_pos)
        return hit_pos, hit_rows, miss_pos

    def insert(self, tokens: Sequence[str], vectors: torch.Tensor) -> None:
        """Keep `vectors` *Shape:* (len(tokens), dim) for `tokens` (not in the
        cache), evicting the least recently used tokens when full. If there are
        more tokens than the cache holds, the last `size` are kept."""
        if not self.size or not len(tokens):
            return
        if len(tokens) > self.size:
            tokens, vectors = tokens[-self.size :], vectors[-self.size :]
        rows: List[int] = []
        for token in tokens:
            if len(self.slots) < self.size:
                row = len(self.slots)
            else:
                _, row = self.slots.popitem(last=False)
            self.slots[token] = row
            rows.append(row)
        self._reserve(vectors)
        index = torch.tensor(rows, dtype=torch.long, device=vectors.device)
        self.store.index_copy_(0, index, vectors.to(self.store.dtype))

    def _reserve(self, like: torch.Tensor) -> None:
        """Allocate the store, `size` rows at once, on `like`'s device: no
        copies as it fills, and no freed stores of many MiB (each free of an
        mmapped block raises glibc's mmap threshold, see embed/memory.py).
        torch.empty leaves pages untouched until their rows are written, so
        a cache that holds few tokens costs little resident memory."""
        if self.store.dim() == 2 and self.store.device == like.device:
            return
        store = torch.empty(self.size, like.shape[-1], dtype=torch.float32, device=like.device)
        if self.store.dim() == 2:  # moved to another device
            store.copy_(self.store)
        self.store = store

    def gather(self, rows: List[int], device: torch.device) -> torch.Tensor:
        """Stored vectors *Shape:* (len(rows), dim)."""
        index = torch.tensor(rows, dtype=torch.long, device=device)
        return self.store.index_select(0, index)
