"""The main job on built-in defaults: contextual vectors tell word senses
apart where a context-free vector cannot (the ELMo paper's polysemy point)."""
from pathlib import Path
from typing import List, Optional, Tuple

import numpy

DEMO_TEXT = Path(__file__).parent / "data" / "demo.txt"
DEMO_WORDS = ("bank", "play")


def _cos(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(a @ b / max(numpy.linalg.norm(a) * numpy.linalg.norm(b), 1e-12))


def nearest_contexts(
    weights: Optional[str] = "default", words=DEMO_WORDS, text_path: Path = DEMO_TEXT
) -> List[Tuple[str, str, str, float, float]]:
    """For each occurrence of each word: (word, its sentence, the sentence of
    its nearest other occurrence by the ELMo top layer, cosine by ELMo top
    layer, cosine by the context-free layer 0)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": weights}}, "mix": "top"})
    nlp.initialize()
    docs = list(nlp.pipe(text_path.read_text(encoding="utf8").splitlines()))
    rows = []
    for word in words:
        hits = [(doc, t) for doc in docs for t in doc if t.lower_ == word]
        for doc, token in hits:
            others = [(d, t) for d, t in hits if t.doc is not doc]
            best_doc, best = max(others, key=lambda o: _cos(token._.elmo, o[1]._.elmo))
            rows.append(
                (word, doc.text, best_doc.text, _cos(token._.elmo, best._.elmo),
                 _cos(token._.elmo_layers[0], best._.elmo_layers[0]))
            )
    return rows
