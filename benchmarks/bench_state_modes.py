"""How far are the deterministic state modes from bilm-tf's stateful "carry"?

Runs WikiText-2 test sentences in file order, batches of --batch-size rows, in
carry mode (each row continues the same row of the previous batch, as bilm-tf
and AllenNLP do), and the same batches in reset and warm mode; prints the mean
per-token cosine similarity to carry for each LSTM layer (the first batch,
where carry starts from zeros, is skipped).

    python benchmarks/bench_state_modes.py --weights default --tokens 20000
"""
import argparse

import numpy
import torch

from bench_embed import wikitext_sentences
from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.io.pretrained import load_pretrained_bilm


def cosine(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    return (a * b).sum(-1) / numpy.maximum(numpy.linalg.norm(a, axis=-1) * numpy.linalg.norm(b, axis=-1), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="default")
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    bilm = load_pretrained_bilm(args.weights)
    sentences = wikitext_sentences(args.tokens)
    bilm.reset_carry()
    sims = {mode: [[] for _ in range(bilm.config.n_layers)] for mode in ("reset", "warm")}
    for start in range(0, len(sentences), args.batch_size):
        batch = sentences[start : start + args.batch_size]
        ids = batch_to_ids(batch, bilm.config.max_chars)
        carry, n = bilm.embed(ids, "carry")
        if start == 0:
            continue
        for mode in sims:
            other, _ = bilm.embed(ids, mode)
            for row, length in enumerate(n.tolist()):
                for layer in range(1, bilm.config.n_layers + 1):
                    sims[mode][layer - 1].extend(
                        cosine(carry[row, layer, :length].numpy(), other[row, layer, :length].numpy())
                    )
    n_tokens = len(sims["reset"][0])
    print(f"weights={args.weights} sentences={len(sentences)} tokens compared={n_tokens} batch={args.batch_size}")
    for mode, layers in sims.items():
        parts = ", ".join(f"layer {i + 1}: {numpy.mean(s):.4f}" for i, s in enumerate(layers))
        print(f"mean cosine to carry, {mode:<5} {parts}")


if __name__ == "__main__":
    main()
