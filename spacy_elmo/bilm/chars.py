"""Token -> character ids exactly as bilm-tf defines them.

Each token is its UTF-8 bytes (ids 0-255) truncated to max_chars - 2 bytes,
wrapped in begin-of-word (258) and end-of-word (259) and padded with 260.
Sentence markers are the "words" made of the single ids 256 (<S>) and 257
(</S>). All ids are shifted by +1 so that 0 means "no token" (batch padding).
"""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

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
    token_ids (Optional[Callable[[str], numpy.ndarray]]): the ids of one token
        *Shape:* (width,), column 0 > 0; None: bilm-tf's (`token_char_ids`).
        Another input encoder (ELMoForManyLangs' vocabularies, bilm/efml.py)
        plugs in here.
    width (Optional[int]): ids per token given by `token_ids` (default max_chars).
    markers (Tuple[str, str]): the sentence-start and -end tokens it adds.
    """

    def __init__(
        self,
        max_chars: int = 50,
        cache_size: int = 200_000,
        *,
        token_ids: Optional[Callable[[str], numpy.ndarray]] = None,
        width: Optional[int] = None,
        markers: Tuple[str, str] = (BOS_TOKEN, EOS_TOKEN),
    ):
        self.max_chars = max_chars
        self.cache_size = cache_size
        self.width = max_chars if width is None else width
        self.markers = markers
        self._token_ids = token_ids
        self._cache: Dict[str, numpy.ndarray] = {}

    def _ids(self, token: str) -> numpy.ndarray:
        if self._token_ids is None:
            return token_char_ids(token, self.max_chars)
        return self._token_ids(token)

    def encode(self, tokens: Iterable[str]) -> numpy.ndarray:
        """*Shape:* (n_tokens, width) int64."""
        rows: List[numpy.ndarray] = []
        cache = self._cache
        for token in tokens:
            ids = cache.get(token)
            if ids is None:
                ids = self._ids(token)
                if len(cache) < self.cache_size:
                    cache[token] = ids
            rows.append(ids)
        if not rows:
            return numpy.zeros((0, self.width), dtype=numpy.int64)
        return numpy.stack(rows)

    def encode_batch(self, sentences: Sequence[Sequence[str]], add_markers: bool = True) -> numpy.ndarray:
        """Character ids of tokenized sentences, padded with 0.

        sentences (Sequence[Sequence[str]]): tokens per sentence.
        add_markers (bool): wrap each sentence in the markers (bilm-tf: <S> ... </S>).
        RETURNS (numpy.ndarray[int64]): *Shape:* (batch, longest (+ 2), width)
        """
        extra = 2 if add_markers else 0
        seq = max((len(s) for s in sentences), default=0) + extra
        out = numpy.zeros((len(sentences), seq, self.width), dtype=numpy.int64)
        bos, eos = self.markers
        for i, sentence in enumerate(sentences):
            tokens = [bos, *sentence, eos] if add_markers else list(sentence)
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
            (n_unique, width) int64; the row of each position *Shape:*
            (batch, longest (+ 2)) int64, -1 at padding.
        """
        extra = 2 if add_markers else 0
        seq = max((len(s) for s in sentences), default=0) + extra
        index = numpy.full((len(sentences), seq), -1, dtype=numpy.int64)
        unique: Dict[str, int] = {}
        bos, eos = self.markers
        for i, sentence in enumerate(sentences):
            tokens = [bos, *sentence, eos] if add_markers else sentence
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
