"""Token -> character ids exactly as bilm-tf defines them.

Each token is its UTF-8 bytes (ids 0-255) truncated to max_chars - 2 bytes,
wrapped in begin-of-word (258) and end-of-word (259) and padded with 260.
Sentence markers are the "words" made of the single ids 256 (<S>) and 257
(</S>). All ids are shifted by +1 so that 0 means "no token" (batch padding).
"""
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy
import torch

BOS_CHAR = 256
EOS_CHAR = 257
BOW_CHAR = 258
EOW_CHAR = 259
PAD_CHAR = 260
BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"


def _marker(char: int, max_chars: int) -> numpy.ndarray:
    ids = numpy.full((max_chars,), PAD_CHAR, dtype=numpy.int64)
    ids[:3] = (BOW_CHAR, char, EOW_CHAR)
    return ids + 1


def token_char_ids(token: str, max_chars: int = 50) -> numpy.ndarray:
    """Character ids of one token, shifted by +1.

    token (str): the token text (any Unicode; encoded as UTF-8 bytes).
    max_chars (int): ids per token, markers included.
    RETURNS (numpy.ndarray[int64]): *Shape:* (max_chars,)
    """
    if token == BOS_TOKEN:
        return _marker(BOS_CHAR, max_chars)
    if token == EOS_TOKEN:
        return _marker(EOS_CHAR, max_chars)
    # surrogatepass: lone surrogates (from broken decoding upstream) still encode.
    data = token.encode("utf-8", errors="surrogatepass")[: max_chars - 2]
    ids = numpy.full((max_chars,), PAD_CHAR, dtype=numpy.int64)
    ids[0] = BOW_CHAR
    ids[1 : len(data) + 1] = numpy.frombuffer(data, dtype=numpy.uint8)
    ids[len(data) + 1] = EOW_CHAR
    return ids + 1


class CharEncoder:
    """Encodes tokens and batches of sentences to character ids, caching the
    ids of each distinct token (up to `cache_size` tokens). The one char-id
    encoder of the package: the biLM owns one (`BiLM.chars`).

    max_chars (int): ids per token, markers included.
    cache_size (int): distinct tokens whose ids are kept (0: no cache).
    """

    def __init__(self, max_chars: int = 50, cache_size: int = 200_000):
        self.max_chars = max_chars
        self.cache_size = cache_size
        self._cache: Dict[str, numpy.ndarray] = {}

    def encode(self, tokens: Iterable[str]) -> numpy.ndarray:
        """*Shape:* (n_tokens, max_chars) int64."""
        rows: List[numpy.ndarray] = []
        cache = self._cache
        for token in tokens:
            ids = cache.get(token)
            if ids is None:
                ids = token_char_ids(token, self.max_chars)
                if len(cache) < self.cache_size:
                    cache[token] = ids
            rows.append(ids)
        if not rows:
            return numpy.zeros((0, self.max_chars), dtype=numpy.int64)
        return numpy.stack(rows)

    def encode_batch(self, sentences: Sequence[Sequence[str]], add_markers: bool = True) -> numpy.ndarray:
        """Character ids of tokenized sentences, padded with 0.

        sentences (Sequence[Sequence[str]]): tokens per sentence.
        add_markers (bool): wrap each sentence in <S> ... </S> as bilm-tf does.
        RETURNS (numpy.ndarray[int64]): *Shape:* (batch, longest (+ 2), max_chars)
        """
        extra = 2 if add_markers else 0
        seq = max((len(s) for s in sentences), default=0) + extra
        out = numpy.zeros((len(sentences), seq, self.max_chars), dtype=numpy.int64)
        for i, sentence in enumerate(sentences):
            tokens = [BOS_TOKEN, *sentence, EOS_TOKEN] if add_markers else list(sentence)
            out[i, : len(tokens)] = self.encode(tokens)
        return out


    def encode_unique(
        self, sentences: Sequence[Sequence[str]], add_markers: bool = True
    ) -> Tuple[List[str], numpy.ndarray, numpy.ndarray]:
        """The distinct tokens of a batch, their character ids, and which of
        them stands at each position (the char CNN then runs once per
        distinct token, and a token cache can be keyed by its text).

        RETURNS (Tuple[List[str], numpy.ndarray, numpy.ndarray]): the distinct
            tokens in order of first appearance; their ids *Shape:*
            (n_unique, max_chars) int64; the row of each position *Shape:*
            (batch, longest (+ 2)) int64, -1 at padding.
        """
        extra = 2 if add_markers else 0
        seq = max((len(s) for s in sentences), default=0) + extra
        index = numpy.full((len(sentences), seq), -1, dtype=numpy.int64)
        unique: Dict[str, int] = {}
        for i, sentence in enumerate(sentences):
            tokens = [BOS_TOKEN, *sentence, EOS_TOKEN] if add_markers else sentence
            index[i, : len(tokens)] = [unique.setdefault(token, len(unique)) for token in tokens]
        words = list(unique)
        return words, self.encode(words), index


def batch_to_ids(
    sentences: Sequence[Sequence[str]], max_chars: int = 50, add_markers: bool = True
) -> torch.Tensor:
    """Character ids of a batch of tokenized sentences, padded with 0
    (`CharEncoder.encode_batch` without a cache, as a tensor).

    RETURNS (torch.Tensor[int64]): *Shape:* (batch, max_len (+2), max_chars)
    """
    encoder = CharEncoder(max_chars, cache_size=0)
    return torch.from_numpy(encoder.encode_batch(sentences, add_markers))
