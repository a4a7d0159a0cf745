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
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from .char_cnn import CharCNN
from ..errors import ElmoError, Errors
from .chars import CharEncoder
from .config import BiLMConfig
from .lstm import BiLstm, LstmState
from .precision import precision_scope

STATE_MODES = ("warm", "reset", "carry")


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

    def char_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """Character ids of tokenized sentences with the <S> / </S> markers,
        from this biLM's own encoder (which caches each token's ids).

        RETURNS (torch.Tensor[int64]): *Shape:* (batch, longest + 2, max_chars), on the CPU.
        """
        return torch.from_numpy(self.chars.encode_batch(sentences))

    @property
    def device(self) -> torch.device:
        return self.warm_h.device

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
            out[real] = self.char_cnn(unique).index_select(0, inverse).to(out.dtype)
        return out.view(batch, seq, -1)

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
        tokens = self.token_embeddings(char_ids)
        lstm_layers, final = self.lstm(tokens, lengths, state)
        return [torch.cat([tokens, tokens], dim=-1)] + lstm_layers, final, lengths

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
        n_tokens = (lengths - 2).clamp(min=0)
        seq = max(char_ids.shape[1] - 2, 0)
        stacked = torch.stack(layers, dim=1)[:, :, 1 : 1 + seq]
        mask = torch.arange(seq, device=stacked.device).unsqueeze(0) < n_tokens.unsqueeze(1)
        return stacked * mask[:, None, :, None].to(stacked.dtype), n_tokens, final

    def embed_sentences(
        self, sentences: Sequence[Sequence[str]], mode: str = "warm", precision: str = "fp32"
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """`embed` for tokenized sentences (markers are added).

        sentences (Sequence[Sequence[str]]): tokens per sentence.
        RETURNS (Tuple[Tensor, Tensor]): as `embed`.
        """
        return self.embed(self.char_ids(sentences), mode=mode, precision=precision)

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
        was_training = self.training
        self.eval()
        try:
            state = self.initial_state(mode, char_ids.shape[0])
            with precision_scope(precision, self.device.type):
                layers, n_tokens, final = self.elmo_layers(char_ids, state)
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

