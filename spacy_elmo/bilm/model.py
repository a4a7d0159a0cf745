"""The ELMo biLM: char-CNN token encoder + stacked biLSTM, with the three ways
of choosing each sentence's initial LSTM state.

State modes (the most asked ELMo question: why does the same sentence get
different vectors on each call?):

- "carry": bilm-tf/AllenNLP behaviour. Each batch row's final LSTM state starts
  the same row of the next batch, so outputs depend on what ran before. Needed
  to reproduce published outputs.
- "reset": every sentence starts from the zero state.
- "warm" (default): every sentence starts from one fixed state, estimated once
  by running the model in carry mode over built-in warm-up text and saved with
  the model. Deterministic like "reset", closer to "carry" in distribution.

This module is the one place that says what each mode means:
`check_state_mode` validates a mode, `keeps_row_order` says whether batches
must keep their rows in input order (carry: row i continues row i).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy
import torch
from torch import nn

from .char_cnn import CharCNN
from ..errors import ElmoError, Errors
from .chars import CharEncoder
from .config import BiLMConfig
from .cuda_graphs import LstmGraphs
from .lstm import BiLstm, LstmState
from .precision import precision_scope
from .token_cache import Signature, TokenCache

STATE_MODES = ("warm", "reset", "carry")
# Distinct tokens kept by the token cache of a new BiLM (`set_token_cache`).
DEFAULT_TOKEN_CACHE_SIZE = 50_000
# Rows per char-CNN call, fixed per device type so that a token's vector never
# depends on the other tokens of its batch (see token_cache.py).
CHUNK_ROWS = {"cpu": 64, "cuda": 1024}


def check_state_mode(mode: str, key: str = "state_mode") -> str:
    """The mode if it is one of STATE_MODES, else an ElmoError naming `key`
    (the config key or flag the value came from)."""
    if mode not in STATE_MODES:
        raise ElmoError(Errors.E030.format(key=key, mode=mode))
    return mode


def keeps_row_order(mode: str) -> bool:
    """Whether batches must keep their rows in input order: in "carry" mode
    row i of a batch continues row i of the previous one; the other modes
    give every sentence the same start, so rows may be sorted by length."""
    return check_state_mode(mode) == "carry"


class BiLM(nn.Module):
    """Character-CNN biLM (Peters et al. 2018).

    config (BiLMConfig): the architecture.
    dropout (float): dropout between LSTM layers in training mode.
    """

    warm_h: torch.Tensor  # buffers: the warm state
    warm_c: torch.Tensor

    def __init__(self, config: BiLMConfig, dropout: float = 0.0):
        super().__init__()
        self.config = config
        self.char_cnn = CharCNN(config)
        self.lstm = BiLstm(config, dropout=dropout)
        n, p, d = config.n_layers, config.projection_dim, config.lstm_dim
        self.register_buffer("warm_h", torch.zeros(n, 2, p))
        self.register_buffer("warm_c", torch.zeros(n, 2, d))
        self._carry: Optional[LstmState] = None
        self.chars = CharEncoder(config.max_chars)
        self.token_cache = TokenCache(DEFAULT_TOKEN_CACHE_SIZE)
        self.cuda_graphs: Optional[LstmGraphs] = LstmGraphs(self.lstm)

    def char_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """Character ids of tokenized sentences with the <S> / </S> markers,
        from this biLM's own encoder (which caches each token's ids).

        RETURNS (torch.Tensor[int64]): *Shape:* (batch, longest + 2, max_chars), on the CPU.
        """
        return torch.from_numpy(self.chars.encode_batch(sentences))

    @property
    def device(self) -> torch.device:
        return self.warm_h.device

    def token_vectors(self, char_ids: torch.Tensor) -> torch.Tensor:
        """The char CNN over tokens in fixed-size chunks of CHUNK_ROWS rows
        (the last one padded), so each token's vector is the same whatever
        else is in the batch (BLAS and cuDNN choose kernels by row count).

        char_ids (torch.Tensor[int64]): *Shape:* (n_tokens, max_chars), on the device.
        RETURNS (torch.Tensor): *Shape:* (n_tokens, projection_dim), the biLM's dtype.
        """
        n, n_chars = char_ids.shape
        chunk = CHUNK_ROWS.get(char_ids.device.type, CHUNK_ROWS["cpu"])
        if n % chunk:
            char_ids = torch.cat([char_ids, char_ids.new_zeros(chunk - n % chunk, n_chars)])
        parts = [self.char_cnn(char_ids[start : start + chunk]) for start in range(0, n, chunk)]
        if not parts:
            return self.warm_h.new_zeros(0, self.config.projection_dim)
        return torch.cat(parts)[:n].to(self.warm_h.dtype)

    def token_embeddings(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Context-free token vectors, computing the char CNN once per distinct
        token in the batch and never on batch padding.

        char_ids (torch.Tensor[int64]): *Shape:* (batch, seq, max_chars), 0 = padding.
        RETURNS (torch.Tensor): *Shape:* (batch, seq, projection_dim), 0 at padding.
        """
        batch, seq, n_chars = char_ids.shape
        flat = char_ids.reshape(-1, n_chars)
        real = flat[:, 0] > 0
        out = self.warm_h.new_zeros(batch * seq, self.config.projection_dim)
        if bool(real.any()):
            unique, inverse = torch.unique(flat[real], dim=0, return_inverse=True)
            out[real] = self.token_vectors(unique).index_select(0, inverse)
        return out.view(batch, seq, -1)

    def set_token_cache(self, size: int, key: str = "token_cache_size") -> None:
        """Keep the context-free vectors of up to `size` distinct tokens
        between `embed_sentences` calls (0: no cache). Outputs are the same
        bit for bit with or without it (see token_cache.py).

        key (str): the setting the value came from, for the error message.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ElmoError(Errors.E060.format(key=key, value=size))
        if size != self.token_cache.size:
            self.token_cache = TokenCache(size)

    def clear_token_cache(self) -> None:
        """Forget cached token vectors. Needed only after changing the weights
        outside torch (e.g. through numpy views); torch updates are detected."""
        self.token_cache.clear()

    def _cache_signature(self, precision: str) -> Signature:
        params = tuple((p.data_ptr(), p._version) for p in self.char_cnn.parameters())
        return (str(self.device), str(self.warm_h.dtype), precision) + params

    def cached_token_vectors(self, words: List[str], char_ids: numpy.ndarray, precision: str) -> torch.Tensor:
        """Vectors of distinct tokens, from the token cache where it has them.

        words (List[str]): distinct tokens; char_ids (numpy.ndarray[int64]):
            their ids *Shape:* (n_unique, max_chars).
        RETURNS (torch.Tensor): *Shape:* (n_unique, projection_dim), on the device.
        """
        cache, device = self.token_cache, self.device
        cache.check(self._cache_signature(precision))
        hit_pos, hit_rows, miss_pos = cache.lookup(words)
        if not hit_pos:
            vectors = self.token_vectors(torch.from_numpy(char_ids).to(device))
            cache.insert(words, vectors)
            return vectors
        out = self.warm_h.new_empty(len(words), self.config.projection_dim)
        out[torch.tensor(hit_pos, device=device)] = cache.gather(hit_rows, device).to(out.dtype)
        if miss_pos:
            vectors = self.token_vectors(torch.from_numpy(char_ids[miss_pos]).to(device))
            out[torch.tensor(miss_pos, device=device)] = vectors
            cache.insert([words[i] for i in miss_pos], vectors)
        return out

    def forward(
        self, char_ids: torch.Tensor, state: Optional[LstmState] = None
    ) -> Tuple[List[torch.Tensor], LstmState, torch.Tensor]:
        """Run the biLM over sentences that include the <S> and </S> markers.

        char_ids (torch.Tensor[int64]): *Shape:* (batch, seq, max_chars)
        state (Optional[LstmState]): initial state, None for zeros.
        RETURNS: the ELMo layers, each *Shape:* (batch, seq, 2 * projection_dim)
            (layer 0 = [x; x], then one per LSTM layer), the final state, and
            the lengths *Shape:* (batch,).
        """
        lengths = (char_ids[:, :, 0] > 0).sum(dim=1)
        return self.contextualize(self.token_embeddings(char_ids), lengths, state)

    def contextualize(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        state: Optional[LstmState] = None,
        precision: Optional[str] = None,
    ) -> Tuple[List[torch.Tensor], LstmState, torch.Tensor]:
        """`forward` from the context-free token vectors *Shape:* (batch, seq,
        projection_dim), zero at padding, and the lengths *Shape:* (batch,).

        precision (Optional[str]): the precision scope the caller runs in; at
            inference on CUDA it selects the replayed CUDA graph (cuda_graphs.py).
        """
        result = None
        graphs = self.cuda_graphs
        if graphs is not None and precision is not None and tokens.is_cuda and not (
            self.training or torch.is_grad_enabled()
        ):
            result = graphs.run(tokens, lengths, state, precision)
        lstm_layers, final = result if result is not None else self.lstm(tokens, lengths, state)
        return [torch.cat([tokens, tokens], dim=-1)] + lstm_layers, final, lengths

    def set_cuda_graphs(self, enabled: bool) -> None:
        """Replay captured CUDA graphs of the biLSTM at inference on CUDA (the
        default; same results as the eager loop within float rounding), or run
        the eager loop."""
        self.cuda_graphs = LstmGraphs(self.lstm) if enabled else None

    def initial_state(self, mode: str, batch: int) -> Optional[LstmState]:
        """The state a batch starts from in the given mode."""
        if mode == "reset":
            return None
        if mode == "warm":
            n = self.config.n_layers
            h = self.warm_h.unsqueeze(2).expand(n, 2, batch, -1).contiguous()
            c = self.warm_c.unsqueeze(2).expand(n, 2, batch, -1).contiguous()
            return h, c
        check_state_mode(mode)
        h0, c0 = self.lstm.zero_state(batch, self.warm_h)
        if self._carry is not None:
            rows = min(batch, self._carry[0].shape[2])
            h0[:, :, :rows] = self._carry[0][:, :, :rows]
            c0[:, :, :rows] = self._carry[1][:, :, :rows]
        return h0, c0

    def _remember(self, final: LstmState) -> None:
        """Carry mode: keep each row's final state for the same row next time.
        Rows beyond this batch keep what they had (bilm-tf keeps a state per row)."""
        h, c = (s.detach() for s in final)
        if self._carry is not None and self._carry[0].shape[2] > h.shape[2]:
            old_h, old_c = self._carry
            h = torch.cat([h, old_h[:, :, h.shape[2] :]], dim=2)
            c = torch.cat([c, old_c[:, :, c.shape[2] :]], dim=2)
        self._carry = (h, c)

    def reset_carry(self) -> None:
        """Forget carried state (carry mode starts again from zeros)."""
        self._carry = None

    def elmo_layers(
        self, char_ids: torch.Tensor, state: Optional[LstmState] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, LstmState]:
        """ELMo layers with the sentence markers removed (differentiable).

        char_ids (torch.Tensor[int64]): *Shape:* (batch, seq, max_chars), with markers.
        RETURNS: layers *Shape:* (batch, n_layers + 1, seq - 2, 2 * projection_dim),
            zero at padding; token counts *Shape:* (batch,); the final state.
        """
        layers, final, lengths = self(char_ids.to(self.device), state)
        return _strip_markers(layers, lengths) + (final,)

    @torch.inference_mode()
    def embed_sentences(
        self, sentences: Sequence[Sequence[str]], mode: str = "warm", precision: str = "fp32"
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """`embed` for tokenized sentences (markers are added). Token vectors
        come from the token cache where it has them (`set_token_cache`).

        sentences (Sequence[Sequence[str]]): tokens per sentence.
        RETURNS (Tuple[Tensor, Tensor]): as `embed`.
        """
        words, char_ids, index = self.chars.encode_unique(sentences)
        rows = torch.from_numpy(index).to(self.device)  # (batch, seq), -1 at padding
        lengths = (rows >= 0).sum(dim=1)

        def tokens() -> torch.Tensor:
            vectors = self.cached_token_vectors(words, char_ids, precision)
            table = torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])])  # row -1: zeros
            return table[rows]  # (batch, seq, projection_dim)

        return self._embed(tokens, lengths, mode, precision)

    @torch.inference_mode()
    def embed(
        self, char_ids: torch.Tensor, mode: str = "warm", precision: str = "fp32"
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """ELMo layers for sentences, inference only: no dropout, no autograd
        graph. In "carry" mode the final states are kept for the next call.

        char_ids (torch.Tensor[int64]): *Shape:* (batch, seq, max_chars), with markers.
        mode (str): "warm", "reset" or "carry".
        precision (str): "fp32" (exact, the default), "tf32", "bf16" or "fp16"
            (see bilm/precision.py).
        RETURNS (Tuple[Tensor, Tensor]): layers *Shape:* (batch, n_layers + 1,
            seq - 2, 2 * projection_dim), zero at padding, and token counts
            *Shape:* (batch,).
        """
        char_ids = char_ids.to(self.device)
        lengths = (char_ids[:, :, 0] > 0).sum(dim=1)
        return self._embed(lambda: self.token_embeddings(char_ids), lengths, mode, precision)

    def _embed(
        self, tokens: Callable[[], torch.Tensor], lengths: torch.Tensor, mode: str, precision: str
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """`embed` given a function that makes the token vectors (run inside
        the precision scope) and the lengths with markers *Shape:* (batch,)."""
        was_training = self.training
        self.eval()
        try:
            state = self.initial_state(mode, lengths.shape[0])
            with precision_scope(precision, self.device.type):
                per_layer, final, _ = self.contextualize(tokens(), lengths, state, precision)
                layers, n_tokens = _strip_markers(per_layer, lengths)
            layers = layers.float()
        finally:
            self.train(was_training)
        if mode == "carry":
            self._remember(final)
        return layers, n_tokens

    @torch.inference_mode()
    def estimate_warm_state(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 16
    ) -> None:
        """Set the "warm" initial state: run carry mode over `sentences` in
        batches of `batch_size` rows and average the final states over rows.

        sentences (Sequence[Sequence[str]]): tokenized warm-up text.
        """
        saved = self._carry
        self._carry = None
        try:
            for start in range(0, len(sentences), batch_size):
                chunk = sentences[start : start + batch_size]
                self.embed_sentences(chunk, mode="carry")
            if self._carry is None:
                return
            h, c = self._carry
            self.warm_h.copy_(h.mean(dim=2))
            self.warm_c.copy_(c.mean(dim=2))
        finally:
            self._carry = saved



def _strip_markers(layers: List[torch.Tensor], lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """ELMo layers without the <S> and </S> positions.

    layers (List[Tensor]): each *Shape:* (batch, seq, dim); lengths with markers *Shape:* (batch,).
    RETURNS: *Shape:* (batch, n_layers + 1, seq - 2, dim), zero at padding; token counts *Shape:* (batch,).
    """
    n_tokens = (lengths - 2).clamp(min=0)
    seq = max(layers[0].shape[1] - 2, 0)
    stacked = torch.stack(layers, dim=1)[:, :, 1 : 1 + seq]
    mask = torch.arange(seq, device=stacked.device).unsqueeze(0) < n_tokens.unsqueeze(1)
    return stacked * mask[:, None, :, None].to(stacked.dtype), n_tokens
