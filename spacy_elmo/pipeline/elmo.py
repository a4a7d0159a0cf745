"""The `elmo` pipeline component: runs the biLM over each Doc's sentences (or
fixed-size chunks) and stores all ELMo layers on the Doc."""
import os
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import minibatch
from thinc.api import Model

from ..errors import ElmoError, Errors
from ..models.bilm import get_bilm
from .extensions import DATA_ATTR, install_extensions, mix_layers, set_user_hooks

DEFAULT_CONFIG_STR = """
[model]
@architectures = "spacy-elmo.ElmoBiLM.v1"
weights = "default"
options_file = null
weight_file = null
state_mode = "warm"
fine_tune = false
mixed_precision = false
"""
DEFAULT_CONFIG = Language.default_config.__class__().from_str(DEFAULT_CONFIG_STR)

Segment = Tuple[int, int, int]  # (doc index, start token, end token)


@Language.factory(
    "elmo",
    default_config={
        "model": DEFAULT_CONFIG["model"],
        "max_length": 256,
        "token_budget": 4096,
        "mix": "average",
        "gamma": 1.0,
        "set_doc_tensor": False,
        "set_vector_hooks": False,
    },
)
def make_elmo(
    nlp: Language,
    name: str,
    model: Model,
    max_length: int,
    token_budget: int,
    mix: Union[str, List[float]],
    gamma: float,
    set_doc_tensor: bool,
    set_vector_hooks: bool,
) -> "Elmo":
    """Construct the elmo component (see Elmo for the settings)."""
    return Elmo(
        nlp.vocab,
        model,
        name,
        max_length=max_length,
        token_budget=token_budget,
        mix=mix,
        gamma=gamma,
        set_doc_tensor=set_doc_tensor,
        set_vector_hooks=set_vector_hooks,
    )


_PARENT_PID = os.getpid()


def _guard_forked_process() -> None:
    """In a worker forked by nlp.pipe(n_process=N), torch's OpenMP pool from
    the parent is unusable (GNU OpenMP is not fork-safe: the first parallel
    op would hang). One intra-op thread per worker avoids it; the workers
    are the parallelism."""
    global _PARENT_PID
    if os.getpid() != _PARENT_PID:
        import torch

        torch.set_num_threads(1)
        _PARENT_PID = os.getpid()


class Elmo(TrainablePipe):
    """Contextual token vectors from a character-CNN biLM (Peters et al. 2018).

    model (Model): a `spacy-elmo.ElmoBiLM.v1` model.
    max_length (int): longest sequence given to the biLM; longer sentences
        (or Docs without sentence boundaries) are split into chunks this long.
    token_budget (int): padded tokens per biLM batch (rows x longest row).
    mix (Union[str, List[float]]): how token._.elmo mixes the layers:
        "average", "top", "concat" or explicit weights (one per layer, layer
        0 = char CNN), multiplied by `gamma`.
    set_doc_tensor (bool): also write the mixed vectors to doc.tensor.
    set_vector_hooks (bool): make token/span/doc .vector and .similarity use
        ELMo (hooks are not kept by Doc.to_bytes).
    """

    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "elmo",
        *,
        max_length: int = 256,
        token_budget: int = 4096,
        mix: Union[str, List[float]] = "average",
        gamma: float = 1.0,
        set_doc_tensor: bool = False,
        set_vector_hooks: bool = False,
    ):
        if max_length < 1 or token_budget < 1:
            raise ElmoError(
                f"elmo: max_length ({max_length}) and token_budget ({token_budget}) "
                "must be positive integers (components.elmo.max_length / token_budget)."
            )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.cfg = {
            "max_length": max_length,
            "token_budget": token_budget,
            "mix": mix,
            "gamma": gamma,
            "set_doc_tensor": set_doc_tensor,
            "set_vector_hooks": set_vector_hooks,
        }
        if not (mix in ("average", "top", "concat") or isinstance(mix, (list, tuple))):
            raise ElmoError(Errors.E031.format(mix=mix, n="n_layers + 1"))
        install_extensions()

    @property
    def n_layers(self) -> int:
        """ELMo layers (char CNN + LSTM layers)."""
        return get_bilm(self.model).config.n_elmo_layers

    @property
    def width(self) -> int:
        return get_bilm(self.model).config.output_dim

    def mix_weights(self) -> Optional[numpy.ndarray]:
        """Layer weights for token._.elmo (None: concatenate the layers)."""
        mix, n = self.cfg["mix"], self.n_layers
        if mix == "concat":
            return None
        if mix == "average":
            return numpy.full((n,), 1.0 / n, dtype=numpy.float32)
        if mix == "top":
            weights = numpy.zeros((n,), dtype=numpy.float32)
            weights[-1] = 1.0
            return weights
        if len(mix) != n:
            raise ElmoError(Errors.E031.format(mix=mix, n=n))
        return numpy.asarray(mix, dtype=numpy.float32)

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp=None):
        """Load the weights named in the config (no examples needed)."""
        self.model.initialize()

    def _ensure_model(self) -> None:
        if self.model.shims[0]._model is None:
            self.model.initialize()

    def predict(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        """All ELMo layers per Doc. *Shape:* (n_layers + 1, len(doc), dim)"""
        docs = list(docs)
        _guard_forked_process()
        self._ensure_model()
        segments = [seg for i, doc in enumerate(docs) for seg in self._segments(i, doc)]
        outputs = [
            numpy.zeros((self.n_layers, len(doc), self.width), dtype=numpy.float32) for doc in docs
        ]
        carry = self.model.attrs["state_mode"] == "carry"
        # carry mode: rows must keep their order across batches (bilm-tf semantics).
        order = segments if carry else sorted(segments, key=lambda s: s[1] - s[2])
        for batch in self._batches(order):
            texts = [[t.text for t in docs[d][start:end]] for d, start, end in batch]
            arrays = self.model.predict(texts)
            for (d, start, end), array in zip(batch, arrays):
                outputs[d][:, start:end] = self.model.ops.to_numpy(array)
        return outputs

    def _segments(self, index: int, doc: Doc) -> Iterator[Segment]:
        """Sentences when the Doc has boundaries, else the whole Doc; either
        split into chunks of at most max_length tokens."""
        size = self.cfg["max_length"]
        if doc.has_annotation("SENT_START"):
            spans = [(sent.start, sent.end) for sent in doc.sents]
        else:
            spans = [(0, len(doc))] if len(doc) else []
        for start, end in spans:
            for chunk in range(start, end, size):
                yield index, chunk, min(chunk + size, end)

    def _batches(self, segments: Sequence[Segment]) -> Iterator[List[Segment]]:
        """Group segments so that rows x (longest row + 2 markers) stays within
        the token budget (a batch always holds at least one row)."""
        budget = self.cfg["token_budget"]
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

    def set_annotations(self, docs: Iterable[Doc], outputs: List[numpy.ndarray]) -> None:
        weights = self.mix_weights()
        gamma = float(self.cfg["gamma"])
        for doc, layers in zip(docs, outputs):
            data = {"layers": layers, "mix": weights, "gamma": gamma}
            doc._.set(DATA_ATTR, data)
            if self.cfg["set_doc_tensor"]:
                doc.tensor = mix_layers(data, layers)
            if self.cfg["set_vector_hooks"]:
                set_user_hooks(doc)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for docs in minibatch(stream, batch_size):
            docs = list(docs)
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None):
        """The component has no loss of its own; downstream components train
        on its output."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        return losses

    def add_label(self, label: str) -> int:
        raise NotImplementedError(f"{self.name} has no labels")
