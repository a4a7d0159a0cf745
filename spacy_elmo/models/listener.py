"""ELMo features for a downstream component from the shared `elmo` component:
a listener (like spaCy's Tok2VecListener) with its own task-specific scalar mix
(Peters et al. 2018, eq. 1), extra features and projection (features.py).
"""
from typing import List, Optional, cast

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Floats3d, Ragged

from ..errors import ElmoError, Errors
from .features import build_extra, build_head, mix_and_project
from .scalar_mix import build_scalar_mix


class ElmoListener(Model):
    """Receives all ELMo layers from the upstream `elmo` component during
    training, reads them from `doc._.elmo_data` at prediction time, and runs
    its own mix + projection (layers[0], layers[1]), concatenating the output
    of an optional `extra` model (layers[2]) before the projection."""

    name = "elmo_listener"

    def __init__(self, upstream_name: str, mix: Model, proj: Model, extra: Optional[Model] = None):
        layers = [mix, proj] if extra is None else [mix, proj, extra]
        Model.__init__(self, name=self.name, forward=listener_forward, init=listener_init, layers=layers)
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs = None
        self._backprop = None

    @classmethod
    def get_batch_id(cls, inputs: List[Doc]) -> int:
        return sum(sum(token.orth for token in doc) for doc in inputs)

    def receive(self, batch_id: int, outputs, backprop) -> None:
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def verify_inputs(self, inputs: List[Doc]) -> bool:
        if self._batch_id is None and self._outputs is None:
            raise ElmoError(Errors.E090.format(upstream=self.upstream_name))
        expected = self.get_batch_id(inputs)
        if self._batch_id != expected:
            raise ElmoError(Errors.E091.format(upstream=self.upstream_name, received=self._batch_id, expected=expected))
        return True


def listener_init(model: ElmoListener, X: Optional[List[Doc]] = None, Y=None) -> None:
    """The mix and projection take their sizes from the first ELMo layers
    they see; extra features (static vectors, tok2vec) initialize here."""
    if len(model.layers) > 2:
        model.layers[2].initialize(X=X)


def listener_forward(model: ElmoListener, docs: List[Doc], is_train: bool):
    mix, proj = model.layers[:2]
    extra = model.layers[2] if len(model.layers) > 2 else None
    layers: List[Floats3d]
    if is_train:
        model.verify_inputs(docs)  # so the upstream's outputs are set
        layers, backprop_upstream = cast(List[Floats3d], model._outputs), model._backprop
    else:
        annotated = [_doc_layers(doc) for doc in docs]
        if any(x is None for x in annotated):
            # No ELMo annotation (e.g. the sample docs of initialize(), or the
            # elmo component is disabled): zeros, as spaCy's Tok2VecListener does.
            width = _width(model)
            return [model.ops.alloc2f(len(doc), width) for doc in docs], lambda d: []
        layers = [model.ops.asarray3f(cast(Floats3d, x)) for x in annotated]  # each (n_layers, n_tokens, dim)
        backprop_upstream = None
    outputs, backprop_head = mix_and_project(mix, proj, extra, docs, layers, is_train)

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_layers = backprop_head(d_outputs)
        if backprop_upstream is not None:
            backprop_upstream(d_layers)
        return []

    return outputs, backprop


def _doc_layers(doc: Doc) -> Optional[Floats3d]:
    data = doc._.get("elmo_data") if doc.has_extension("elmo_data") else None
    return None if data is None else data["layers"]


def _width(model: ElmoListener) -> int:
    for node in model.layers[1].walk():
        if node.has_dim("nO"):
            return node.get_dim("nO")
    raise ElmoError(Errors.E092.format(upstream=model.upstream_name))


@registry.architectures("spacy-elmo.ElmoListener.v1")
def build_elmo_listener_v1(
    *,
    width: int,
    upstream: str = "*",
    mix_l2: float = 0.001,
    dropout: float = 0.0,
    static_vectors: Optional[Model[List[Doc], Ragged]] = None,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Token vectors for a downstream component from the shared `elmo`
    component: a task-specific scalar mix of all ELMo layers, optionally
    concatenated with static vectors and/or a small trainable tok2vec, then
    dropout and a linear projection to `width`.

    width (int): output width.
    upstream (str): name of the elmo component, or "*" for any.
    mix_l2 (float): L2 penalty on the mix weights.
    dropout (float): dropout before the projection.
    static_vectors (Optional[Model]): e.g. `spacy.StaticVectors.v2` (needs
        vectors in nlp.vocab: [initialize] vectors).
    tok2vec (Optional[Model]): e.g. a small `spacy.Tok2Vec.v2`.
    RETURNS (Model[List[Doc], List[Floats2d]]): per Doc (n_tokens, width).
    """
    return build_elmo_listener_v2(
        width=width, upstream=upstream, mix_l2=mix_l2, dropout=dropout,
        static_vectors=static_vectors, tok2vec=tok2vec, encode=None,
    )


@registry.architectures("spacy-elmo.ElmoListener.v2")
def build_elmo_listener_v2(
    *,
    width: int,
    upstream: str = "*",
    mix_l2: float = 0.001,
    dropout: float = 0.0,
    static_vectors: Optional[Model[List[Doc], Ragged]] = None,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
    encode: Optional[Model[List[Floats2d], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """ElmoListener.v1 plus `encode`: a contextual encoder run on the
    projection, e.g. `spacy.MaxoutWindowEncoder.v2` of the same width. With
    `tok2vec` set to an embedding only (`spacy.MultiHashEmbed.v2`), ELMo joins
    the word representation at the encoder's input, as the paper fed it to the
    task's biLSTM, instead of reaching the task's output through linear maps
    only. `encode = null` is v1.
    """
    extra = build_extra(static_vectors, tok2vec)
    return ElmoListener(upstream, build_scalar_mix(mix_l2), build_head(width, dropout, encode), extra)
