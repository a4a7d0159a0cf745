"""The pretraining loop (nanoGPT-style: one function, plain torch).

Single process on CPU or one GPU, or one process per GPU under
`torchrun --nproc_per_node N` (DistributedDataParallel; gloo on CPU, NCCL on
GPU). Truncated BPTT: each row's LSTM state is carried (detached) from one
window to the next. Only rank 0 writes files.
"""
import json
import math
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..bilm.precision import check_precision
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


def _setup_distributed(gpu_id: int) -> tuple:
    """(rank, world_size, device) from torchrun's environment."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1:
        if torch.cuda.is_available() and gpu_id >= 0:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
            backend = "nccl"
        else:
            device = torch.device("cpu")
            backend = "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return rank, world_size, device
    if gpu_id >= 0:
        torch.cuda.set_device(gpu_id)
        return 0, 1, torch.device("cuda", gpu_id)
    return 0, 1, torch.device("cpu")


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
    gpu_id (int): -1 for CPU; under torchrun each process uses LOCAL_RANK.
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
    init_rng = torch.Generator().manual_seed(t.seed)
    model = BiLanguageModel(settings.model, len(vocab), dropout=t.dropout)
    model.init_like_bilm_tf(init_rng)
    if start_from is not None:
        model.load_state_dict(start_from.state_dict())
        del start_from
    model.to(device)
    optimizer = _optimizer(model, settings)
    torch.manual_seed(t.seed + 1000 * rank)  # dropout
    use_sampled = t.softmax == "sampled" or (
        t.softmax == "auto" and len(vocab) > t.full_softmax_max_vocab and t.n_samples < len(vocab)
    )
    sampler = None
    if use_sampled:
        sampler = LogUniformSampler(len(vocab), t.n_samples, torch.Generator().manual_seed(t.seed + 7 + rank))
    stream = WindowStream(
        train_files, vocab, t.batch_size, t.unroll_steps, settings.model.max_chars,
        settings.data.max_line_chars, rank=rank, world_size=world_size,
        max_epochs=t.max_epochs or None, reset_prob=t.reset_state_prob, seed=t.seed,
    )
    state = model.zero_state(t.batch_size)
    step, best, pending = 0, math.inf, {"nll": 0.0, "n": 0.0, "time": 0.0, "steps": 0}
    ckpt_path = output_dir / CHECKPOINT
    if resume:
        payload = load_checkpoint(ckpt_path, model, vocab, data_files, allow_data_change)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        step, best, pending = payload["step"], payload["best"], payload["pending"]
        mine = payload["workers"][rank]
        stream.load_state_dict(mine["stream"])
        state = tuple(s.to(device) for s in mine["lstm_state"])
        torch.set_rng_state(mine["torch_rng"])
        if sampler is not None and mine["sampler_rng"] is not None:
            sampler.generator.set_state(mine["sampler_rng"])
        if rank == 0:
            _truncate_metrics(output_dir / "metrics.jsonl", step)
    elif rank == 0:
        vocab.to_disk(output_dir / "vocab.txt")
        atomic_write_text(output_dir / "config.json", json.dumps(settings.to_dict(), indent=2))
    net: torch.nn.Module = model
    if world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_step = TrainStep(model, optimizer, t.precision, t.grad_clip, sampler, net=net)
    tokens_per_step = t.batch_size * t.unroll_steps * world_size
    last_dev: Dict[str, Any] = {}

    def checkpoint() -> None:
        worker = {
            "stream": stream.state_dict(),
            "lstm_state": tuple(s.detach().cpu() for s in state),
            "torch_rng": torch.get_rng_state(),
            "sampler_rng": sampler.generator.get_state() if sampler is not None else None,
            # lets tests check that DDP kept every worker's parameters identical
            "param_sum": float(sum(p.detach().double().sum() for p in model.parameters())),
        }
        workers: List[Any] = [worker]
        if world_size > 1:
            workers = [None] * world_size
            dist.all_gather_object(workers, worker)
        if rank == 0:
            save_checkpoint(ckpt_path, {
                "options": settings.model.to_options(), "vocab_size": len(vocab),
                "vocab_sha256": vocab_digest(vocab), "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "step": step, "best": best,
                "pending": dict(pending), "workers": workers, "world_size": world_size,
                "data_files": data_files,
            })

    def evaluate() -> None:
        nonlocal best, pending, last_dev
        if rank == 0:
            row: Dict[str, Any] = {
                "step": step,
                "tokens": step * tokens_per_step,
                "train_loss": pending["nll"] / pending["n"] if pending["n"] else None,
                "dev_ppl_forward": None,
                "dev_ppl_backward": None,
                "tokens_per_second": pending["steps"] * tokens_per_step / pending["time"] if pending["time"] else None,
            }
            if dev_files:
                dev = evaluate_lm(
                    model, vocab, dev_files, t.batch_size, t.unroll_steps, t.eval_max_windows,
                    settings.data.max_line_chars, device,
                )
                row.update(dev_ppl_forward=dev["forward"], dev_ppl_backward=dev["backward"])
                last_dev = dev
                if dev["mean"] < best:
                    best = dev["mean"]
                    export_model(model, vocab, output_dir / "model-best")
            with (output_dir / "metrics.jsonl").open("a", encoding="utf8") as handle:
                handle.write(json.dumps(row) + "\n")
        pending = {"nll": 0.0, "n": 0.0, "time": 0.0, "steps": 0}
        if world_size > 1:
            dist.barrier()

    unread: List[Tuple[torch.Tensor, torch.Tensor]] = []  # per-step (NLL sums, counts) on the device

    def read_results() -> None:
        for sums, n in unread:
            pending["nll"] += float(sums.sum()) / 2
            pending["n"] += float(n.sum()) / 2
        unread.clear()

    bar = tqdm(total=t.max_steps or None, initial=step, disable=not show_progress or rank != 0,
               unit="step", dynamic_ncols=True)
    interrupted = False
    last_eval_step = step if resume else -1
    with _StopFlag() as stop:
        model.train()
        while not t.max_steps or step < t.max_steps:
            started = time.perf_counter()
            batch = next(stream, None)
            if world_size > 1:
                flag = torch.tensor([int(batch is None)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                if int(flag):
                    break
            if batch is None:
                break
            loss, sums, n, state = train_step(batch, state)
            step += 1
            # The host reads results every 10 steps (or when it needs them), so
            # that it can prepare the next windows while the GPU computes.
            unread.append((sums, n))
            pending["time"] += time.perf_counter() - started
            pending["steps"] += 1
            bar.update(1)
            if step % 10 == 0 or step == 1:
                read_results()
                value = float(loss)
                tps = pending["steps"] * tokens_per_step / max(pending["time"], 1e-9)
                bar.set_postfix(tok_s=f"{tps:,.0f}", loss=f"{value:.3f}", ppl=f"{math.exp(min(value, 50)):.1f}")
            if on_step is not None:
                on_step(step, float(loss))
            if t.eval_every and step % t.eval_every == 0:
                read_results()
                evaluate()
                last_eval_step = step
            if t.checkpoint_every and step % t.checkpoint_every == 0:
                read_results()
                checkpoint()
            if stop.requested:
                interrupted = True
                break
    read_results()
    bar.close()
    if last_eval_step != step and not interrupted:
        evaluate()
    checkpoint()
    if rank == 0:
        export_model(model, vocab, output_dir / "model-last")
        if not dev_files and not interrupted:
            export_model(model, vocab, output_dir / "model-best")
    if world_size > 1:
        dist.barrier()
    return {"step": step, "tokens": step * tokens_per_step, "interrupted": interrupted, "dev": last_dev}


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines written after the checkpoint's step."""
    if not path.exists():
        return
    lines = [l for l in path.read_text(encoding="utf8").splitlines() if l.strip()]
    kept = [l for l in lines if json.loads(l)["step"] <= step]
    atomic_write_text(path, "".join(l + "\n" for l in kept))
