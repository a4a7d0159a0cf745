"""spacy-elmo: ELMo contextual vectors and word2vec static vectors for spaCy 3.

Importing the package is cheap: spaCy finds the factory, architectures and CLI
through entry points, so configs resolve without importing this module first.
"""
from .about import __version__

__all__ = ["__version__", "ElmoEmbedder"]


def __getattr__(name: str):
    """`from spacy_elmo import ElmoEmbedder` (PEP 562): the embedder imports
    spaCy and torch, so it loads on first use and `import spacy_elmo.bilm`
    stays free of spaCy."""
    if name == "ElmoEmbedder":
        from .embedder import ElmoEmbedder

        return ElmoEmbedder
    raise AttributeError(f"module 'spacy_elmo' has no attribute {name!r}")
