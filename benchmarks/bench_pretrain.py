"""Training throughput of `python -m spacy elmo pretrain` configs: tokens/s
and peak memory for full training steps (char CNN, biLSTM, softmax, backward,
optimizer) on real WikiText-2 text.

    python benchmarks/bench_pretrain.py --config configs/bilm_tiny.cfg --steps 30
    python benchmarks/bench_pretrain.py --config configs/bilm_full.cfg --steps 3 --batch-size 16
    python benchmarks/bench_pretrain.py --config configs/bilm_full.cfg --gpu-id 0   # on a GPU

A token is one position of one batch row (both directions are computed for it).
bilm-tf's reported cost for the published full-size model: ~2,100 tokens/s per
GTX 1080 (3 GPUs, ~2 weeks for 1B Word Benchmark x 10 epochs).
"""
import argparse
import gzip
import itertools
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2" / "train.txt.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "bilm_tiny.cfg"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=0, help="override [training] batch_size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--dtype", default="no", choices=["no", "bf16", "fp16"], help="autocast on GPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from spacy_elmo.training.data import WindowStream
    from spacy_elmo.training.lm import BiLanguageModel
    from spacy_elmo.training.settings import load_config, parse_settings
    from spacy_elmo.training.softmax import LogUniformSampler
    from spacy_elmo.training.train import _optimizer
    from spacy_elmo.training.vocab import build_vocab

    overrides = {"paths.train": str(WIKITEXT)}
    if args.batch_size:
        overrides["training.batch_size"] = args.batch_size
    s = parse_settings(load_config(args.config, overrides), path=args.config)
    t = s.training
    device = torch.device("cuda", args.gpu_id) if args.gpu_id >= 0 else torch.device("cpu")
    with gzip.open(WIKITEXT, "rt", encoding="utf8") as handle:
        lines = [l.split() for l in itertools.islice(handle, 20000) if l.split()]
    vocab = build_vocab(lines, s.data.min_count, s.data.max_vocab_size or None)
    model = BiLanguageModel(s.model, len(vocab), dropout=t.dropout).to(device)
    model.init_like_bilm_tf(torch.Generator().manual_seed(0))
    optimizer = _optimizer(model, s)
    sampled = t.softmax == "sampled" or (t.softmax == "auto" and len(vocab) > t.full_softmax_max_vocab)
    sampler = LogUniformSampler(len(vocab), t.n_samples, torch.Generator().manual_seed(0)) if sampled else None
    stream = WindowStream([WIKITEXT], vocab, t.batch_size, t.unroll_steps, s.model.max_chars)
    batches = [next(stream) for _ in range(args.warmup + args.steps)]
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.dtype)

    def run(label: str) -> float:
        state = model.zero_state(t.batch_size)
        for k, batch in enumerate(batches):
            if k == args.warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            with torch.autocast("cuda", dtype=amp) if amp else torch.autocast("cpu", enabled=False):
                loss, _, _, state = model(batch.to(device), state, sampler)
            state = tuple(x.detach() for x in state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        tps = args.steps * t.batch_size * t.unroll_steps / elapsed
        print(f"{label:<28} {tps:>10,.0f} tokens/s  ({elapsed / args.steps * 1000:,.0f} ms/step)")
        return tps

    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"config={args.config} device={device} threads={torch.get_num_threads()} batch={t.batch_size} "
        f"unroll={t.unroll_steps} vocab={len(vocab)} softmax={'sampled %d' % t.n_samples if sampler else 'full'} "
        f"params={n_params / 1e6:.1f}M"
    )
    run("training step")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:,.0f} MiB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
