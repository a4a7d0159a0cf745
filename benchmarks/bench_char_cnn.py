"""The char CNN's forward + backward in training (embedding, convolutions,
max over positions), ConvMax's backward (bilm/char_cnn.py `char_features`)
against autograd's conv1d + amax backward in the same run, on the tokens of a
pretraining window: tokens/s, peak RSS, and each one's largest gradient
difference from the same computation in float64.

    python benchmarks/bench_char_cnn.py                      # bilm_small's filters
    python benchmarks/bench_char_cnn.py --config configs/bilm_full.cfg
"""
import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from bench_pretrain import peak_memory, sync  # this folder is on sys.path when a script here runs

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2" / "train.txt.gz"


def autograd_features(ids: torch.Tensor, embed: nn.Embedding, convs) -> List[torch.Tensor]:
    """The baseline: what CharCNN ran before ConvMax."""
    chars = embed(ids).transpose(1, 2)
    return [F.conv1d(chars, conv.weight, conv.bias).amax(-1) for conv in convs]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "bilm_small.cfg"))
    parser.add_argument("--tokens", type=int, default=640, help="window positions (batch x unroll); distinct ones run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-id", type=int, default=-1, help="CUDA device; -1: the CPU")
    parser.add_argument("--jsonl", type=Path, default=None, help="append every row here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda", args.gpu_id) if args.gpu_id >= 0 else torch.device("cpu")

    from spacy_elmo.bilm.char_cnn import CharCNN, char_features
    from spacy_elmo.bilm.chars import CharEncoder
    from spacy_elmo.training.settings import load_config, parse_settings

    settings = parse_settings(load_config(args.config, {"paths.train": str(WIKITEXT)}), path=args.config)
    words: List[str] = []
    with gzip.open(WIKITEXT, "rt", encoding="utf8") as handle:
        for line in handle:
            words.extend(line.split())
            if len(words) >= args.tokens:
                break
    distinct = list(dict.fromkeys(words[: args.tokens]))
    config = settings.model
    torch.manual_seed(0)
    cnn = CharCNN(config)
    cnn64 = CharCNN(config).double()  # the same weights in float64, on the CPU
    cnn64.load_state_dict({k: v.double() for k, v in cnn.state_dict().items()})
    cnn.to(device)
    ids_cpu = torch.from_numpy(CharEncoder(config.max_chars).encode(distinct))
    ids = ids_cpu.to(device)
    params = [cnn.char_embed.weight] + [p for conv in cnn.convs for p in (conv.weight, conv.bias)]
    name_of = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"config={args.config} filters={list(config.filters)} tokens={args.tokens} distinct={len(distinct)} "
          f"device={device} ({name_of}) threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{'row':32s} {'tok/s med':>10s} {'ms med':>8s}  peak memory")
    context = {"bench": "char_cnn", "config": Path(args.config).stem, "device": name_of, "tokens": len(distinct)}

    def write(row: dict) -> None:
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf8") as f:
                f.write(json.dumps({**context, **row}) + "\n")

    grads = {}
    for name, features in (("autograd conv1d + amax", autograd_features), ("ConvMax", char_features)):
        def step(features: Callable = features):
            out = features(ids, cnn.char_embed, cnn.convs)
            return torch.autograd.grad(sum(o.sum() for o in out), params)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        grads[name] = [g.cpu() for g in step()]  # also the warm-up
        times = []
        for _ in range(args.repeat):
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times.append(time.perf_counter() - start)
        elapsed = statistics.median(times)
        memory = peak_memory(device)
        print(f"{name:32s} {len(distinct) / elapsed:10,.0f} {elapsed * 1000:8.1f}  {memory}")
        write({"row": name, "tokens_per_s": len(distinct) / elapsed, "ms": elapsed * 1000, "memory": memory})
    # Each against the same computation in float64 (autograd's: ConvMax's equals it to 1e-12 there).
    params64 = [cnn64.char_embed.weight] + [p for conv in cnn64.convs for p in (conv.weight, conv.bias)]
    out64 = autograd_features(ids_cpu, cnn64.char_embed, cnn64.convs)
    exact = torch.autograd.grad(sum(o.sum() for o in out64), params64)
    for name, got in grads.items():
        worst = max(float((a.double() - b).abs().max() / b.abs().max().clamp(min=1e-30)) for a, b in zip(got, exact))
        print(f"{name}: largest gradient difference from float64, relative to that gradient's largest value: {worst:.1e}")
        write({"row": f"{name} vs float64 (relative)", "max_abs": worst})


if __name__ == "__main__":
    sys.path.append(str(ROOT))
    main()
