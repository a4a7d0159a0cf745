"""spacy-elmo: ELMo contextual vectors and word2vec static vectors for spaCy 3.

Importing the package is cheap: spaCy finds the factory, architectures and CLI
through entry points, so configs resolve without importing this module first.
"""
from .about import __version__

__all__ = ["__version__"]
