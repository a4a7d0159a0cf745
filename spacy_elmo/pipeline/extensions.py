"""Token/Span/Doc extensions over one Doc-level array of ELMo layers.

`doc._.elmo_data` holds a dict `{"layers": float32 (n_layers + 1, n_tokens,
dim), "mix": float32 (n_layers + 1,) or None for concatenation, "gamma":
float}`. It is msgpack-serializable, so `Doc.to_bytes`, `DocBin` and
`nlp.pipe(n_process=...)` keep it. Everything else is a getter slicing it.
"""
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import numpy
from spacy.tokens import Doc, Span, Token

DATA_ATTR = "elmo_data"


def install_extensions() -> None:
    """Register the extensions once (guarded by has_extension)."""
    if not Doc.has_extension(DATA_ATTR):
        Doc.set_extension(DATA_ATTR, default=None)
    extensions: List[Tuple[Any, Dict[str, Callable[[Any], Any]]]] = [
        (Token, {"elmo": token_elmo, "elmo_layers": token_elmo_layers}),
        (Span, {"elmo": span_elmo, "elmo_layers": span_elmo_layers}),
        (Doc, {"elmo": doc_elmo, "elmo_layers": doc_elmo_layers}),
    ]
    for cls, getters in extensions:
        for name, getter in getters.items():
            if not cls.has_extension(name):
                cls.set_extension(name, getter=getter)


def mix_layers(data: dict, layers: numpy.ndarray) -> numpy.ndarray:
    """Mix (n_layers + 1, ..., dim) -> (..., dim) (or concatenate layers)."""
    if data["mix"] is None:
        return numpy.concatenate(list(layers), axis=-1)
    weights = numpy.asarray(data["mix"], dtype=layers.dtype)
    return numpy.tensordot(weights, layers, axes=1) * numpy.float32(data["gamma"])


def _data(doc: Doc) -> Optional[dict]:
    return doc._.get(DATA_ATTR)


def token_elmo_layers(token: Token) -> Optional[numpy.ndarray]:
    """*Shape:* (n_layers + 1, dim), or None if the elmo component did not run."""
    data = _data(token.doc)
    return None if data is None else data["layers"][:, token.i]


def token_elmo(token: Token) -> Optional[numpy.ndarray]:
    """The mixed ELMo vector of a token. *Shape:* (dim,)"""
    data = _data(token.doc)
    return None if data is None else mix_layers(data, data["layers"][:, token.i])


def span_elmo_layers(span: Span) -> Optional[numpy.ndarray]:
    """*Shape:* (n_layers + 1, len(span), dim)"""
    data = _data(span.doc)
    return None if data is None else data["layers"][:, span.start : span.end]


def span_elmo(span: Span) -> Optional[numpy.ndarray]:
    """Mean of the span's mixed token vectors. *Shape:* (dim,)"""
    data = _data(span.doc)
    if data is None:
        return None
    return _mean(mix_layers(data, data["layers"][:, span.start : span.end]))


def doc_elmo_layers(doc: Doc) -> Optional[numpy.ndarray]:
    data = _data(doc)
    return None if data is None else data["layers"]


def doc_elmo(doc: Doc) -> Optional[numpy.ndarray]:
    """Mean of all mixed token vectors. *Shape:* (dim,)"""
    data = _data(doc)
    return None if data is None else _mean(mix_layers(data, data["layers"]))


def _mean(vectors: numpy.ndarray) -> numpy.ndarray:
    if vectors.shape[0] == 0:
        return numpy.zeros(vectors.shape[-1], dtype=numpy.float32)
    return vectors.mean(axis=0)


# User hooks: token.vector / span.vector / doc.vector and similarity use ELMo.
def _cosine(a: numpy.ndarray, b: numpy.ndarray) -> float:
    norm = float(numpy.linalg.norm(a) * numpy.linalg.norm(b))
    return 0.0 if norm == 0.0 else float(numpy.dot(a, b) / norm)


def _similarity(a, b) -> float:
    return _cosine(a.vector, b.vector)


def set_user_hooks(doc: Doc) -> None:
    """Make .vector, .has_vector, .vector_norm and .similarity use ELMo."""
    doc.user_token_hooks["vector"] = token_elmo
    doc.user_token_hooks["has_vector"] = lambda token: True
    doc.user_token_hooks["vector_norm"] = lambda token: float(numpy.linalg.norm(cast(numpy.ndarray, token_elmo(token))))
    doc.user_token_hooks["similarity"] = _similarity
    doc.user_span_hooks["vector"] = span_elmo
    doc.user_span_hooks["has_vector"] = lambda span: True
    doc.user_span_hooks["vector_norm"] = lambda span: float(numpy.linalg.norm(cast(numpy.ndarray, span_elmo(span))))
    doc.user_span_hooks["similarity"] = _similarity
    doc.user_hooks["vector"] = doc_elmo
    doc.user_hooks["has_vector"] = lambda d: True
    doc.user_hooks["vector_norm"] = lambda d: float(numpy.linalg.norm(cast(numpy.ndarray, doc_elmo(d))))
    doc.user_hooks["similarity"] = _similarity
