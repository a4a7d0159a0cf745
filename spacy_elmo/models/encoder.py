"""Docs -> ELMo layers per Doc: splits Docs into sentences (or chunks), batches
them by a token budget in length order, runs the biLM, and reassembles."""
from typing import Callable, Iterator, List, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats3d

from ..bilm.batching import MAX_LENGTH, TOKEN_BUDGET, Segment, budget_batches, chunks, longest_first
from ..bilm.model import keeps_row_order
from ..errors import ElmoError, Errors
from .tok2vec import replace_listener, replace_listener_cfg


@registry.architectures("spacy-elmo.ElmoEncoder.v1")
def build_elmo_encoder_v1(
    *, bilm: Model, max_length: int = MAX_LENGTH, token_budget: int = TOKEN_BUDGET
) -> Model[List[Doc], List[Floats3d]]:
    """All ELMo layers for each Doc.

    bilm (Model): a `spacy-elmo.ElmoBiLM` model (token sequences -> layers).
    max_length (int): longest sequence given to the biLM; longer sentences (or
        Docs without sentence boundaries) are split into chunks this long
        (0: never split, as `embed --max-length 0`).
    token_budget (int): padded tokens per biLM batch (rows x (longest row + 2)).
    RETURNS (Model[List[Doc], List[Floats3d]]): per Doc (n_layers + 1, len(doc), dim).
    """
    for key, value, least in (("max_length", max_length, 0), ("token_budget", token_budget, 1)):
        if value < least:
            raise ElmoError(Errors.E093.format(key=key, value=value, least=least))
    return Model(
        "elmo_encoder",
        forward,
        init=init,
        layers=[bilm],
        attrs={
            "max_length": max_length,
            "token_budget": token_budget,
            # nlp.replace_listeners support (not serialized: thinc skips callables)
            "replace_listener": replace_listener,
            "replace_listener_cfg": replace_listener_cfg,
        },
    )


def init(model: Model, X=None, Y=None) -> None:
    model.layers[0].initialize()


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats3d], Callable]:
    bilm = model.layers[0]
    if bilm.shims[0]._model is None:
        bilm.initialize()
    torch_bilm = bilm.shims[0]._model
    n_layers, width = torch_bilm.config.n_elmo_layers, torch_bilm.config.output_dim
    segments = [seg for i, doc in enumerate(docs) for seg in _segments(i, doc, model.attrs["max_length"])]
    outputs = [model.ops.alloc3f(n_layers, len(doc), width) for doc in docs]
    if not keeps_row_order(bilm.attrs["state_mode"]):
        segments = longest_first(segments)
    callbacks = []
    for batch in budget_batches(segments, model.attrs["token_budget"]):
        texts = [[t.text for t in docs[d][start:end]] for d, start, end in batch]
        arrays, backprop_batch = bilm(texts, is_train)
        for (d, start, end), array in zip(batch, arrays):
            outputs[d][:, start:end] = array
        callbacks.append((batch, backprop_batch))

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        for batch, backprop_batch in callbacks:
            backprop_batch([d_outputs[d][:, start:end] for d, start, end in batch])
        return []

    return outputs, backprop


def _segments(index: int, doc: Doc, size: int) -> Iterator[Segment]:
    """Sentences when the Doc has boundaries, else the whole Doc; either split
    into chunks of at most `size` tokens (0: not split)."""
    if doc.has_annotation("SENT_START"):
        spans = [(sent.start, sent.end) for sent in doc.sents]
    else:
        spans = [(0, len(doc))] if len(doc) else []
    for start, end in spans:
        yield from chunks(index, start, end, size)

