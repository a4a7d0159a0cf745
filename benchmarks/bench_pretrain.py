"""Training throughput of `python -m spacy elmo pretrain` configs: tokens/s
and peak memory for full training steps (char CNN, biLSTM, softmax, backward,
clipping, optimizer) on real WikiText-2 text, beside cuDNN's (or the CPU's)
`nn.LSTM(proj_size=...)` forward + backward on the same recurrence shape.

    python benchmarks/bench_pretrain.py --config configs/bilm_tiny.cfg --steps 30
    python benchmarks/bench_pretrain.py --config configs/bilm_full.cfg --steps 3 --batch-size 16
    python benchmarks/bench_pretrain.py --config configs/bilm_full.cfg --gpu-id 0 --precision bf16 --anchor
    python benchmarks/bench_pretrain.py --config configs/bilm_small.cfg --data-only --steps 200

A token is one position of one batch row (both directions are computed for it).
--data-only times the input pipeline alone (reading, batching, char ids).
bilm-tf's reported cost for the published full-size model: ~2,100 tokens/s per
GTX 1080 (3 GPUs, ~2 weeks for 1B Word Benchmark x 10 epochs).
"""
import argparse
import gzip
import itertools
import json
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2" / "train.txt.gz"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB"
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"


JSONL: Optional[Path] = None  # --jsonl: every row is also appended here as JSON
CONTEXT: Dict[str, object] = {}  # config, batch, precision of this run, for the JSON rows


def record(**row) -> None:
    if JSONL is not None:
        with JSONL.open("a", encoding="utf8") as handle:
            handle.write(json.dumps({"bench": "pretrain", **CONTEXT, **row}) + "\n")


def report(label: str, tokens_per_step: int, seconds: list, device: torch.device) -> None:
    median = statistics.median(seconds)
    print(f"{label:<44} {tokens_per_step / median:>11,.0f} tokens/s  "
          f"({median * 1000:,.1f} ms/step)  {peak_memory(device)}", flush=True)
    record(row=label, tokens_per_s=tokens_per_step / median, ms_per_step=median * 1000,
           memory=peak_memory(device))


def time_data(stream, steps: int, tokens_per_window: int) -> None:
    """The input pipeline alone: windows cut from the text, char ids encoded."""
    next(stream)
    start = time.perf_counter()
    for _ in range(steps):
        next(stream)
    elapsed = time.perf_counter() - start
    print(f"{'input pipeline (WindowStream)':<44} {steps / elapsed:>11,.1f} windows/s  "
          f"{steps * tokens_per_window / elapsed:>11,.0f} tokens/s")
    record(row="input pipeline", windows_per_s=steps / elapsed, tokens_per_s=steps * tokens_per_window / elapsed)


def time_anchor(cfg, batch: int, unroll: int, precision: str, device: torch.device, steps: int) -> None:
    """nn.LSTM(proj_size) with n_layers x 2 directions, no clipping: forward and
    backward of one window (what cuDNN does for the recurrence alone)."""
    from spacy_elmo.bilm.precision import autocast, fp32_flags

    warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
    lstm = nn.LSTM(cfg.projection_dim, cfg.lstm_dim, num_layers=cfg.n_layers, bidirectional=True,
                   proj_size=cfg.projection_dim, batch_first=True).to(device)
    x = torch.randn(batch, unroll, cfg.projection_dim, device=device, requires_grad=True)
    seconds = []
    for k in range(steps + 2):
        sync(device)
        start = time.perf_counter()
        with fp32_flags(precision):
            with autocast(precision, device.type):
                out = lstm(x)[0]
            out.float().sum().backward()
        sync(device)
        if k >= 2:
            seconds.append(time.perf_counter() - start)
    report(f"nn.LSTM(proj_size) fwd+bwd {precision} {batch}x{unroll}", batch * unroll, seconds, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "bilm_tiny.cfg"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", default="", help="override [training] batch_size; a comma-separated list")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--precision", default=None,
                        help="fp32, tf32, bf16 or fp16, comma-separated (default: the config's [training] precision)")
    parser.add_argument("--modes", default="graphs",
                        help="comma-separated: graphs (CUDA graphs on CUDA; eager on the CPU), eager, "
                             "live (graphs, windows cut inside the timed loop)")
    parser.add_argument("--lines", type=int, default=20000, help="WikiText-2 train lines for the vocabulary")
    parser.add_argument("--anchor", action="store_true", help="also time nn.LSTM(proj_size) fwd+bwd")
    parser.add_argument("--no-model", action="store_true", help="skip our training step (anchor only)")
    parser.add_argument("--data", action="store_true", help="also time the input pipeline alone")
    parser.add_argument("--data-only", action="store_true", help="time the input pipeline alone, nothing else")
    parser.add_argument("--jsonl", type=Path, default=None, help="append every row here as JSON")
    args = parser.parse_args()
    global JSONL
    JSONL = args.jsonl
    torch.set_num_threads(args.threads)

    from spacy_elmo.bilm.precision import check_precision
    from spacy_elmo.training.data import WindowStream
    from spacy_elmo.training.lm import BiLanguageModel
    from spacy_elmo.training.settings import load_config, parse_settings
    from spacy_elmo.training.softmax import LogUniformSampler
    from spacy_elmo.training.train import _optimizer
    from spacy_elmo.training.vocab import build_vocab

    s = parse_settings(load_config(args.config, {"paths.train": str(WIKITEXT)}), path=args.config)
    t = s.training
    device = torch.device("cuda", args.gpu_id) if args.gpu_id >= 0 else torch.device("cpu")
    batch_sizes = [int(b) for b in args.batch_size.split(",")] if args.batch_size else [t.batch_size]
    precisions = [check_precision(p, "--precision", device.type)
                  for p in (args.precision or t.precision).split(",")]
    modes = args.modes.split(",")
    with gzip.open(WIKITEXT, "rt", encoding="utf8") as handle:
        lines = [l.split() for l in itertools.islice(handle, args.lines) if l.split()]
    vocab = build_vocab(lines, s.data.min_count, s.data.max_vocab_size or None)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"config={args.config} device={device} ({name}) threads={torch.get_num_threads()} "
          f"unroll={t.unroll_steps} lr={t.learning_rate} vocab={len(vocab)} torch={torch.__version__}")
    model = TrainStep = None
    if not (args.no_model or args.data_only):
        from spacy_elmo.training.step import TrainStep  # (--data-only also runs against older code)

        # Initialise on the CPU (the init draws from a CPU generator), then move.
        model = BiLanguageModel(s.model, len(vocab), dropout=t.dropout)
        model.init_like_bilm_tf(torch.Generator().manual_seed(0))
        model.to(device)
        sampled = t.softmax == "sampled" or (t.softmax == "auto" and len(vocab) > t.full_softmax_max_vocab)
        print(f"softmax={'sampled %d' % t.n_samples if sampled else 'full'} "
              f"params={sum(p.numel() for p in model.parameters()) / 1e6:.1f}M")
    for batch_size in batch_sizes:
        tokens_per_step = batch_size * t.unroll_steps

        def new_stream() -> WindowStream:
            return WindowStream([WIKITEXT], vocab, batch_size, t.unroll_steps, s.model.max_chars,
                                reset_prob=t.reset_state_prob, seed=t.seed)

        CONTEXT.update(config=Path(args.config).stem, batch=batch_size)
        if args.data or args.data_only:
            time_data(new_stream(), args.steps, tokens_per_step)
        if model is None and not args.anchor:
            continue
        batches = [next(stream) for stream in [new_stream()] for _ in range(args.warmup + args.steps)]
        for precision in precisions:
            CONTEXT.update(precision=precision)
            for mode in modes if model is not None else []:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                time_step(model, s, vocab, batch_size, precision, mode, device, args, batches, new_stream,
                          TrainStep, LogUniformSampler, _optimizer, sampled)
            if args.anchor and not args.data_only:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                time_anchor(s.model, batch_size, t.unroll_steps, precision, device, max(args.steps, 5))


def time_step(model, s, vocab, batch_size, precision, mode, device, args, batches, new_stream,
              TrainStep, LogUniformSampler, make_optimizer, sampled) -> None:
    """Full training steps (TrainStep, as pretrain runs them): one sync at each
    end of the timed steps, so the loop runs ahead of the GPU as pretrain's does."""
    t = s.training
    optimizer = make_optimizer(model, s)
    sampler = LogUniformSampler(len(vocab), t.n_samples, torch.Generator().manual_seed(0)) if sampled else None
    train_step = TrainStep(model, optimizer, precision, t.grad_clip, sampler, cuda_graphs=mode != "eager")
    stream = new_stream() if mode == "live" else None
    state = model.zero_state(batch_size)
    model.train()
    start = time.perf_counter()
    for k in range(args.warmup + args.steps):
        if k == args.warmup:
            sync(device)
            start = time.perf_counter()
        _, _, _, state = train_step(next(stream) if stream is not None else batches[k], state)
    sync(device)
    elapsed = (time.perf_counter() - start) / max(args.steps, 1)
    if device.type == "cpu" or mode == "eager":
        how = "eager"
    elif train_step.recurrence is not None:
        how = "CUDA graphs"
    else:
        how = f"eager, graphs failed: {train_step.disabled}"
    data = ", windows cut in the loop" if mode == "live" else ""
    report(f"training step {precision} ({how}{data})", batch_size * t.unroll_steps, [elapsed], device)


if __name__ == "__main__":
    sys.path.append(str(ROOT))  # after PYTHONPATH: compare_cpu-style runs pick the package
    main()
