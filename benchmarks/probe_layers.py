"""How much part-of-speech information does each ELMo layer hold?

A linear probe (softmax regression on standardised, frozen features) per layer
and direction, trained on the first --train-sentences of UD English-EWT train
and scored on the first --dev-sentences of dev (UPOS accuracy). A cheap check
of a biLM's features before a full `spacy train` run; compare weights with the
same arguments.

    python benchmarks/probe_layers.py --weights default
    python benchmarks/probe_layers.py --weights /path/to/model-best --state-mode reset
"""
import argparse
import gzip
import time
from pathlib import Path
from typing import List, Tuple

import numpy
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.io.pretrained import load_pretrained_bilm

UD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ud-english-ewt"


def read_conllu(path: Path, limit: int) -> List[List[Tuple[str, str]]]:
    """(form, UPOS) per sentence; multiword-token ranges and empty nodes skipped."""
    sentences: List[List[Tuple[str, str]]] = []
    current: List[Tuple[str, str]] = []
    with gzip.open(path, "rt", encoding="utf8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                if current:
                    sentences.append(current)
                    current = []
                    if len(sentences) >= limit:
                        break
            elif not line.startswith("#"):
                cols = line.split("\t")
                if cols[0].isdigit():
                    current.append((cols[1], cols[3]))
    if current and len(sentences) < limit:
        sentences.append(current)
    return sentences


@torch.no_grad()
def features(bilm, sentences, state_mode: str, batch_size: int = 64) -> torch.Tensor:
    """*Shape:* (n_tokens, n_layers, dim)"""
    out = []
    for start in range(0, len(sentences), batch_size):
        words = [[w for w, _ in s] for s in sentences[start : start + batch_size]]
        layers, n_tokens = bilm.embed(batch_to_ids(words, bilm.config.max_chars), state_mode)
        for row, n in enumerate(n_tokens.tolist()):
            out.append(layers[row, :, :n].transpose(0, 1))
    return torch.cat(out)


def probe(x_train, y_train, x_dev, y_dev, n_labels: int, steps: int = 300) -> float:
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_dev = (x_train - mean) / std, (x_dev - mean) / std
    torch.manual_seed(0)
    linear = torch.nn.Linear(x_train.shape[1], n_labels)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(x_train), y_train).backward()
        optimizer.step()
    return float((linear(x_dev).argmax(1) == y_dev).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="default")
    parser.add_argument("--state-mode", default="warm", choices=["warm", "reset", "carry"])
    parser.add_argument("--train-sentences", type=int, default=3000)
    parser.add_argument("--dev-sentences", type=int, default=1000)
    parser.add_argument("--ud-dir", type=Path, default=UD)
    args = parser.parse_args()
    torch.set_num_threads(2)
    bilm = load_pretrained_bilm(args.weights)
    train = read_conllu(args.ud_dir / "en_ewt-ud-train.conllu.gz", args.train_sentences)
    dev = read_conllu(args.ud_dir / "en_ewt-ud-dev.conllu.gz", args.dev_sentences)
    labels = sorted({t for s in train for _, t in s})
    index = {label: i for i, label in enumerate(labels)}
    y_train = torch.tensor([index[t] for s in train for _, t in s])
    y_dev = torch.tensor([index.get(t, -1) for s in dev for _, t in s])
    started = time.perf_counter()
    x_train = features(bilm, train, args.state_mode)
    x_dev = features(bilm, dev, args.state_mode)
    print(f"weights {args.weights}, state mode {args.state_mode}: {len(y_train):,} train / "
          f"{len(y_dev):,} dev tokens, features in {time.perf_counter() - started:.0f} s")
    half = x_train.shape[-1] // 2
    rows = [(f"layer {i}", (i, slice(None))) for i in range(x_train.shape[1])]
    rows += [(f"layer {i} forward", (i, slice(0, half))) for i in range(1, x_train.shape[1])]
    rows += [(f"layer {i} backward", (i, slice(half, None))) for i in range(1, x_train.shape[1])]
    print("| features | UPOS dev accuracy |\n| --- | ---: |")
    for name, (layer, part) in rows:
        acc = probe(x_train[:, layer, part], y_train, x_dev[:, layer, part], y_dev, len(labels))
        print(f"| {name} | {100 * acc:.2f} |")
    acc = probe(x_train.flatten(1), y_train, x_dev.flatten(1), y_dev, len(labels))
    print(f"| all layers | {100 * acc:.2f} |")


if __name__ == "__main__":
    main()
