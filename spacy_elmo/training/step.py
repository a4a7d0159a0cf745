"""One pretraining step (forward, backward, gradient clipping, optimizer), the
same for `pretrain` and `benchmarks/bench_pretrain.py`.

On one CUDA device the biLSTM part, whose per-timestep kernels make the step
launch-bound, runs as CUDA graphs: `torch.cuda.make_graphed_callables`
captures the `Recurrence` module's forward and backward once (training windows
all have the same shape) and replays them every step (PyTorch's "partial-network
capture"). The char CNN (its number of distinct tokens varies per window), the
sampled softmax (its candidates are drawn on the host, as TF's unique sampler
does) and the optimizer run eagerly around the graphs: a few dozen launches
instead of thousands. Dropout inside the graphs draws from the default CUDA
generator, which graphs advance on every replay.

If capture fails, the step warns once (W061) and stays eager. Under
DistributedDataParallel the step is always eager (DDP's gradient hooks would
have to be captured too).
"""
import contextlib
import warnings
from typing import Optional, Tuple, cast

import torch

from ..bilm.lstm import LstmState
from ..bilm.precision import autocast, fp32_flags
from ..errors import Warnings
from .data import Batch
from .lm import BiLanguageModel, Recurrence, keep_mask
from .softmax import LogUniformSampler

StepResult = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, LstmState]


class TrainStep:
    """Callable (batch, state) -> (loss, NLL sums, target counts, new state),
    updating the model.

    model (BiLanguageModel): the model (parameters on `device`).
    optimizer (torch.optim.Optimizer): over the model's parameters.
    precision (str): "fp32", "tf32", "bf16" or "fp16" (bilm/precision.py).
    grad_clip (float): max global gradient norm; 0 = no clipping.
    sampler (Optional[LogUniformSampler]): sampled softmax, None for full.
    net (Optional[torch.nn.Module]): what runs the forward pass (a DDP wrapper
        of `model`), default the model itself.
    cuda_graphs (bool): capture the biLSTM on CUDA (single process only).
    """

    def __init__(
        self,
        model: BiLanguageModel,
        optimizer: torch.optim.Optimizer,
        precision: str,
        grad_clip: float,
        sampler: Optional[LogUniformSampler] = None,
        net: Optional[torch.nn.Module] = None,
        cuda_graphs: bool = True,
    ):
        self.model = model
        self.net = net if net is not None else model
        self.optimizer = optimizer
        self.precision = precision
        self.grad_clip = grad_clip
        self.sampler = sampler
        self.device = next(model.parameters()).device
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.graphs_wanted = cuda_graphs and self.device.type == "cuda" and self.net is model
        self.recurrence: Optional[Recurrence] = None  # the graphed callable, once captured
        self.disabled: Optional[str] = None  # why graphs are off, once they failed

    def __call__(self, batch: Batch, state: LstmState) -> StepResult:
        batch = batch.to(self.device)
        with fp32_flags(self.precision):
            if self.graphs_wanted and self.recurrence is None and self.disabled is None:
                self._capture(batch, state)
            with autocast(self.precision, self.device.type):
                loss, sums, n, state = self.net(batch, state, self.sampler, self.recurrence)
            state = (state[0].detach(), state[1].detach())
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach(), sums, n, state

    def _capture(self, batch: Batch, state: LstmState) -> None:
        """Graph the biLSTM for this run's window shape, with sample inputs of
        the real step's dtypes (the char CNN's output dtype under autocast)."""
        try:
            with torch.no_grad(), autocast(self.precision, self.device.type, cache_enabled=False):
                tokens = self.model.bilm.char_cnn(batch.chars[:1])
            batch_size, unroll = batch.index.shape[1:]
            p = tokens.shape[-1]
            inputs = torch.zeros(2, batch_size, unroll, p, device=self.device, dtype=tokens.dtype)
            inputs.requires_grad_(True)
            sample = (inputs, torch.zeros_like(state[0]), torch.zeros_like(state[1]), keep_mask(batch, inputs))
            recurrence = Recurrence(self.model.bilm.lstm)
            recurrence.train(self.model.training)
            # Capture with the model's device current (it records the current
            # device's stream only).
            current = torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext()
            with current, autocast(self.precision, self.device.type, cache_enabled=False):
                self.recurrence = cast(Recurrence, torch.cuda.make_graphed_callables(recurrence, sample))
        except Exception as err:  # capture is best effort: the eager step is the same computation
            self.disabled = f"{type(err).__name__}: {err}"
            self.recurrence = None
            warnings.warn(Warnings.W061.format(reason=self.disabled), stacklevel=3)
