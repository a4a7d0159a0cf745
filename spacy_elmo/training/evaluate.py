"""Exact (full-softmax) perplexity of both directions over text files.

Each non-empty line is a sentence `<S> w1 .. wn </S>`: the forward LM predicts
w1 .. wn and `</S>`, the backward LM wn .. w1 and `<S>`, so each line counts
n + 1 tokens per direction; the markers given as context are never predicted
and the `</S> -> <S>` step between lines is not counted. Words outside the
vocabulary are predicted as `<UNK>` (WikiText-2's own `<unk>` is an ordinary
word of its vocabulary). The LSTM state carries across windows and lines of a
row, as in training.
"""
import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch

from ..bilm.precision import fp32_flags
from .data import WindowStream
from .lm import BiLanguageModel
from .vocab import Vocab


@torch.no_grad()
def evaluate_lm(
    model: BiLanguageModel,
    vocab: Vocab,
    paths: Sequence[Path],
    batch_size: int = 16,
    unroll: int = 20,
    max_windows: int = 0,
    max_line_chars: int = 20_000,
    device: Optional[Union[str, torch.device]] = None,
) -> Dict[str, float]:
    """Perplexities with the exact softmax.

    max_windows (int): stop after this many batches (0 = the whole text).
    RETURNS (Dict[str, float]): forward, backward, mean (exp of the mean NLL
        over both directions = geometric mean of the two), tokens (per direction).
    """
    device = torch.device(device) if device is not None else model.softmax.weight.device
    was_training = model.training
    model.eval()
    stream = WindowStream(
        paths, vocab, batch_size, unroll, model.config.max_chars, max_line_chars, repeat=False, flush=True
    )
    state = model.zero_state(batch_size)
    nll = torch.zeros(2, dtype=torch.float64)
    count = torch.zeros(2, dtype=torch.float64)
    try:
        for i, batch in enumerate(stream):
            if max_windows and i >= max_windows:
                break
            with fp32_flags("fp32"):  # exact: not cuDNN's default TF32
                _, sums, n, state = model(batch.to(device), state)
            nll += sums.double().cpu()
            count += n.double().cpu()
    finally:
        model.train(was_training)
    n_tokens = int(count[0])
    if n_tokens == 0:
        return {"forward": float("nan"), "backward": float("nan"), "mean": float("nan"), "tokens": 0}
    return {
        "forward": math.exp(float(nll[0] / count[0])),
        "backward": math.exp(float(nll[1] / count[1])),
        "mean": math.exp(float(nll.sum() / count.sum())),
        "tokens": n_tokens,
    }
