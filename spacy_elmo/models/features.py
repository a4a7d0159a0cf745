"""What the listener and the self-contained tok2vec do with the ELMo layers:

    scalar mix -> [concatenate static vectors and/or a small tok2vec]
               -> dropout -> linear projection -> [contextual encoder]

`mix_and_project` runs these layers; the listener (listener.py) and ElmoTok2Vec
(tok2vec.py) hold the same layers, so `nlp.replace_listeners` hands a trained
listener's layers to a tok2vec unchanged.
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Dropout, Linear, Model, chain, ragged2list, with_array
from thinc.types import Floats2d, Floats3d, Ragged


def build_head(
    width: int, dropout: float, encode: Optional[Model[List[Floats2d], List[Floats2d]]] = None
) -> Model[List[Floats2d], List[Floats2d]]:
    """Dropout and a linear projection to `width`, then the optional encoder."""
    dropout_layer: Model[Floats2d, Floats2d] = Dropout(dropout)
    head: Model[List[Floats2d], List[Floats2d]] = with_array(chain(dropout_layer, Linear(nO=width)))
    return head if encode is None else chain(head, encode)


def build_extra(
    static_vectors: Optional[Model[List[Doc], Ragged]], tok2vec: Optional[Model[List[Doc], List[Floats2d]]]
) -> Optional[Model[List[Doc], List[Floats2d]]]:
    """Per-token features concatenated to the mixed ELMo vectors: static
    vectors (`@layers = "spacy.StaticVectors.v2"`, output Ragged) and/or a tok2vec
    (e.g. `spacy.Tok2Vec.v2`, output List[Floats2d]). None if neither is given."""
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
    outputs = [xp.hstack([r[0][i] for r in results]) for i in range(len(docs))]  # each (n_tokens, sum(widths))

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        start = 0
        for (_, bp), w in zip(results, widths):
            bp([xp.ascontiguousarray(d[:, start : start + w]) for d in d_outputs])
            start += w
        return []

    return outputs, backprop


def mix_and_project(
    mix: Model, proj: Model, extra: Optional[Model], docs: List[Doc], layers: List[Floats3d], is_train: bool
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], List[Floats3d]]]:
    """Mix [+ extra features] + projection, initializing their dims from the
    first real data.

    layers (List[Floats3d]): per Doc *Shape:* (n_layers, n_tokens, elmo_dim)
    RETURNS: per Doc *Shape:* (n_tokens, width), and the backprop callback
        that returns the gradient of the layers.
    """
    if not mix.has_dim("nL") and layers:
        mix.set_dim("nL", layers[0].shape[0])
        mix.initialize()
    mixed, backprop_mix = mix(layers, is_train)  # each (n_tokens, elmo_dim)
    backprop_extra = None
    if extra is not None:
        features, backprop_extra = extra(docs, is_train)
        width = mixed[0].shape[1] if mixed else 0
        ops = proj.ops
        # each (n_tokens, elmo_dim + extra width)
        mixed = [ops.xp.hstack((m, ops.asarray2f(f, dtype=m.dtype))) for m, f in zip(mixed, features)]
    # weights not yet allocated (a dim test would misfire: residual layers keep nI unset)
    if mixed and any(node.has_param(name) is None for node in proj.walk() for name in node.param_names):
        proj.initialize(X=mixed)
    outputs, backprop_proj = proj(mixed, is_train)

    def backprop(d_outputs: List[Floats2d]) -> List[Floats3d]:
        d_mixed = backprop_proj(d_outputs)
        if backprop_extra is not None:
            backprop_extra([d[:, width:] for d in d_mixed])
            d_mixed = [proj.ops.xp.ascontiguousarray(d[:, :width]) for d in d_mixed]
        return backprop_mix(d_mixed)

    return outputs, backprop
