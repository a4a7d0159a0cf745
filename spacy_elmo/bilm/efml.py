"""The ELMoForManyLangs input encoder (Che et al. 2018, HIT-SCIR/ELMoForManyLangs:
"EFML"): the same biLM as bilm-tf's, fed by vocabularies instead of bytes.

EFML's char CNN, highway layers, projection and biLSTM are the bilm-tf ones
in another orientation, so they live in the usual modules (CharCNN, BiLstm),
filled by an exact conversion (io/efml.py). What differs is the input side
(EFML_FORMAT.md sections 5-6):

- characters are Unicode code points looked up in `char.dic` (unknown ->
  `<oov>`), a learned table of V_c rows, not 262 byte rows;
- a token's row opens with the `<eow>` id and closes with `<bow>` (EFML swaps
  the names), is padded with `<pad>`'s id (a trained-as-is, non-zero row),
  and the sentence markers are the tokens `<bos>` / `<eos>`;
- a word table (`word.dic`, unknown -> `<oov>`) joins the char features
  before the projection: tok = W_c h + W_w E_w[word] + b.

Ids are shifted by +1 as the byte encoder's are, so 0 still means "no token"
(batch padding) and EFML's char id 0 (a real character) is row 1.
"""
import warnings
from typing import Dict, Optional

import numpy
import torch
from torch import nn

from .char_cnn import CharCNN
from .chars import CharEncoder
from .config import BiLMConfig
from .model import BiLM

BOS = "<bos>"
EOS = "<eos>"
CHAR_SPECIALS = ("<bos>", "<eos>", "<oov>", "<pad>", "<bow>", "<eow>")
WORD_SPECIALS = ("<oov>", "<bos>", "<eos>", "<pad>")


class EfmlVocab:
    """EFML's two vocabularies and how a token becomes ids.

    chars (Dict[str, int]): char.dic (empty for a word-only model).
    words (Dict[str, int]): word.dic (empty for a char-only model).
    n_chars, n_words (int): rows of the char / word tables (0: no table).
    max_chars (int): `max_characters_per_token` M: tokens are cut to M - 2
        code points before both lookups.
    """

    def __init__(
        self, chars: Dict[str, int], words: Dict[str, int], n_chars: int, n_words: int, max_chars: int
    ):
        self.chars, self.words = chars, words
        self.n_chars, self.n_words, self.max_chars = n_chars, n_words, max_chars
        if n_chars:
            # EFML's create_one_batch: `bow_id, eow_id = char2id['<eow>'], char2id['<bow>']`
            self._open, self._close = chars["<eow>"], chars["<bow>"]
            self._pad, self._char_oov = chars["<pad>"], chars["<oov>"]
        if n_words:
            self._word_oov = words["<oov>"]

    @property
    def width(self) -> int:
        """Ids per token: M char ids (if chars), then one word id (if words)."""
        return (self.max_chars if self.n_chars else 0) + (1 if self.n_words else 0)

    def token_ids(self, token: str) -> numpy.ndarray:
        """The ids of one token, each shifted by +1.

        RETURNS (numpy.ndarray[int64]): *Shape:* (width,)
        """
        m = self.max_chars
        cut = token if token in (BOS, EOS) else token[: m - 2]  # code points, not bytes
        out = numpy.empty((self.width,), dtype=numpy.int64)
        if self.n_chars:
            row = out[:m]
            row[:] = self._pad
            row[0] = self._open
            if cut in (BOS, EOS):
                row[1], row[2] = self.chars[cut], self._close
            else:
                get, oov = self.chars.get, self._char_oov
                row[1 : len(cut) + 1] = [get(c, oov) for c in cut]
                row[len(cut) + 1] = self._close
        if self.n_words:
            out[-1] = self.words.get(cut, self._word_oov)
        return out + 1

    def encoder(self) -> CharEncoder:
        """The biLM's token encoder with these vocabularies plugged in."""
        return CharEncoder(self.max_chars, token_ids=self.token_ids, width=self.width, markers=(BOS, EOS))


def _quiet(build):
    """Build a module whose char part may be empty (word-only models: no
    filters, a zero-width table), without torch's zero-element init warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return build()


class EfmlTokenEmbedder(CharCNN):
    """EFML's ConvTokenEmbedder as the project's CharCNN plus a word term:
    tok = proj(highway(char features)) + word_proj(E_w[word]).

    The char CNN (convs, highway, proj) is CharCNN's, over a char table of
    n_chars + 1 rows (row 0: batch padding); `word_proj` holds the
    projection's word columns (EFML's `projection.weight[:, :word_dim]`).

    config (BiLMConfig): char_dim 0 and no filters for a word-only model.
    vocab (EfmlVocab): table sizes and M.
    word_dim (int): width of the word table (0: char-only model).
    """

    def __init__(self, config: BiLMConfig, vocab: EfmlVocab, word_dim: int):
        _quiet(lambda: super(EfmlTokenEmbedder, self).__init__(config))
        self.max_chars = config.max_chars
        self.word_dim = word_dim
        # None in a word-only model (CharCNN's char CNN is then never run).
        self.char_embed: Optional[nn.Embedding] = (
            nn.Embedding(vocab.n_chars + 1, config.char_dim, padding_idx=0) if vocab.n_chars else None  # type: ignore[assignment]
        )
        self.word_embed: Optional[nn.Embedding] = (
            nn.Embedding(vocab.n_words + 1, word_dim, padding_idx=0) if word_dim else None
        )
        self.word_proj: Optional[nn.Linear] = (
            nn.Linear(word_dim, config.projection_dim, bias=False) if word_dim else None
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (torch.Tensor[int64]): *Shape:* (n_tokens, width), `EfmlVocab.token_ids` rows.
        RETURNS (torch.Tensor): *Shape:* (n_tokens, projection_dim)
        """
        if self.char_embed is not None:
            tokens = super().forward(ids[:, : self.max_chars])  # (n, p), the bias included
        else:  # word only: the projection of nothing but the word is its bias
            tokens = self.proj(self.proj.weight.new_zeros(ids.shape[0], 0)).to(self.proj.weight.dtype)
        if self.word_embed is not None and self.word_proj is not None:
            # (n,) -> (n, word_dim) -> (n, p)
            tokens = tokens + self.word_proj(self.word_embed(ids[:, -1]))
        return tokens


class EfmlBiLM(BiLM):
    """The BiLM with EFML's input encoder: the char CNN, highway, projection,
    biLSTM, state modes, token cache and precisions are BiLM's; the token ids
    come from `vocab` and the token vectors from an EfmlTokenEmbedder.

    config (BiLMConfig): the architecture (skip connections always on).
    vocab (EfmlVocab): char.dic / word.dic.
    word_dim (int): width of the word table (0: none).
    """

    char_cnn: EfmlTokenEmbedder

    def __init__(self, config: BiLMConfig, vocab: EfmlVocab, word_dim: int, dropout: float = 0.0):
        _quiet(lambda: super(EfmlBiLM, self).__init__(config, dropout=dropout))
        self.vocab = vocab
        self.word_dim = word_dim
        self.char_cnn = EfmlTokenEmbedder(config, vocab, word_dim)
        self.chars = vocab.encoder()
        self.efml_architecture: Dict[str, object] = {}  # the architecture file, saved with the model
