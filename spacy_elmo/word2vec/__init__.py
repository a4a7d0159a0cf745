"""word2vec vectors for spaCy: read every word2vec format, convert to spaCy
`Vectors`, train new ones with gensim.

- `read.py`: text / binary / gensim files -> keys + one float32 array
  (`read_word2vec`), streaming; `detect.py` tells the formats apart by
  content; `table.py` collects the rows (duplicate keys, growth).
- `numbers.py`: the vectorized text block parser (bit-identical to gensim).
- `convert.py`: dedupe / prune / truncate into `Vectors`
  (`load_word2vec_vectors`, `init_vectors`, `spacy-elmo.Word2VecVectors.v1`).
- `train.py`: gensim Word2Vec on tokenized text (`train_word2vec`).
"""
from .convert import init_vectors, load_word2vec_vectors, word2vec_to_vectors
from .detect import detect_format
from .read import read_word2vec
from .table import Word2VecTable
from .train import train_word2vec

__all__ = [
    "Word2VecTable",
    "detect_format",
    "init_vectors",
    "load_word2vec_vectors",
    "read_word2vec",
    "train_word2vec",
    "word2vec_to_vectors",
]
