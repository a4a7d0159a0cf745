"""The keys and float32 rows of a word2vec file, as they are read: one array
grown in place, duplicate keys skipped (the first row of a key wins, as in
gensim), keys decoded a block at a time."""
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Set

import numpy

from ..errors import Errors, InputError, Warnings


@dataclass
class Word2VecTable:
    """Keys and vectors read from a word2vec file.

    keys (List[str]): one key per row, in file order, without duplicates.
    data (numpy.ndarray): float32 array, shape (len(keys), dims).
    fmt (str): the format that was read ("text", "binary" or "gensim").
    n_duplicates (int): rows skipped because their key was seen before.
    """

    keys: List[str]
    data: numpy.ndarray
    fmt: str
    n_duplicates: int = 0


class TableBuilder:
    """Grows the float32 array and the key list, skipping duplicate keys."""

    def __init__(self, path: Path, rows: int, dims: int, unicode_errors: str, lowercase: bool):
        self.path = path
        self.data = numpy.empty((max(rows, 1), dims), dtype=numpy.float32)
        self.keys: List[str] = []
        self.seen: Set[str] = set()
        self.rows_read = 0
        self.duplicates: List[str] = []
        self.unicode_errors = unicode_errors
        self.lowercase = lowercase

    def decode(self, key: bytes, where: str) -> str:
        try:
            text = key.decode("utf8", errors=self.unicode_errors)
        except UnicodeDecodeError as err:
            raise InputError(Errors.E106.format(path=self.path, where=where, err=err)) from None
        return text.lower() if self.lowercase else text

    def decode_many(self, keys: List[bytes], where) -> List[str]:
        """Decode a block's keys; where(j) says where key j is, for errors."""
        try:  # one call for the block
            text = b"\n".join(keys).decode("utf8")
        except UnicodeDecodeError:  # the key-by-key path below names the key
            text = None
        if text is not None:
            decoded = (text.lower() if self.lowercase else text).split("\n") if keys else []
            if len(decoded) == len(keys):  # else a key has a newline in it (binary files)
                return decoded
        return [self.decode(key, where(j)) for j, key in enumerate(keys)]

    def add(self, keys: List[str], values: numpy.ndarray) -> None:
        self.rows_read += len(keys)
        block = set(keys)
        if len(block) == len(keys) and self.seen.isdisjoint(block):  # the usual case
            self.seen.update(block)
            self.keys.extend(keys)
            keep: Sequence[int] = range(len(keys))
        else:
            keep = []
            for i, key in enumerate(keys):
                if key in self.seen:
                    self.duplicates.append(key)
                else:
                    self.seen.add(key)
                    self.keys.append(key)
                    keep.append(i)
        n = len(self.keys)
        start = n - len(keep)
        if n > self.data.shape[0]:  # grow in place (realloc), ~1.5x
            self.data.resize((max(n, self.data.shape[0] * 3 // 2), self.data.shape[1]), refcheck=False)
        self.data[start:n] = values if len(keep) == len(keys) else values[keep]

    def finish(self, fmt: str) -> Word2VecTable:
        n = len(self.keys)
        if self.data.shape[0] != n:
            self.data.resize((n, self.data.shape[1]), refcheck=False)
        if self.duplicates:
            examples = ", ".join(repr(k) for k in self.duplicates[:5])
            warnings.warn(
                Warnings.W100.format(path=self.path, count=len(self.duplicates), examples=examples)
            )
        return Word2VecTable(self.keys, self.data, fmt, len(self.duplicates))
