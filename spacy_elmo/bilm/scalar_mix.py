"""ScalarMix: the task-specific weighting of biLM layers (Peters et al. 2018,
eq. 1): ELMo = gamma * sum_k softmax(w)_k * h_k."""
from typing import List, Optional, Sequence

import torch
from torch import nn


class ScalarMix(nn.Module):
    """Mix n same-shaped layers with softmax-normalised weights and a scale.

    n_layers (int): how many layers are mixed.
    initial_weights (Optional[Sequence[float]]): unnormalised weights (zeros:
        an even average).
    gamma (float): initial scale.
    layer_norm (bool): normalise each layer over its unmasked positions first.
    trainable (bool): whether weights and gamma are learned.
    """

    def __init__(
        self,
        n_layers: int,
        *,
        initial_weights: Optional[Sequence[float]] = None,
        gamma: float = 1.0,
        layer_norm: bool = False,
        trainable: bool = True,
    ):
        super().__init__()
        weights = torch.zeros(n_layers) if initial_weights is None else torch.tensor(
            [float(w) for w in initial_weights]
        )
        if weights.shape != (n_layers,):
            raise ValueError(f"ScalarMix: got {weights.numel()} initial weights for {n_layers} layers")
        self.weights = nn.Parameter(weights, requires_grad=trainable)
        self.gamma = nn.Parameter(torch.tensor([float(gamma)]), requires_grad=trainable)
        self.layer_norm = layer_norm

    def normalized_weights(self) -> torch.Tensor:
        return torch.softmax(self.weights, dim=0)

    def forward(self, layers: List[torch.Tensor], mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """layers (List[torch.Tensor]): each *Shape:* (..., dim)
        mask (Optional[torch.Tensor]): *Shape:* layers' shape without dim; 1 at
            real positions. Needed with layer_norm.
        RETURNS (torch.Tensor): *Shape:* (..., dim)
        """
        weights = self.normalized_weights()
        if self.layer_norm:
            if mask is None:
                mask = torch.ones(layers[0].shape[:-1], dtype=layers[0].dtype, device=layers[0].device)
            layers = [_masked_layer_norm(layer, mask) for layer in layers]
        mixed = sum(w * layer for w, layer in zip(weights, layers))
        return self.gamma * mixed


def _masked_layer_norm(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalise x by the mean and variance of all its unmasked values (as
    AllenNLP's ScalarMix does), keeping padding at zero."""
    m = mask.to(x.dtype).unsqueeze(-1)
    count = (m.sum() * x.shape[-1]).clamp(min=1.0)
    mean = (x * m).sum() / count
    var = (((x - mean) * m) ** 2).sum() / count
    return (x - mean) / torch.sqrt(var + eps) * m
