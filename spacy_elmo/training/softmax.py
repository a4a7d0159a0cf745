"""The softmax layer shared by the forward and backward LMs (Peters et al.
2018, sec. 3.1), with exact full softmax and sampled softmax (Jean et al. 2015)
over log-uniform candidates, as bilm-tf trains with
`tf.nn.sampled_softmax_loss` and `log_uniform_candidate_sampler(unique=True)`.
"""
import math
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .data import IGNORE


class LogUniformSampler:
    """Candidates drawn from P(k) = log((k + 2) / (k + 1)) / log(V + 1)
    (Zipfian: ids must be sorted by descending frequency, as the vocab is),
    without repetition: draws continue until `n_samples` distinct ids are found
    and the expected count of id k is 1 - (1 - P(k))^n_tries, TF's formula.

    vocab_size (int): V.
    n_samples (int): distinct candidates per step (shared by all rows).
    generator (torch.Generator): the seeded source of randomness.
    """

    def __init__(self, vocab_size: int, n_samples: int, generator: torch.Generator):
        self.vocab_size = vocab_size
        self.n_samples = min(n_samples, vocab_size)
        self.generator = generator
        self.log_range = math.log(vocab_size + 1)

    def log_prob(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.double()
        return (torch.log1p(1.0 / (ids + 1.0)) / self.log_range).log()

    def sample(self) -> Tuple[torch.Tensor, int]:
        """RETURNS (Tuple[Tensor, int]): distinct ids *Shape:* (n_samples,) in
        draw order, and the number of draws it took."""
        n, V = self.n_samples, self.vocab_size
        draws = torch.empty(0, dtype=torch.long)
        while True:
            u = torch.rand(max(n, 64), generator=self.generator, dtype=torch.float64)
            # inverse CDF of the log-uniform distribution
            new = (torch.exp(u * self.log_range).floor().long() - 1).clamp_(0, V - 1)
            draws = torch.cat([draws, new])
            unique, inverse = torch.unique(draws, return_inverse=True)
            if len(unique) >= n:
                break
        positions = torch.arange(len(draws))
        first = torch.full((len(unique),), len(draws), dtype=torch.long)
        first.scatter_reduce_(0, inverse, positions, reduce="amin")
        order = torch.argsort(first)[:n]
        n_tries = int(first[order[-1]]) + 1
        return unique[order], n_tries

    def log_expected_count(self, ids: torch.Tensor, n_tries: int) -> torch.Tensor:
        """log(1 - (1 - P(k))^n_tries), float64 for accuracy."""
        p = self.log_prob(ids).exp()
        return torch.log(-torch.expm1(n_tries * torch.log1p(-p)))


class SharedSoftmax(nn.Module):
    """Output layer W *Shape:* (V, dim), b *Shape:* (V,) shared by both
    directions; bilm-tf's `softmax/W`, `softmax/b`."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, dim))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(dim))  # bilm-tf's init

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    def full_nll(self, hidden: torch.Tensor, targets: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Exact negative log-likelihood summed over non-ignored targets.

        hidden (Tensor): *Shape:* (n, dim); targets (Tensor[int64]): *Shape:* (n,)
        RETURNS (Tensor): scalar sum.
        """
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, len(targets), chunk):
            logits = F.linear(hidden[start : start + chunk], self.weight, self.bias)
            total = total + F.cross_entropy(
                logits.float(), targets[start : start + chunk], ignore_index=IGNORE, reduction="sum"
            )
        return total

    def sampled_nll(
        self, hidden: torch.Tensor, targets: torch.Tensor, sampler: LogUniformSampler
    ) -> torch.Tensor:
        """Sampled-softmax negative log-likelihood summed over non-ignored
        targets: logits of the true class and of shared sampled candidates,
        each minus log(expected count); candidates equal to a row's true class
        are removed ("accidental hits"). An unbiased-in-the-limit estimate used
        for training only; evaluate with `full_nll`.

        Ignored rows are masked, not removed, and the expected counts of the
        true classes are computed on the device: no host sync (a training step
        can run ahead of the GPU).
        """
        ignored = targets == IGNORE
        safe = targets.masked_fill(ignored, 0)  # any valid row of W; its loss is ignored
        candidates, n_tries = sampler.sample()
        log_q_cand = sampler.log_expected_count(candidates, n_tries).to(hidden.device, torch.float32)
        candidates = candidates.to(targets.device)
        log_q_true = sampler.log_expected_count(safe, n_tries).to(torch.float32)
        true_logit = (hidden * self.weight[safe]).sum(-1) + self.bias[safe]  # (n,)
        cand_logits = F.linear(hidden, self.weight[candidates], self.bias[candidates])  # (n, S)
        cand_logits = cand_logits.float() - log_q_cand
        hits = safe.unsqueeze(1) == candidates.unsqueeze(0)
        cand_logits = cand_logits.masked_fill(hits, float("-inf"))
        logits = torch.cat([(true_logit.float() - log_q_true).unsqueeze(1), cand_logits], dim=1)
        labels = ignored.long() * IGNORE  # 0 (the true class's column), or IGNORE
        return F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum")

    def nll(
        self, hidden: torch.Tensor, targets: torch.Tensor, sampler: Optional[LogUniformSampler] = None
    ) -> torch.Tensor:
        if sampler is None:
            return self.full_nll(hidden, targets)
        return self.sampled_nll(hidden, targets, sampler)
