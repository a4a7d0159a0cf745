"""Embedding speed: the `elmo` component vs a plain per-timestep loop.

The baseline is the straightforward implementation (AllenNLP's structure):
batches in input order, the char CNN run on every padded position, then per
direction, per layer, per time step one LSTM-cell matmul over [x_t; h_{t-1}]
with masking. Both use the same weights; the script checks they agree.

    python benchmarks/bench_embed.py --shape fixture --tokens 20000
    python benchmarks/bench_embed.py --shape original --tokens 2000

Prints tokens/s, peak RSS and the max deviation between the two.
"""
import argparse
import resource
import time
from pathlib import Path
from typing import List

import numpy
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.model import BiLM
from spacy_elmo.io.pretrained import load_pretrained_bilm

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT_TEST = ROOT.parent / "shared" / "data" / "wikitext-2" / "test.txt"

SHAPES = {
    # bilm-tf's published shapes
    "small": {"lstm": {"dim": 1024, "projection_dim": 128, "n_layers": 2, "cell_clip": 3,
                       "proj_clip": 3, "use_skip_connections": True},
              "char_cnn": {"embedding": {"dim": 16}, "n_highway": 1, "n_characters": 262,
                           "max_characters_per_token": 50, "activation": "relu",
                           "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]}},
    "original": {"lstm": {"dim": 4096, "projection_dim": 512, "n_layers": 2, "cell_clip": 3,
                          "proj_clip": 3, "use_skip_connections": True},
                 "char_cnn": {"embedding": {"dim": 16}, "n_highway": 2, "n_characters": 262,
                              "max_characters_per_token": 50, "activation": "relu",
                              "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]}},
}


def wikitext_sentences(n_tokens: int) -> List[List[str]]:
    """Real sentences: WikiText-2 test paragraphs split after ' . '."""
    sentences: List[List[str]] = []
    total = 0
    for line in WIKITEXT_TEST.read_text(encoding="utf8").splitlines():
        words = line.split()
        if not words or words[0] == "=":
            continue
        current: List[str] = []
        for word in words:
            current.append(word)
            if word == "." and len(current) > 1:
                sentences.append(current)
                total += len(current)
                current = []
        if current:
            sentences.append(current)
            total += len(current)
        if total >= n_tokens:
            break
    return sentences


def make_model(shape: str) -> BiLM:
    if shape == "fixture":
        return load_pretrained_bilm("default")
    torch.manual_seed(0)
    model = BiLM(BiLMConfig.from_options(SHAPES[shape]))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05)
    return model.eval()


@torch.inference_mode()
def baseline_embed(model: BiLM, sentences: List[List[str]]) -> torch.Tensor:
    """The plain loop. RETURNS: (batch, n_layers + 1, seq, dim), zero at padding."""
    cfg = model.config
    ids = batch_to_ids(sentences, cfg.max_chars)
    batch, seq, _ = ids.shape
    mask = (ids[:, :, 0] > 0).float()
    tokens = model.char_cnn(ids.view(-1, cfg.max_chars)).view(batch, seq, -1) * mask[..., None]
    d, p = cfg.lstm_dim, cfg.projection_dim
    forget = torch.zeros(4 * d)
    forget[2 * d : 3 * d] = 1.0
    layer_out = []
    inputs = [tokens, tokens]
    for index, layer in enumerate(model.lstm.layers):
        outs = []
        for direction in (0, 1):
            weight = torch.cat([layer.weight_ih[direction], layer.weight_hh[direction]])
            bias = layer.bias[direction] + forget
            h = torch.zeros(batch, p)
            c = torch.zeros(batch, d)
            out = torch.zeros(batch, seq, p)
            steps = range(seq) if direction == 0 else range(seq - 1, -1, -1)
            for t in steps:
                gates = torch.cat([inputs[direction][:, t], h], dim=1) @ weight + bias
                i, j, f, o = gates.chunk(4, dim=1)
                new_c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
                if cfg.cell_clip:
                    new_c = new_c.clamp(-cfg.cell_clip, cfg.cell_clip)
                new_h = (torch.sigmoid(o) * torch.tanh(new_c)) @ layer.weight_proj[direction]
                if cfg.proj_clip:
                    new_h = new_h.clamp(-cfg.proj_clip, cfg.proj_clip)
                m = mask[:, t : t + 1]
                c = m * new_c + (1 - m) * c
                h = m * new_h + (1 - m) * h
                out[:, t] = new_h * m
            if index > 0 and cfg.use_skip_connections:
                out = out + inputs[direction]
            outs.append(out)
        inputs = outs
        layer_out.append(torch.cat(outs, dim=-1))
    layers = torch.stack([torch.cat([tokens, tokens], -1)] + layer_out, dim=1)
    return layers[:, :, 1:-1] * mask[:, None, 2:, None]  # drop <S>, </S> positions


def run_component(model: BiLM, sentences, token_budget: int, bf16: bool = False):
    import spacy
    from spacy.tokens import Doc

    from spacy_elmo.models.bilm import set_bilm

    nlp = spacy.blank("en")
    # reset mode: the baseline starts every sentence from the zero state too
    elmo = nlp.add_pipe(
        "elmo", config={"model": {"token_budget": token_budget,
                           "bilm": {"state_mode": "reset", "precision": "bf16" if bf16 else "fp32"}}}
    )
    set_bilm(elmo.model, model)
    docs = [Doc(nlp.vocab, words=s, sent_starts=[True] + [False] * (len(s) - 1)) for s in sentences]
    start = time.perf_counter()
    out = [d._.elmo_layers for d in elmo.pipe(docs, batch_size=256)]
    return out, time.perf_counter() - start


def run_baseline(model: BiLM, sentences, batch_size: int):
    start = time.perf_counter()
    out = []
    for i in range(0, len(sentences), batch_size):
        chunk = sentences[i : i + batch_size]
        layers = baseline_embed(model, chunk)
        out.extend(layers[k, :, : len(s)].numpy() for k, s in enumerate(chunk))
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["fixture", *SHAPES], default="fixture")
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="baseline sentences per batch")
    parser.add_argument("--token-budget", type=int, default=4096)
    parser.add_argument("--bf16", action="store_true", help="also time the opt-in bf16 mode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = wikitext_sentences(args.tokens)
    n_tokens = sum(len(s) for s in sentences)
    model = make_model(args.shape)
    run_component(model, sentences[:8], args.token_budget)  # warm up
    ours, t_ours = run_component(model, sentences, args.token_budget)
    rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.bf16:
        ours_bf16, t_bf16 = run_component(model, sentences, args.token_budget, bf16=True)
    base, t_base = run_baseline(model, sentences, args.batch_size)
    rss_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    deviation = max(float(numpy.abs(a - b).max()) for a, b in zip(ours, base))
    print(f"shape={args.shape} threads={args.threads} sentences={len(sentences)} tokens={n_tokens}")
    print(f"{'implementation':<28}{'tokens/s':>12}{'seconds':>10}")
    print(f"{'elmo component (ours)':<28}{n_tokens / t_ours:>12.0f}{t_ours:>10.2f}")
    print(f"{'plain loop baseline':<28}{n_tokens / t_base:>12.0f}{t_base:>10.2f}")
    if args.bf16:
        dev_bf16 = max(float(numpy.abs(a - b).max()) for a, b in zip(ours_bf16, base))
        print(f"{'elmo component, bf16':<28}{n_tokens / t_bf16:>12.0f}{t_bf16:>10.2f}")
        print(f"bf16 speed-up x{t_base / t_bf16:.2f}; max |bf16 - baseline| = {dev_bf16:.2e}")
    print(f"speed-up x{t_base / t_ours:.2f}; max |ours - baseline| = {deviation:.2e}")
    print(f"peak RSS after ours {rss_ours:.0f} MiB, after both {rss_all:.0f} MiB")


if __name__ == "__main__":
    main()
