"""The pretraining loop (nanoGPT-style: plain torch, read top to bottom).

Single process on CPU or one GPU, or one process per GPU under
`torchrun --nproc_per_node N` (DistributedDataParallel; gloo on CPU, NCCL on
GPU). Truncated BPTT: each row's LSTM state is carried (detached) from one
window to the next. Only rank 0 writes files.

`pretrain` checks everything it can and creates OUTPUT_DIR; `_train` is the
run: build the model, optimizer and data stream, resume or start, then the
loop (step, log, evaluate, checkpoint), then export. What the loop carries
from step to step is a `_Run`, which is also what a checkpoint saves.
"""
import json
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..bilm.lstm import LstmState
from ..bilm.precision import check_precision
from ..device import use_device
from ..errors import Errors, InputError, OptionsError
from ..io.atomic import atomic_write_text
from .checkpoint import CHECKPOINT, export_model, file_records, load_checkpoint, load_model, option_diffs
from .checkpoint import save_checkpoint, vocab_digest
from .data import WindowStream, expand_paths, iter_lines
from .evaluate import evaluate_lm
from .lm import BiLanguageModel
from .run_dir import check_run_dir, make_run_dir, remove_on_early_failure, remove_outputs
from .settings import PretrainSettings
from .softmax import LogUniformSampler
from .step import TrainStep
from .vocab import Vocab, build_vocab

PathLike = Union[str, Path]


class _StopFlag:
    """First Ctrl-C (SIGINT) asks the loop to stop after the current step and
    save; a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _setup_distributed(gpu_id: int) -> Tuple[int, int, torch.device]:
    """(rank, world_size, device), the GPU made current (spacy_elmo.device);
    under torchrun the process group joined (NCCL on GPUs, gloo on the CPU)."""
    placement = use_device(gpu_id)
    if placement.world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if placement.device.type == "cuda" else "gloo")
    return placement.rank, placement.world, placement.device


def _load_vocab(settings: PretrainSettings, train_files: List[Path], output_dir: Path, resume: bool) -> Vocab:
    if resume and (output_dir / "vocab.txt").exists():
        return Vocab.from_disk(output_dir / "vocab.txt")
    if settings.data.vocab:
        return Vocab.from_disk(settings.data.vocab)
    lines = (tokens for _, tokens in iter_lines(train_files, settings.data.max_line_chars))
    return build_vocab(lines, settings.data.min_count, settings.data.max_vocab_size or None)


def _optimizer(model: torch.nn.Module, settings: PretrainSettings) -> torch.optim.Optimizer:
    t = settings.training
    if t.optimizer == "adagrad":  # bilm-tf: AdagradOptimizer(lr, initial_accumulator_value=1.0)
        return torch.optim.Adagrad(
            model.parameters(), lr=t.learning_rate, initial_accumulator_value=t.adagrad_initial_accumulator
        )
    return torch.optim.Adam(model.parameters(), lr=t.learning_rate, betas=(t.adam_beta1, t.adam_beta2))


def pretrain(
    settings: PretrainSettings,
    output_dir: PathLike,
    gpu_id: int = -1,
    resume: bool = False,
    on_step: Optional[Callable[[int, float], None]] = None,
    show_progress: bool = True,
    overwrite: bool = False,
    allow_data_change: bool = False,
) -> Dict[str, Any]:
    """Train a biLM and write OUTPUT_DIR/{model-last,model-best,checkpoints,
    metrics.jsonl,vocab.txt,config.json}.

    Whatever can be checked is checked before OUTPUT_DIR is created; a run
    that fails before it saved a checkpoint or model removes what it wrote.
    settings (PretrainSettings): the validated config.
    gpu_id (int): -1 for the CPU, else GPU gpu_id + LOCAL_RANK (spacy_elmo.device).
    resume (bool): continue from OUTPUT_DIR/checkpoints/last.pt.
    on_step (Callable[[int, float], None]): called after every step with (step, loss).
    overwrite (bool): delete an earlier run in OUTPUT_DIR and start from scratch;
        without it (or resume) an earlier run there is an error.
    allow_data_change (bool): with resume, go on when data.train names other
        files than the checkpoint was trained on (a warning instead of an error).
    RETURNS (Dict[str, Any]): step, tokens, interrupted, last dev metrics.
    """
    t = settings.training
    output_dir = Path(output_dir)
    rank, world_size, device = _setup_distributed(gpu_id)
    check_precision(t.precision, "[training] precision", device.type)
    train_files = expand_paths(settings.data.train, "paths.train")
    if not train_files:
        raise OptionsError(Errors.E205.format(path="config", key="paths.train"))
    dev_files = expand_paths(settings.data.dev, "paths.dev")
    if rank == 0:
        inputs = [("data.train", p) for p in train_files] + [("data.dev", p) for p in dev_files]
        inputs += [(key, Path(value)) for key, value in (("data.vocab", settings.data.vocab),
                                                           ("training.init_model", t.init_model)) if value]
        check_run_dir(output_dir, resume, overwrite, allow_data_change, inputs)
    start_from = None
    if t.init_model is not None and not resume:  # on resume the checkpoint has everything
        start_from, vocab = load_model(t.init_model)
        diffs = option_diffs(start_from.config.to_options(), settings.model.to_options(), "init_model")
        if diffs:
            raise InputError(Errors.E215.format(path=t.init_model, diff="; ".join(diffs)))
    if start_from is None:
        vocab = _load_vocab(settings, train_files, output_dir, resume)  # reads (checks) every line
    data_files = file_records(train_files)
    created = None
    if rank == 0:
        if overwrite:
            remove_outputs(output_dir)
        created = make_run_dir(output_dir)
    with remove_on_early_failure(output_dir, created) if rank == 0 and not resume else nullcontext():
        return _train(
            settings, output_dir, vocab, start_from, train_files, dev_files, data_files, rank=rank,
            world_size=world_size, device=device, resume=resume, allow_data_change=allow_data_change,
            on_step=on_step, show_progress=show_progress,
        )


def _fresh_totals() -> Dict[str, float]:
    return {"nll": 0.0, "n": 0.0, "time": 0.0, "steps": 0}


@dataclass
class _Run:
    """What the loop carries from step to step (and a checkpoint saves)."""

    state: LstmState
    step: int = 0
    best: float = math.inf
    pending: Dict[str, float] = field(default_factory=_fresh_totals)  # since the last evaluation
    unread: List[Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (NLL sums, counts) on the device
    last_dev: Dict[str, Any] = field(default_factory=dict)


@dataclass
class _Setup:
    """What the run is made of; fixed once the loop starts."""

    settings: PretrainSettings
    output_dir: Path
    vocab: Vocab
    model: BiLanguageModel
    optimizer: torch.optim.Optimizer
    sampler: Optional[LogUniformSampler]
    stream: WindowStream
    dev_files: List[Path]
    data_files: List[Dict[str, Any]]
    rank: int
    world_size: int
    device: torch.device

    @property
    def tokens_per_step(self) -> int:
        t = self.settings.training
        return t.batch_size * t.unroll_steps * self.world_size


def _train(
    settings: PretrainSettings,
    output_dir: Path,
    vocab: Vocab,
    start_from: Optional[BiLanguageModel],
    train_files: List[Path],
    dev_files: List[Path],
    data_files: List[Dict[str, Any]],
    *,
    rank: int,
    world_size: int,
    device: torch.device,
    resume: bool,
    allow_data_change: bool,
    on_step: Optional[Callable[[int, float], None]],
    show_progress: bool,
) -> Dict[str, Any]:
    """The run itself, in a directory that `pretrain` checked and created."""
    t = settings.training
    model = _build_model(settings, len(vocab), start_from, device)
    optimizer = _optimizer(model, settings)
    torch.manual_seed(t.seed + 1000 * rank)  # dropout
    sampler = _sampler(settings, len(vocab), rank)
    stream = WindowStream(
        train_files, vocab, t.batch_size, t.unroll_steps, settings.model.max_chars,
        settings.data.max_line_chars, rank=rank, world_size=world_size,
        max_epochs=t.max_epochs or None, reset_prob=t.reset_state_prob, seed=t.seed,
    )
    setup = _Setup(settings, output_dir, vocab, model, optimizer, sampler, stream, dev_files, data_files,
                   rank, world_size, device)
    run = _Run(state=model.zero_state(t.batch_size))
    if resume:
        _restore(setup, run, allow_data_change)
    elif rank == 0:
        vocab.to_disk(output_dir / "vocab.txt")
        atomic_write_text(output_dir / "config.json", json.dumps(settings.to_dict(), indent=2))
    net: torch.nn.Module = model
    if world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_step = TrainStep(model, optimizer, t.precision, t.grad_clip, sampler, net=net)

    bar = tqdm(total=t.max_steps or None, initial=run.step, disable=not show_progress or rank != 0,
               unit="step", dynamic_ncols=True)
    interrupted = False
    last_eval_step = run.step if resume else -1
    with _StopFlag() as stop:
        model.train()
        while not t.max_steps or run.step < t.max_steps:
            started = time.perf_counter()
            batch = _next_batch(setup)
            if batch is None:
                break
            loss, sums, n, run.state = train_step(batch, run.state)
            run.step += 1
            # The host reads results every 10 steps (or when it needs them), so
            # that it can prepare the next windows while the GPU computes.
            run.unread.append((sums, n))
            run.pending["time"] += time.perf_counter() - started
            run.pending["steps"] += 1
            bar.update(1)
            if run.step % 10 == 0 or run.step == 1:
                _read_results(run)
                _show_progress(bar, setup, run, float(loss))
            if on_step is not None:
                on_step(run.step, float(loss))
            if t.eval_every and run.step % t.eval_every == 0:
                _read_results(run)
                _evaluate(setup, run)
                last_eval_step = run.step
            if t.checkpoint_every and run.step % t.checkpoint_every == 0:
                _read_results(run)
                _checkpoint(setup, run)
            if stop.requested:
                interrupted = True
                break
    _read_results(run)
    bar.close()
    if last_eval_step != run.step and not interrupted:
        _evaluate(setup, run)
    _checkpoint(setup, run)
    if rank == 0:
        export_model(model, vocab, output_dir / "model-last")
        if not dev_files and not interrupted:
            export_model(model, vocab, output_dir / "model-best")
    if world_size > 1:
        dist.barrier()
    return {"step": run.step, "tokens": run.step * setup.tokens_per_step, "interrupted": interrupted, "dev": run.last_dev}


def _build_model(
    settings: PretrainSettings, vocab_size: int, start_from: Optional[BiLanguageModel], device: torch.device
) -> BiLanguageModel:
    """bilm-tf's initialization from the seed, then the weights of
    training.init_model if there is one, on `device`."""
    t = settings.training
    model = BiLanguageModel(settings.model, vocab_size, dropout=t.dropout)
    model.init_like_bilm_tf(torch.Generator().manual_seed(t.seed))
    if start_from is not None:
        model.load_state_dict(start_from.state_dict())
    return model.to(device)


def _sampler(settings: PretrainSettings, vocab_size: int, rank: int) -> Optional[LogUniformSampler]:
    """The sampled softmax's candidate sampler, or None for the full softmax."""
    t = settings.training
    use_sampled = t.softmax == "sampled" or (
        t.softmax == "auto" and vocab_size > t.full_softmax_max_vocab and t.n_samples < vocab_size
    )
    if not use_sampled:
        return None
    return LogUniformSampler(vocab_size, t.n_samples, torch.Generator().manual_seed(t.seed + 7 + rank))


def _restore(setup: _Setup, run: _Run, allow_data_change: bool) -> None:
    """Everything an uninterrupted run would still have in memory, from
    OUTPUT_DIR/checkpoints/last.pt."""
    payload = load_checkpoint(setup.output_dir / CHECKPOINT, setup.model, setup.vocab, setup.data_files,
                              allow_data_change)
    setup.model.load_state_dict(payload["model"])
    setup.optimizer.load_state_dict(payload["optimizer"])
    run.step, run.best, run.pending = payload["step"], payload["best"], payload["pending"]
    mine = payload["workers"][setup.rank]
    setup.stream.load_state_dict(mine["stream"])
    h, c = (s.to(setup.device) for s in mine["lstm_state"])
    run.state = (h, c)
    torch.set_rng_state(mine["torch_rng"])
    if setup.sampler is not None and mine["sampler_rng"] is not None:
        setup.sampler.generator.set_state(mine["sampler_rng"])
    if setup.rank == 0:
        _truncate_metrics(setup.output_dir / "metrics.jsonl", run.step)


def _next_batch(setup: _Setup) -> Optional[Any]:
    """The next windows, or None when the data is done (on any rank: under
    torchrun all ranks stop together)."""
    batch = next(setup.stream, None)
    if setup.world_size > 1:
        flag = torch.tensor([int(batch is None)], device=setup.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if int(flag):
            return None
    return batch


def _read_results(run: _Run) -> None:
    """Add the steps' NLL sums and counts to the totals (a sync with the GPU)."""
    for sums, n in run.unread:
        run.pending["nll"] += float(sums.sum()) / 2
        run.pending["n"] += float(n.sum()) / 2
    run.unread.clear()


def _show_progress(bar: tqdm, setup: _Setup, run: _Run, loss: float) -> None:
    tps = run.pending["steps"] * setup.tokens_per_step / max(run.pending["time"], 1e-9)
    bar.set_postfix(tok_s=f"{tps:,.0f}", loss=f"{loss:.3f}", ppl=f"{math.exp(min(loss, 50)):.1f}")


def _evaluate(setup: _Setup, run: _Run) -> None:
    """Rank 0: dev perplexity (model-best/ when it is the best so far) and a
    metrics.jsonl row; the totals start again."""
    t, tokens_per_step = setup.settings.training, setup.tokens_per_step
    if setup.rank == 0:
        pending = run.pending
        row: Dict[str, Any] = {
            "step": run.step,
            "tokens": run.step * tokens_per_step,
            "train_loss": pending["nll"] / pending["n"] if pending["n"] else None,
            "dev_ppl_forward": None,
            "dev_ppl_backward": None,
            "tokens_per_second": pending["steps"] * tokens_per_step / pending["time"] if pending["time"] else None,
        }
        if setup.dev_files:
            dev = evaluate_lm(
                setup.model, setup.vocab, setup.dev_files, t.batch_size, t.unroll_steps, t.eval_max_windows,
                setup.settings.data.max_line_chars, setup.device,
            )
            row.update(dev_ppl_forward=dev["forward"], dev_ppl_backward=dev["backward"])
            run.last_dev = dev
            if dev["mean"] < run.best:
                run.best = dev["mean"]
                export_model(setup.model, setup.vocab, setup.output_dir / "model-best")
        with (setup.output_dir / "metrics.jsonl").open("a", encoding="utf8") as handle:
            handle.write(json.dumps(row) + "\n")
    run.pending = _fresh_totals()
    if setup.world_size > 1:
        dist.barrier()


def _checkpoint(setup: _Setup, run: _Run) -> None:
    """Every rank's stream position, LSTM state and random states, gathered;
    rank 0 writes them with the model and optimizer."""
    worker = {
        "stream": setup.stream.state_dict(),
        "lstm_state": tuple(s.detach().cpu() for s in run.state),
        "torch_rng": torch.get_rng_state(),
        "sampler_rng": setup.sampler.generator.get_state() if setup.sampler is not None else None,
        # lets tests check that DDP kept every worker's parameters identical
        "param_sum": float(sum(p.detach().double().sum() for p in setup.model.parameters())),
    }
    workers: List[Any] = [worker]
    if setup.world_size > 1:
        workers = [None] * setup.world_size
        dist.all_gather_object(workers, worker)
    if setup.rank == 0:
        vocab = setup.vocab
        save_checkpoint(setup.output_dir / CHECKPOINT, {
            "options": setup.settings.model.to_options(), "vocab_size": len(vocab),
            "vocab_sha256": vocab_digest(vocab), "model": setup.model.state_dict(),
            "optimizer": setup.optimizer.state_dict(), "step": run.step, "best": run.best,
            "pending": dict(run.pending), "workers": workers, "world_size": setup.world_size,
            "data_files": setup.data_files,
        })


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines written after the checkpoint's step."""
    if not path.exists():
        return
    lines = [l for l in path.read_text(encoding="utf8").splitlines() if l.strip()]
    kept = [l for l in lines if json.loads(l)["step"] <= step]
    atomic_write_text(path, "".join(l + "\n" for l in kept))
