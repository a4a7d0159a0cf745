"""The main job on built-in defaults: contextual vectors tell word senses
apart where a context-free vector cannot (the ELMo paper's polysemy point)."""
from pathlib import Path
from typing import List, Optional, Tuple

import numpy
import spacy

DEMO_TEXT = Path(__file__).parent / "data" / "demo.txt"
DEMO_WORDS = ("bank", "play")
# The sense of each demo word on each line of demo.txt (0-based line index).
DEMO_SENSES = {
    "bank": {0: "money", 1: "money", 2: "money", 3: "river", 4: "river", 5: "river"},
    "play": {6: "verb", 7: "verb", 8: "theatre", 9: "theatre"},
}


def _cos(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(a @ b / max(numpy.linalg.norm(a) * numpy.linalg.norm(b), 1e-12))


def nearest_contexts(
    weights: Optional[str] = "default", words=DEMO_WORDS, text_path: Path = DEMO_TEXT,
    vectors: Optional[str] = None,
) -> List[Tuple[str, str, str, float, float, Optional[float], Optional[bool]]]:
    """For each occurrence of each word: (word, its sentence, the sentence of
    its nearest other occurrence by the ELMo top layer, cosine by ELMo top
    layer, cosine by the context-free layer 0, cosine by static word vectors
    (a spaCy pipeline with vectors, e.g. from `init-vectors`; None without),
    whether the nearest occurrence has the same sense (None if unknown))."""
    nlp = spacy.blank("en") if vectors is None else spacy.load(vectors, exclude=["elmo"])
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": weights}}, "mix": "top"})
    nlp.initialize()
    lines = text_path.read_text(encoding="utf8").splitlines()
    docs = list(nlp.pipe(lines))
    senses = DEMO_SENSES if text_path == DEMO_TEXT else {}
    rows = []
    for word in words:
        hits = [(i, t) for i, doc in enumerate(docs) for t in doc if t.lower_ == word]
        for i, token in hits:
            others = [(j, t) for j, t in hits if j != i]
            j, best = max(others, key=lambda o: _cos(token._.elmo, o[1]._.elmo))
            static = None
            if vectors is not None and token.has_vector and best.has_vector:
                static = _cos(numpy.asarray(token.vector), numpy.asarray(best.vector))
            sense = senses.get(word, {})
            same = sense[i] == sense[j] if i in sense and j in sense else None
            rows.append(
                (word, docs[i].text, docs[j].text, _cos(token._.elmo, best._.elmo),
                 _cos(token._.elmo_layers[0], best._.elmo_layers[0]), static, same)
            )
    return rows
