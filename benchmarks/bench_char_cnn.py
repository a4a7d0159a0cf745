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
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

import torch
from torch import nn
from torch.nn import functional as F

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
    parser.add_argument("--jsonl", type=Path, default=None, help="append every row here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

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
    ids = torch.from_numpy(CharEncoder(config.max_chars).encode(distinct))
    params = [cnn.char_embed.weight] + [p for conv in cnn.convs for p in (conv.weight, conv.bias)]
    print(f"config={args.config} filters={list(config.filters)} tokens={args.tokens} distinct={len(distinct)} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}")
    print(f"{'row':32s} {'tok/s med':>10s} {'ms med':>8s}  peak RSS")
    grads = {}
    for name, features in (("autograd conv1d + amax", autograd_features), ("ConvMax", char_features)):
        def step(features: Callable = features):
            out = features(ids, cnn.char_embed, cnn.convs)
            return torch.autograd.grad(sum(o.sum() for o in out), params)

        grads[name] = step()  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        elapsed = statistics.median(times)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {"row": name, "tokens_per_s": len(distinct) / elapsed, "ms": elapsed * 1000, "peak_rss_mib": rss}
        print(f"{name:32s} {row['tokens_per_s']:10,.0f} {row['ms']:8.1f}  {rss:,.0f} MiB RSS (so far)")
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf8") as f:
                f.write(json.dumps(row) + "\n")
    # Each against the same computation in float64 (autograd's: ConvMax's equals it to 1e-12 there).
    double = {k: v for k, v in cnn.state_dict().items()}
    cnn64 = CharCNN(config).double()
    cnn64.load_state_dict({k: v.double() for k, v in double.items()})
    params64 = [cnn64.char_embed.weight] + [p for conv in cnn64.convs for p in (conv.weight, conv.bias)]
    exact = torch.autograd.grad(sum(o.sum() for o in autograd_features(ids, cnn64.char_embed, cnn64.convs)), params64)
    for name, got in grads.items():
        worst = max(float((a.double() - b).abs().max() / b.abs().max().clamp(min=1e-30)) for a, b in zip(got, exact))
        print(f"{name}: largest gradient difference from float64, relative to that gradient's largest value: {worst:.1e}")
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf8") as f:
                f.write(json.dumps({"row": f"{name} vs float64", "value": worst}) + "\n")

if __name__ == "__main__":
    sys.path.append(str(ROOT))
    main()
