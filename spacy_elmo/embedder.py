"""ELMo vectors from Python without a spaCy pipeline: the replacement for
AllenNLP's `ElmoEmbedder` and ELMoForManyLangs' `Embedder.sents2elmo`.

Sentences are batched as `embed` batches lines (bilm/batching.py,
embed/plan.py): in "warm" and "reset" modes sentences longer than 256 tokens
run in chunks and batches are regrouped by length (the vectors do not depend on the grouping); in "carry"
mode batches are `batch_size` sentences in input order, and row i of a batch
continues row i of the previous batch, across calls, as AllenNLP's and EFML's
stateful embedders do (`reset_state` starts again from zeros).
"""
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy
import torch

from .bilm.batching import MAX_LENGTH, TOKEN_BUDGET
from .bilm.model import check_state_mode, keeps_row_order
from .bilm.precision import check_precision
from .embed.model import load_for_cli
from .embed.plan import WINDOW_BATCHES, Window, carry_batches, window_batches, windows
from .errors import ElmoError, Errors



class ElmoEmbedder:
    """All ELMo layers of tokenized sentences, as float32 numpy arrays.

    weights (str): anything the component's `weights` takes: a preset
        ("default", "small", "original", ...), a bilm-tf directory
        (options.json + weights.hdf5), an ELMoForManyLangs model directory,
        or a saved spaCy pipeline with an elmo component.
    state_mode (str): "warm" (default), "reset" or "carry" (bilm/model.py).
    precision (str): "fp32" (exact, default), "tf32", "bf16" or "fp16".
    device (str): "cpu", "cuda", "cuda:1", ...
    batch_size (int): sentences per batch (at most; see the module docstring).
    """

    def __init__(
        self,
        weights: str = "default",
        *,
        state_mode: str = "warm",
        precision: str = "fp32",
        device: str = "cpu",
        batch_size: int = 64,
    ):
        check_state_mode(state_mode, "ElmoEmbedder(state_mode=...)")
        self.batch_size = _check_batch_size(batch_size)
        try:
            torch_device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ElmoError(Errors.E430.format(device=device, err=err)) from None
        check_precision(precision, "ElmoEmbedder(precision=...)", torch_device.type)
        self.state_mode, self.precision = state_mode, precision
        self.bilm = load_for_cli(weights, None, None, torch_device)
        self.bilm.reset_carry()

    @property
    def dim(self) -> int:
        """Width of every layer (2 x projection_dim)."""
        return self.bilm.config.output_dim

    def reset_state(self) -> None:
        """"carry" mode: the next batch starts from the zero state."""
        self.bilm.reset_carry()

    def embed_sentence(self, tokens: Sequence[str]) -> numpy.ndarray:
        """RETURNS (numpy.ndarray[float32]): *Shape:* (n_layers + 1, n_tokens, dim)."""
        return self.embed_batch([tokens])[0]

    def embed_batch(self, sentences: Sequence[Sequence[str]]) -> List[numpy.ndarray]:
        """One array per sentence, in order (see `embed_sentence`)."""
        return list(self.embed_sentences(sentences))

    def embed_sentences(
        self, sentences: Iterable[Sequence[str]], batch_size: Optional[int] = None
    ) -> Iterator[numpy.ndarray]:
        """Arrays for a stream of sentences, in input order; memory is bounded
        by a window of batches, whatever the length of the stream.

        batch_size (Optional[int]): overrides the embedder's batch size.
        """
        size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        lines = (_check_sentence(i, s) for i, s in enumerate(sentences))
        if keeps_row_order(self.state_mode):
            for window in carry_batches(lines, size):
                yield from self._run(window, [[(window.first + i, 0, len(t)) for i, t in enumerate(window.lines)]])
            return
        for window in windows(lines, WINDOW_BATCHES * TOKEN_BUDGET):
            batches = window_batches(window, batch_size=size, token_budget=TOKEN_BUDGET, max_length=MAX_LENGTH)
            yield from self._run(window, batches)

    def _run(self, window: Window, batches: Iterable[List]) -> Iterator[numpy.ndarray]:
        """The window's sentences, computed batch by batch, in input order."""
        n_layers = self.bilm.config.n_elmo_layers
        outputs = [numpy.zeros((n_layers, len(t), self.dim), dtype=numpy.float32) for t in window.lines]
        for batch in batches:
            rows = [window.tokens(segment) for segment in batch]
            layers, _ = self.bilm.embed_sentences(rows, mode=self.state_mode, precision=self.precision)
            arrays = layers.cpu().numpy()
            for row, (line, start, end) in enumerate(batch):
                outputs[line - window.first][:, start:end] = arrays[row, :, : end - start]
        yield from outputs


def _check_batch_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ElmoError(Errors.E431.format(value=value))
    return value


def _check_sentence(index: int, sentence: Sequence[str]) -> List[str]:
    """A sentence as a list of token strings (E432 for a bare string or non-str tokens)."""
    try:
        tokens = None if isinstance(sentence, (str, bytes)) else list(sentence)
    except TypeError:
        tokens = None
    if tokens is None or not all(isinstance(t, str) for t in tokens):
        raise ElmoError(Errors.E432.format(index=index, value=repr(sentence)[:80]))
    return tokens
