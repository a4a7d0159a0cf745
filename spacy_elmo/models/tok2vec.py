"""Self-contained ELMo features (no shared `elmo` component): its own encoder,
then the same mix, extra features and projection as the listener
(features.py). `nlp.replace_listeners` turns a listener into one of these
(`replace_listener`, `replace_listener_cfg`: the hooks the encoder carries).
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Floats3d, Ragged

from .features import build_extra, build_head, mix_and_project
from .listener import ElmoListener
from .scalar_mix import build_scalar_mix


@registry.architectures("spacy-elmo.ElmoTok2Vec.v1")
def build_elmo_tok2vec_v1(
    *,
    encoder: Model[List[Doc], List[Floats3d]],
    width: int,
    mix_l2: float = 0.001,
    dropout: float = 0.0,
    static_vectors: Optional[Model[List[Doc], Ragged]] = None,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Self-contained ELMo features (no shared component): encoder (a
    `spacy-elmo.ElmoEncoder.v1`) -> scalar mix [+ static vectors / tok2vec]
    -> dropout -> projection. Arguments as in ElmoListener.v1.

    RETURNS (Model[List[Doc], List[Floats2d]]): per Doc (n_tokens, width).
    """
    return build_elmo_tok2vec_v2(
        encoder=encoder, width=width, mix_l2=mix_l2, dropout=dropout,
        static_vectors=static_vectors, tok2vec=tok2vec, encode=None,
    )


@registry.architectures("spacy-elmo.ElmoTok2Vec.v2")
def build_elmo_tok2vec_v2(
    *,
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
    return elmo_tok2vec(encoder, build_scalar_mix(mix_l2), build_head(width, dropout, encode), extra)


def elmo_tok2vec(
    encoder: Model, mix: Model, proj: Model, extra: Optional[Model] = None
) -> Model[List[Doc], List[Floats2d]]:
    """The model: layers [encoder, mix, projection (, extra features)]."""

    def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
        layers, backprop_encoder = encoder(docs, is_train)  # each (n_layers, n_tokens, dim)
        outputs, backprop_head = mix_and_project(mix, proj, extra, docs, layers, is_train)
        return outputs, lambda d_outputs: backprop_encoder(backprop_head(d_outputs))

    layers = [encoder, mix, proj] if extra is None else [encoder, mix, proj, extra]
    return Model("elmo_tok2vec", forward, layers=layers, init=_init)


def _init(model: Model, X=None, Y=None) -> None:
    model.layers[0].initialize()
    if len(model.layers) > 3:
        model.layers[3].initialize(X=X)


def replace_listener(encoder_copy: Model, listener: ElmoListener, upstream) -> Model:
    """nlp.replace_listeners: the listener becomes a self-contained ElmoTok2Vec
    with a copy of the upstream encoder and the listener's own mix, extra
    features and projection."""
    mix, proj = listener.layers[:2]
    extra = listener.layers[2] if len(listener.layers) > 2 else None
    return elmo_tok2vec(encoder_copy, mix, proj, extra)


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
