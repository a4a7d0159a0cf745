"""The HDF5 file of `embed`, in AllenNLP's layout: one float32 dataset per
input line (key: the line index as a string) and `sentence_to_index`, one
JSON string mapping each sentence to its line index."""
import tempfile
from pathlib import Path
from typing import Dict, Iterable

import h5py
import numpy

from .reader import InputSummary, write_sentence_index

OUTPUTS = ("all", "top", "average")
INDEX_KEY = "sentence_to_index"


def select_output(layers: numpy.ndarray, output: str) -> numpy.ndarray:
    """(n_layers + 1, n, dim) -> the array written for those tokens: all
    layers, the top one, or their average."""
    if output == "all":
        return layers
    if output == "top":
        return layers[-1]
    return layers.mean(axis=0)


class LineWriter:
    """Writes each line's dataset as its pieces arrive: a line cut into
    chunks gets its dataset (full shape) with the first chunk and each
    chunk's tokens written in place, so no line waits in memory.

    handle (h5py.File): the open output file.
    output (str): "all", "top" or "average".
    """

    def __init__(self, handle: h5py.File, output: str):
        self.handle = handle
        self.output = output
        self._open: Dict[int, h5py.Dataset] = {}
        self._left: Dict[int, int] = {}

    def write(self, line: int, n_tokens: int, start: int, layers: numpy.ndarray) -> None:
        """Write the layers of tokens start .. start + layers.shape[1] of a line.

        line (int): the line index (the dataset's key).
        n_tokens (int): tokens in the whole line.
        layers (numpy.ndarray): *Shape:* (n_layers + 1, n, dim) float32.
        """
        array = select_output(layers, self.output)
        n = array.shape[-2]
        if start == 0 and n == n_tokens:
            self.handle.create_dataset(str(line), data=array)
            return
        if line not in self._open:
            shape = array.shape[:-2] + (n_tokens, array.shape[-1])
            self._open[line] = self.handle.create_dataset(str(line), shape, dtype=array.dtype)
            self._left[line] = n_tokens
        self._open[line][..., start : start + n, :] = array
        self._left[line] -= n
        if not self._left[line]:
            del self._open[line], self._left[line]


def write_index(handle: h5py.File, summary: InputSummary, scratch_dir: Path) -> None:
    """Add `sentence_to_index`. Its JSON is built in an unnamed temporary file
    in `scratch_dir` (gone even after kill -9), so it is in memory only once,
    as HDF5 stores the string in one piece."""
    with tempfile.TemporaryFile(dir=scratch_dir) as buffer:
        write_sentence_index(summary, buffer)
        buffer.seek(0)
        data = buffer.read()
    dataset = handle.create_dataset(INDEX_KEY, (1,), dtype=h5py.string_dtype())
    dataset[0] = data


def merge_parts(handle: h5py.File, parts: Iterable[Path]) -> None:
    """Copy every dataset of the per-rank files into `handle` (HDF5 object
    copies: the same dtype, shape and layout, streamed by HDF5)."""
    for part in parts:
        with h5py.File(part, "r") as source:
            for name in source:
                source.copy(name, handle, name=name)
