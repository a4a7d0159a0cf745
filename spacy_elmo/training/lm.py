"""The bidirectional LM trained by `pretrain`: our `BiLM` (char CNN + biLSTM
with projection and clipping) plus the softmax shared by both directions.

The two directions read different streams during training (the forward stream
and the per-sentence reversed stream, see data.py), so the biLSTM's layer loop
(`BiLstm.run_layers`, the one `BiLstm.forward` uses) gets (2, batch, unroll,
dim) inputs directly, every row full length, with the state resets as a plan.
"""
import math
from typing import List, Optional, Tuple, cast

import torch
from torch import nn
from torch.nn import functional as F

from ..bilm.config import BiLMConfig
from ..bilm.lstm import BiLstm, LstmState, StepPlan
from ..bilm.model import BiLM
from .data import Batch
from .softmax import LogUniformSampler, SharedSoftmax


class Recurrence(nn.Module):
    """The biLSTM over full-length windows with the resets as a dense keep
    mask at every step (a static StepPlan): no host sync, so its forward and
    backward can be captured as CUDA graphs (step.py).

    Call with inputs *Shape:* (2, batch, unroll, projection_dim), h0, c0 and
    keep *Shape:* (unroll, 1, batch, 1); returns the top layer's outputs and
    the final (h, c), detached (the state is carried, not backpropagated).
    """

    def __init__(self, lstm: BiLstm):
        super().__init__()
        self.lstm = lstm

    def forward(
        self, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, keep: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs, (h, c) = self.lstm.run_layers(inputs, h0, c0, StepPlan(keep=keep))
        return outputs[-1], h.detach(), c.detach()


def keep_mask(batch: Batch, like: torch.Tensor) -> torch.Tensor:
    """*Shape:* (unroll, 1, batch, 1), 0.0 where the state is reset before a
    step (all 1.0 without resets), in `like`'s dtype and device."""
    _, rows, steps = batch.index.shape
    if batch.resets is None:
        return like.new_ones(steps, 1, rows, 1)
    return (~batch.resets).t().to(like.dtype)[:, None, :, None]


class BiLanguageModel(nn.Module):
    """biLM + shared softmax.

    config (BiLMConfig): the biLM shape.
    vocab_size (int): rows of the softmax.
    dropout (float): between LSTM layers and on the top layer before the softmax.
    """

    def __init__(self, config: BiLMConfig, vocab_size: int, dropout: float = 0.0):
        super().__init__()
        self.config = config
        self.dropout = dropout
        self.bilm = BiLM(config, dropout=dropout)
        self.softmax = SharedSoftmax(vocab_size, config.projection_dim)

    def init_like_bilm_tf(self, generator: Optional[torch.Generator] = None) -> None:
        """bilm-tf's initializers (training/bilm/model.py): char embedding
        U(-1, 1); relu convolutions N(0, 1/(width * char_dim)); highway
        N(0, 1/n) with carry bias -2; projection N(0, 1/n); LSTM Glorot-uniform."""
        cnn = self.bilm.char_cnn
        with torch.no_grad():
            cnn.char_embed.weight.uniform_(-1.0, 1.0, generator=generator)
            cnn.char_embed.weight[0].zero_()
            convs = cast(List[nn.Conv1d], list(cnn.convs))
            for conv, (width, _) in zip(convs, self.config.filters):
                if self.config.activation == "relu":
                    std = math.sqrt(1.0 / (width * self.config.char_dim))
                    conv.weight.normal_(0.0, std, generator=generator)
                else:
                    conv.weight.uniform_(-0.05, 0.05, generator=generator)
                cast(torch.Tensor, conv.bias).zero_()
            n = self.config.n_filters
            highway = cast(List[nn.Linear], list(cnn.highway.transform)), cast(List[nn.Linear], list(cnn.highway.carry))
            for transform, carry in zip(*highway):
                transform.weight.normal_(0.0, math.sqrt(1.0 / n), generator=generator)
                carry.weight.normal_(0.0, math.sqrt(1.0 / n), generator=generator)
                transform.bias.zero_()
                carry.bias.fill_(-2.0)
            cnn.proj.weight.normal_(0.0, math.sqrt(1.0 / n), generator=generator)
            cnn.proj.bias.zero_()
            for layer in self.bilm.lstm.layers:
                fan_in = layer.weight_ih.shape[1] + layer.weight_hh.shape[1]
                limit = math.sqrt(6.0 / (fan_in + 4 * layer.lstm_dim))
                layer.weight_ih.uniform_(-limit, limit, generator=generator)
                layer.weight_hh.uniform_(-limit, limit, generator=generator)
                limit = math.sqrt(6.0 / (layer.lstm_dim + layer.projection_dim))
                layer.weight_proj.uniform_(-limit, limit, generator=generator)
                layer.bias.zero_()
            self.softmax.weight.normal_(0.0, 1.0 / math.sqrt(self.config.projection_dim), generator=generator)
            self.softmax.bias.zero_()

    def zero_state(self, batch: int) -> LstmState:
        return self.bilm.lstm.zero_state(batch, self.softmax.weight)

    def hidden(
        self, batch: Batch, state: LstmState, recurrence: Optional["Recurrence"] = None
    ) -> Tuple[torch.Tensor, LstmState]:
        """Top-layer outputs of both directions, through the biLM's own layer
        loop (`BiLstm.run_layers`) with the windows' state resets.

        recurrence (Optional[Recurrence]): runs the layers instead (the same
            computation with the resets as a dense mask; on CUDA a replayed
            graph, see step.py); None: `run_layers` here, resets only where
            they occur.
        RETURNS: *Shape:* (2, batch, unroll, projection_dim) (0 forward,
            1 backward, each in its own stream's reading order) and the final
            state (h, c) to carry to the next window.
        """
        tokens = self.bilm.char_cnn(batch.chars)  # (n_unique, p)
        inputs = tokens[batch.index]  # (2, B, T, p); every row is full length
        if recurrence is None:
            plan = StepPlan.full_length(batch.resets, reset_steps=batch.reset_steps)
            outputs, final = self.bilm.lstm.run_layers(inputs, state[0], state[1], plan)
            out = outputs[-1]
        else:
            out, h, c = recurrence(inputs, state[0], state[1], keep_mask(batch, inputs))
            final = (h, c)
        if self.training and self.dropout > 0:
            out = F.dropout(out, self.dropout, True)
        return out, final

    def forward(
        self,
        batch: Batch,
        state: LstmState,
        sampler: Optional[LogUniformSampler] = None,
        recurrence: Optional["Recurrence"] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, LstmState]:
        """Loss of one window.

        sampler (Optional[LogUniformSampler]): sampled softmax, None for full.
        recurrence (Optional[Recurrence]): see `hidden`.
        RETURNS: the loss to minimise (mean over targets of forward and
            backward, averaged: bilm-tf's 0.5 * (loss_fw + loss_bw)), the
            summed NLL per direction *Shape:* (2,), the target counts
            *Shape:* (2,), and the final state.
        """
        top, final = self.hidden(batch, state, recurrence)
        p = top.shape[-1]
        sums = []
        counts = []
        for direction in (0, 1):
            targets = batch.targets[direction].reshape(-1)
            sums.append(self.softmax.nll(top[direction].reshape(-1, p), targets, sampler))
            counts.append((targets >= 0).sum())
        nll = torch.stack(sums)
        n = torch.stack(counts).to(nll.dtype)
        loss = 0.5 * (nll / n.clamp(min=1)).sum()
        return loss, nll.detach(), n, final
