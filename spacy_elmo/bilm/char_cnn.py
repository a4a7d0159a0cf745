"""The character-CNN token encoder of ELMo (Peters et al. 2018, sec. 3.1;
Kim et al. 2016 "Character-Aware Neural Language Models")."""
from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from .config import BiLMConfig


class Highway(nn.Module):
    """Highway layers as bilm-tf computes them (Srivastava et al. 2015):
    t = sigmoid(W_carry x + b_carry); y = t * relu(W_transform x + b_transform)
    + (1 - t) * x.

    *Shape:* (n, dim) -> (n, dim)
    """

    def __init__(self, dim: int, n_layers: int):
        super().__init__()
        self.transform = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        self.carry = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for transform, carry in zip(self.transform, self.carry):
            gate = torch.sigmoid(carry(x))
            x = gate * F.relu(transform(x)) + (1.0 - gate) * x
        return x


class CharCNN(nn.Module):
    """Token vectors from character ids: embedding -> convolutions of several
    widths -> max over positions -> activation -> highway -> projection.

    Row 0 of the character table is the batch-padding row (zeros); rows 1..261
    are bilm-tf's `char_embed`.
    """

    def __init__(self, config: BiLMConfig):
        super().__init__()
        self.config = config
        self.char_embed = nn.Embedding(262, config.char_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.char_dim, n_filters, kernel_size=width)
            for width, n_filters in config.filters
        )
        self.highway = Highway(config.n_filters, config.n_highway)
        self.proj = nn.Linear(config.n_filters, config.projection_dim)
        self._act = torch.relu if config.activation == "relu" else torch.tanh

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """char_ids (torch.Tensor[int64]): *Shape:* (n_tokens, max_chars)
        RETURNS (torch.Tensor): *Shape:* (n_tokens, projection_dim)
        """
        # (n, max_chars, char_dim) -> (n, char_dim, max_chars) for Conv1d
        chars = self.char_embed(char_ids).transpose(1, 2)
        pooled: List[torch.Tensor] = []
        for conv in self.convs:
            # (n, n_filters_i, max_chars - width + 1) -> max over positions -> (n, n_filters_i)
            pooled.append(self._act(conv(chars).amax(dim=-1)))
        tokens = torch.cat(pooled, dim=-1)  # (n, n_filters)
        tokens = self.highway(tokens)
        return self.proj(tokens)  # (n, projection_dim)
