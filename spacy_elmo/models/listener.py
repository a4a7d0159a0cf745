"""ELMo features for downstream components: a listener of the shared `elmo`
component (like spaCy's Tok2VecListener) with a task-specific scalar mix
(Peters et al. 2018, eq. 1), and a self-contained variant.

Both end in the same layers: scalar mix -> [concatenate optional static
vectors and/or a small tok2vec] -> dropout -> linear projection, so a listener
replaced by its upstream model (`nlp.replace_listeners`) keeps its trained mix,
extra features and projection.
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Linear, Model, chain, ragged2list, with_array
from thinc.types import Floats2d, Floats3d, Ragged

from ..errors import ElmoError


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
            raise ElmoError(
                f"ElmoListener (upstream '{self.upstream_name}') got no ELMo layers. "
                "Put the elmo component before this one in [nlp] pipeline, and "
                "keep it in [training] annotating_components or unfrozen."
            )
        if self._batch_id != self.get_batch_id(inputs):
            raise ElmoError(
                "ElmoListener received a different batch than the elmo component "
                "processed: run the elmo component on the same batch first."
            )
        return True


def listener_init(model: ElmoListener, X: Optional[List[Doc]] = None, Y=None) -> None:
    """The mix and projection take their sizes from the first ELMo layers
    they see; extra features (static vectors, tok2vec) initialize here."""
    if len(model.layers) > 2:
        model.layers[2].initialize(X=X)


def listener_forward(model: ElmoListener, docs: List[Doc], is_train: bool):
    mix, proj = model.layers[:2]
    extra = model.layers[2] if len(model.layers) > 2 else None
    if is_train:
        model.verify_inputs(docs)
        layers, backprop_upstream = model._outputs, model._backprop
    else:
        layers = [_doc_layers(doc) for doc in docs]
        if any(x is None for x in layers):
            # No ELMo annotation (e.g. the sample docs of initialize(), or the
            # elmo component is disabled): zeros, as spaCy's Tok2VecListener does.
            width = _width(proj)
            return [model.ops.alloc2f(len(doc), width) for doc in docs], lambda d: []
        layers = [model.ops.asarray3f(x) for x in layers]
        backprop_upstream = None
    outputs, backprop_head = _head(mix, proj, extra, docs, layers, is_train)

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_layers = backprop_head(d_outputs)
        if backprop_upstream is not None:
            backprop_upstream(d_layers)
        return []

    return outputs, backprop


def _doc_layers(doc: Doc) -> Optional[Floats3d]:
    data = doc._.get("elmo_data") if doc.has_extension("elmo_data") else None
    return None if data is None else data["layers"]


def _width(proj: Model) -> int:
    for node in proj.walk():
        if node.has_dim("nO"):
            return node.get_dim("nO")
    raise ElmoError("ElmoListener: the projection has no output width.")


def _head(mix: Model, proj: Model, extra: Optional[Model], docs: List[Doc],
          layers: List[Floats3d], is_train: bool):
    """Mix [+ extra features] + projection, initializing their dims from the
    first real data."""
    if not mix.has_dim("nL") and layers:
        mix.set_dim("nL", layers[0].shape[0])
        mix.initialize()
    mixed, backprop_mix = mix(layers, is_train)
    backprop_extra = None
    if extra is not None:
        features, backprop_extra = extra(docs, is_train)
        width = mixed[0].shape[1] if mixed else 0
        ops = proj.ops
        mixed = [ops.xp.hstack((m, ops.asarray2f(f, dtype=m.dtype))) for m, f in zip(mixed, features)]
    # weights not yet allocated (a dim test would misfire: residual layers keep nI unset)
    if mixed and any(node.has_param(name) is None for node in proj.walk() for name in node.param_names):
        proj.initialize(X=mixed)
    outputs, backprop_proj = proj(mixed, is_train)

    def backprop(d_outputs):
        d_mixed = backprop_proj(d_outputs)
        if backprop_extra is not None:
            backprop_extra([d[:, width:] for d in d_mixed])
            d_mixed = [proj.ops.xp.ascontiguousarray(d[:, :width]) for d in d_mixed]
        return backprop_mix(d_mixed)

    return outputs, backprop


def build_scalar_mix(l2: float) -> Model[List[Floats3d], List[Floats2d]]:
    """softmax(W)-weighted sum of the layers times gamma, with an L2 penalty
    `l2 * W` added to W's gradient (the paper used 0.001)."""
    return Model("elmo_scalar_mix", scalar_mix_forward, init=scalar_mix_init,
                 dims={"nL": None}, params={"W": None, "gamma": None}, attrs={"l2": l2})


def scalar_mix_init(model: Model, X=None, Y=None) -> None:
    if X is not None and model.get_dim("nL") is None:
        model.set_dim("nL", X[0].shape[0])
    n = model.get_dim("nL")
    model.set_param("W", model.ops.alloc1f(n))
    model.set_param("gamma", model.ops.asarray1f([1.0]))


def scalar_mix_forward(model: Model, X: List[Floats3d], is_train: bool):
    W, gamma = model.get_param("W"), model.get_param("gamma")
    ops = model.ops
    e = ops.xp.exp(W - W.max())
    s = e / e.sum()  # (nL,)
    g = float(gamma[0])
    outputs = [g * ops.xp.tensordot(s, x, axes=1) for x in X]  # each (n, dim)

    def backprop(dY: List[Floats2d]) -> List[Floats3d]:
        # a_k = sum over docs of <X_k, dY>; dgamma = sum_k s_k a_k;
        # dW_k = gamma * s_k * (a_k - sum_j s_j a_j)
        a = ops.alloc1f(len(s))
        for x, dy in zip(X, dY):
            a += ops.xp.tensordot(x, dy, axes=([1, 2], [0, 1]))
        weighted = float((s * a).sum())
        model.inc_grad("gamma", ops.asarray1f([weighted]))
        model.inc_grad("W", g * s * (a - weighted) + model.attrs["l2"] * W)
        return [g * s[:, None, None] * dy[None] for dy in dY]

    return outputs, backprop


def build_head(
    width: int, dropout: float, encode: Optional[Model[List[Floats2d], List[Floats2d]]] = None
) -> Model[List[Floats2d], List[Floats2d]]:
    """Dropout and a linear projection to `width`, then the optional encoder."""
    head = with_array(chain(Dropout(dropout), Linear(nO=width)))
    return head if encode is None else chain(head, encode)


def build_extra(
    static_vectors: Optional[Model[List[Doc], Ragged]], tok2vec: Optional[Model[List[Doc], List[Floats2d]]]
) -> Optional[Model[List[Doc], List[Floats2d]]]:
    """Per-token features concatenated to the mixed ELMo vectors: static
    vectors (`@layers = "spacy.StaticVectors.v2"`, output Ragged) and/or a tok2vec
    (e.g. `spacy.Tok2Vec.v2`, output List[Floats2d])."""
    parts: List[Model] = []
    if static_vectors is not None:
        parts.append(chain(static_vectors, ragged2list()))
    if tok2vec is not None:
        parts.append(tok2vec)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Model("elmo_extra_features", _concat_forward, init=_concat_init, layers=parts)


def _concat_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    for layer in model.layers:
        layer.initialize(X=X)


def _concat_forward(model: Model, docs: List[Doc], is_train: bool):
    results = [layer(docs, is_train) for layer in model.layers]
    widths = [r[0][0].shape[1] if r[0] else 0 for r in results]
    xp = model.ops.xp
    outputs = [xp.hstack([r[0][i] for r in results]) for i in range(len(docs))]

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        start = 0
        for (_, bp), w in zip(results, widths):
            bp([xp.ascontiguousarray(d[:, start : start + w]) for d in d_outputs])
            start += w
        return []

    return outputs, backprop


@registry.architectures("spacy-elmo.ElmoListener.v1")
def build_elmo_listener_v1(
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
    """
    return build_elmo_listener_v2(width, upstream, mix_l2, dropout, static_vectors, tok2vec, encode=None)


@registry.architectures("spacy-elmo.ElmoListener.v2")
def build_elmo_listener_v2(
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


@registry.architectures("spacy-elmo.ElmoTok2Vec.v1")
def build_elmo_tok2vec_v1(
    encoder: Model[List[Doc], List[Floats3d]],
    width: int,
    mix_l2: float = 0.001,
    dropout: float = 0.0,
    static_vectors: Optional[Model[List[Doc], Ragged]] = None,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Self-contained ELMo features (no shared component): encoder (a
    `spacy-elmo.ElmoEncoder.v1`) -> scalar mix [+ static vectors / tok2vec]
    -> dropout -> projection. Arguments as in ElmoListener.v1."""
    return build_elmo_tok2vec_v2(encoder, width, mix_l2, dropout, static_vectors, tok2vec, encode=None)


@registry.architectures("spacy-elmo.ElmoTok2Vec.v2")
def build_elmo_tok2vec_v2(
    encoder: Model[List[Doc], List[Floats3d]],
    width: int,
    mix_l2: float = 0.001,
    dropout: float = 0.0,
    static_vectors: Optional[Model[List[Doc], Ragged]] = None,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
    encode: Optional[Model[List[Floats2d], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """ElmoTok2Vec.v1 plus `encode`, as in ElmoListener.v2."""
    extra = build_extra(static_vectors, tok2vec)
    return _tok2vec(encoder, build_scalar_mix(mix_l2), build_head(width, dropout, encode), extra)


def _tok2vec(encoder: Model, mix: Model, proj: Model, extra: Optional[Model] = None) -> Model[List[Doc], List[Floats2d]]:
    def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
        layers, backprop_encoder = encoder(docs, is_train)
        outputs, backprop_head = _head(mix, proj, extra, docs, layers, is_train)
        return outputs, lambda d_outputs: backprop_encoder(backprop_head(d_outputs))

    layers = [encoder, mix, proj] if extra is None else [encoder, mix, proj, extra]
    return Model("elmo_tok2vec", forward, layers=layers, init=_init_tok2vec)


def _init_tok2vec(model: Model, X=None, Y=None) -> None:
    model.layers[0].initialize()
    if len(model.layers) > 3:
        model.layers[3].initialize(X=X)


def replace_listener(encoder_copy: Model, listener: ElmoListener, upstream) -> Model:
    """nlp.replace_listeners: the listener becomes a self-contained ElmoTok2Vec
    with a copy of the upstream encoder and the listener's own mix, extra
    features and projection."""
    mix, proj = listener.layers[:2]
    extra = listener.layers[2] if len(listener.layers) > 2 else None
    return _tok2vec(encoder_copy, mix, proj, extra)


def replace_listener_cfg(encoder_cfg: dict, listener_cfg: dict) -> dict:
    """The config of the replacement: ElmoTok2Vec of the listener's version
    with the encoder's and the listener's settings."""
    v2 = listener_cfg.get("@architectures") == "spacy-elmo.ElmoListener.v2"
    cfg = {
        "@architectures": "spacy-elmo.ElmoTok2Vec.v2" if v2 else "spacy-elmo.ElmoTok2Vec.v1",
        "encoder": encoder_cfg,
        "width": listener_cfg["width"],
        "mix_l2": listener_cfg.get("mix_l2", 0.001),
        "dropout": listener_cfg.get("dropout", 0.0),
    }
    for key in ("static_vectors", "tok2vec", "encode"):
        if listener_cfg.get(key) is not None:
            cfg[key] = listener_cfg[key]
    return cfg
