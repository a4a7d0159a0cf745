"""Embedding speed on WikiText-2 test sentences: our `embed` path (length-sorted
batches through `BiLM.embed_sentences`), the `elmo` component, a plain
per-timestep loop (AllenNLP's structure) and, as the hardware anchor, cuDNN's
`nn.LSTM(proj_size=...)` running the same recurrence shape.

The baseline ("plain loop", `baseline_embed`) is AllenNLP's `_ElmoBiLm`
structure, the side-by-side reference for speed claims: batches in input
order, the char CNN on every padded position, rows sorted by length, per
layer, direction and time step two linear maps over the rows still
running (AllenNLP's LstmCellWithProjection). It uses the same weights; the
script checks that the outputs agree.

    python benchmarks/bench_embed.py --shape default --tokens 20000
    python benchmarks/bench_embed.py --shape original --tokens 2000 --precision fp32,bf16
    python benchmarks/bench_embed.py --shape efml --tokens 2000 --batch-size 64
    python benchmarks/bench_embed.py --shape original --gpu-id 0 --tokens 80000 \\
        --batch-size 64,256 --precision fp32,bf16 --no-baseline --anchor --check-cpu 64

`--shape efml` is an ELMoForManyLangs model of the published shape (the
architecture file EFML ships, a char and a word vocabulary made from the
sentences, random weights); its rows are followed, in the same run, by the
bilm-tf `original` shape's rows, the speed it should match. The AllenNLP
loop reads bytes, not EFML's vocabularies: no baseline row for it.

Prints tokens/s and peak memory (CUDA: torch.cuda.max_memory_allocated; CPU:
peak RSS of the process so far) per row, the deviation of each precision from
exact fp32 and, with --check-cpu, of the device's exact outputs from the CPU's.
"""
import argparse
import json
import resource
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy
import torch
from torch import nn

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.efml import CHAR_SPECIALS, WORD_SPECIALS
from spacy_elmo.bilm.model import BiLM
from spacy_elmo.io.efml import SHIPPED, build_efml_bilm, read_architecture
from spacy_elmo.bilm.precision import PRECISIONS, precision_scope
from spacy_elmo.io.pretrained import load_pretrained_bilm

ROOT = Path(__file__).resolve().parent.parent
WIKITEXT_TEST = ROOT.parent / "shared" / "data" / "wikitext-2" / "test.txt"

_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]
SHAPES = {
    # bilm-tf's published shapes
    "small": {"lstm": {"dim": 1024, "projection_dim": 128, "n_layers": 2, "cell_clip": 3,
                       "proj_clip": 3, "use_skip_connections": True},
              "char_cnn": {"embedding": {"dim": 16}, "n_highway": 1, "n_characters": 262,
                           "max_characters_per_token": 50, "activation": "relu",
                           "filters": _FILTERS}},
    "original": {"lstm": {"dim": 4096, "projection_dim": 512, "n_layers": 2, "cell_clip": 3,
                          "proj_clip": 3, "use_skip_connections": True},
                 "char_cnn": {"embedding": {"dim": 16}, "n_highway": 2, "n_characters": 262,
                              "max_characters_per_token": 50, "activation": "relu",
                              "filters": _FILTERS}},
}

Sentences = List[List[str]]


def wikitext_sentences(n_tokens: int) -> Sentences:
    """Real sentences: WikiText-2 test paragraphs split after ' . ', until at
    least `n_tokens` tokens (the whole test split has 235,845)."""
    sentences: Sentences = []
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


def make_model(shape: str, sentences: Sentences) -> BiLM:
    """The built-in default biLM, or a published shape with random weights U(-0.05, 0.05)
    (seed 0), built on the CPU; "efml": EFML's published architecture with a
    char and a word vocabulary of the sentences' code points and tokens."""
    if shape == "default":
        return load_pretrained_bilm("default")
    torch.manual_seed(0)
    if shape == "efml":
        arch = read_architecture(SHIPPED["cnn_50_100_512_4096_sample.json"])
        chars = {c: i for i, c in enumerate([*CHAR_SPECIALS, *sorted({c for s in sentences for t in s for c in t})])}
        words = {w: i for i, w in enumerate([*WORD_SPECIALS, *sorted({t for s in sentences for t in s})])}
        model = build_efml_bilm(arch, chars, words, len(chars), len(words))
    else:
        model = BiLM(BiLMConfig.from_options(SHAPES[shape]))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05)
    return model.eval()


@torch.inference_mode()
def baseline_embed(model: BiLM, sentences: Sentences) -> torch.Tensor:
    """AllenNLP's `_ElmoBiLm` structure (allennlp/modules/elmo.py, elmo_lstm.py,
    lstm_cell_with_projection.py): the char CNN on every padded position, the
    batch sorted by length, then per layer and direction a loop over time
    steps that runs only the rows still inside their length, with
    `input_linearity(x_t)` and `state_linearity(h)` (the bias on the state
    side), memory clipping, the projection and its clipping.
    RETURNS: (batch, n_layers + 1, seq, dim) in input order, zero at padding."""
    cfg = model.config
    device = model.device
    ids = batch_to_ids(sentences, cfg.max_chars).to(device)
    batch, seq, _ = ids.shape
    mask = (ids[:, :, 0] > 0).float()
    tokens = model.char_cnn(ids.view(-1, cfg.max_chars)).view(batch, seq, -1) * mask[..., None]
    lengths = mask.sum(1).long()
    sorted_lengths, order = torch.sort(lengths, descending=True)
    x = tokens.index_select(0, order)
    d, p = cfg.lstm_dim, cfg.projection_dim
    forget = torch.zeros(4 * d, device=device)
    forget[2 * d : 3 * d] = 1.0
    bounds = sorted_lengths.tolist()
    layer_out = []
    inputs = [x, x]
    for index, layer in enumerate(model.lstm.layers):
        outs = []
        for direction in (0, 1):
            w_ih, w_hh = layer.weight_ih[direction], layer.weight_hh[direction]
            bias = layer.bias[direction] + forget
            w_proj = layer.weight_proj[direction]
            memory = torch.zeros(batch, d, device=device)
            state = torch.zeros(batch, p, device=device)
            out = torch.zeros(batch, seq, p, device=device)
            active = batch - 1  # last row inside the current step (AllenNLP's current_length_index)
            steps = range(seq) if direction == 0 else range(seq - 1, -1, -1)
            if direction == 1:
                active = 0
            for t in steps:
                if direction == 0:
                    while active >= 0 and bounds[active] <= t:
                        active -= 1
                else:
                    while active < batch - 1 and bounds[active + 1] > t:
                        active += 1
                rows = active + 1
                if rows <= 0 or bounds[0] <= t:
                    continue
                prev_memory, prev_state = memory[:rows].clone(), state[:rows].clone()
                gates = inputs[direction][:rows, t] @ w_ih + torch.addmm(bias, prev_state, w_hh)
                i, j, f, o = gates.chunk(4, dim=1)  # bilm-tf's order; AllenNLP's is i, f, j, o
                new_memory = torch.sigmoid(i) * torch.tanh(j) + torch.sigmoid(f) * prev_memory
                if cfg.cell_clip:
                    new_memory = new_memory.clamp(-cfg.cell_clip, cfg.cell_clip)
                new_state = (torch.sigmoid(o) * torch.tanh(new_memory)) @ w_proj
                if cfg.proj_clip:
                    new_state = new_state.clamp(-cfg.proj_clip, cfg.proj_clip)
                memory = memory.data.clone()
                state = state.data.clone()
                memory[:rows] = new_memory
                state[:rows] = new_state
                out[:rows, t] = new_state
            if index > 0 and cfg.use_skip_connections:
                out = out + inputs[direction]
            outs.append(out)
        inputs = outs
        layer_out.append(torch.cat(outs, dim=-1))
    layers = torch.stack([torch.cat([x, x], -1)] + layer_out, dim=1)
    layers = layers.index_select(0, torch.argsort(order))
    return layers[:, :, 1:-1] * mask[:, None, 2:, None]  # drop <S>, </S> positions


def run_embed(model: BiLM, sentences: Sentences, batch_size: int, precision: str) -> List[numpy.ndarray]:
    """What `embed` does (spacy_elmo/embed.py: batches of sentences sorted by
    length), in reset mode as the baseline, with a precision; outputs in input
    order."""
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    out: List[Optional[numpy.ndarray]] = [None] * len(sentences)
    if hasattr(model, "clear_token_cache"):  # each run starts with an empty token cache
        model.clear_token_cache()
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        layers, n_tokens = model.embed_sentences([sentences[i] for i in rows], mode="reset",
                                                 precision=precision)
        layers = layers.float().cpu().numpy()
        for row, (index, n) in enumerate(zip(rows, n_tokens.tolist())):
            out[index] = layers[row, :, :n]
    return out  # type: ignore[return-value]


def component_runner(model: BiLM, sentences: Sentences, token_budget: int, precision: str):
    """A function that runs the `elmo` component (reset mode) over the
    sentences as Docs; the pipeline is built once, outside the timing."""
    import spacy
    from spacy.tokens import Doc

    from spacy_elmo.models.bilm import set_bilm

    nlp = spacy.blank("en")
    # reset mode: the baseline starts every sentence from the zero state too
    elmo = nlp.add_pipe(
        "elmo", config={"model": {"token_budget": token_budget,
                                  "bilm": {"state_mode": "reset", "precision": precision}}}
    )
    set_bilm(elmo.model, model)
    docs = [Doc(nlp.vocab, words=s, sent_starts=[True] + [False] * (len(s) - 1)) for s in sentences]

    def run() -> List[numpy.ndarray]:
        if hasattr(model, "clear_token_cache"):  # each run starts with an empty token cache
            model.clear_token_cache()
        return [d._.elmo_layers for d in elmo.pipe(docs, batch_size=256)]

    return run


def run_baseline(model: BiLM, sentences: Sentences, batch_size: int) -> List[numpy.ndarray]:
    out = []
    for i in range(0, len(sentences), batch_size):
        chunk = sentences[i : i + batch_size]
        layers = baseline_embed(model, chunk).cpu()
        out.extend(layers[k, :, : len(s)].numpy() for k, s in enumerate(chunk))
    return out


@torch.inference_mode()
def run_anchor(model: BiLM, precision: str, batch: int, length: int, repeat: int) -> float:
    """cuDNN's (or the CPU's) nn.LSTM with projections, the same recurrence
    shape as the biLM (n_layers x 2 directions, no clipping), on random
    inputs. RETURNS: seconds per call (median of `repeat`)."""
    cfg, device = model.config, model.device
    warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
    lstm = nn.LSTM(cfg.projection_dim, cfg.lstm_dim, num_layers=cfg.n_layers, bidirectional=True,
                   proj_size=cfg.projection_dim, batch_first=True).to(device).eval()
    x = torch.randn(batch, length, cfg.projection_dim, device=device)
    times = []
    with precision_scope(precision, device.type):
        for k in range(repeat + 2):
            sync(device)
            start = time.perf_counter()
            lstm(x)[0].sum().item()
            if k >= 2:  # two warm-up calls
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], object], repeat: int) -> Tuple[object, List[float]]:
    """fn's last result and its wall times, each after a device sync."""
    times, result = [], None
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        result = fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return result, times


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def max_deviation(a: List[numpy.ndarray], b: List[numpy.ndarray]) -> float:
    return max(float(numpy.abs(x - y).max()) for x, y in zip(a, b))


JSONL: Optional[Path] = None  # --jsonl: every row is also appended here as JSON
CONTEXT: Dict[str, object] = {}  # shape and device of this run, for the JSON rows


def record(**row) -> None:
    if JSONL is not None:
        with JSONL.open("a", encoding="utf8") as handle:
            handle.write(json.dumps({"bench": "embed", **CONTEXT, **row}) + "\n")


def print_row(label: str, n_tokens: int, times: List[float], memory: str) -> None:
    best, median = min(times), statistics.median(times)
    print(f"{label:<40}{n_tokens / median:>12,.0f}{n_tokens / best:>12,.0f}{median:>10.2f}  {memory}",
          flush=True)
    record(row=label, tokens_per_s=n_tokens / median, best_tokens_per_s=n_tokens / best,
           seconds=median, memory=memory)


def print_deviation(label: str, value: float) -> None:
    print(f"{label} = {value:.2e}", flush=True)
    record(row=label, max_abs=value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["default", *SHAPES, "efml"], default="default")
    parser.add_argument("--tokens", type=int, default=5000, help="WikiText-2 test tokens to embed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-id", type=int, default=-1, help="CUDA device; -1 for the CPU")
    parser.add_argument("--batch-size", default="64", help="sentences per batch, comma-separated list")
    parser.add_argument("--precision", default="fp32", help=f"comma-separated, of {PRECISIONS}")
    parser.add_argument("--token-cache", default=None,
                        help="token cache sizes, comma-separated (0 = off); default: the biLM's")
    parser.add_argument("--eager", action="store_true", help="CUDA: no graphs, the eager loop (BiLM.set_cuda_graphs)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per row (min and median)")
    parser.add_argument("--component", action="store_true", help="also time the elmo component")
    parser.add_argument("--token-budget", type=int, default=4096, help="the component's token_budget")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-loop baseline")
    parser.add_argument("--anchor", action="store_true", help="time cuDNN/CPU nn.LSTM(proj_size) too")
    parser.add_argument("--anchor-shape", default="256x40", help="anchor batch x length")
    parser.add_argument("--check-cpu", type=int, default=0,
                        help="on a GPU: max |device - CPU| of exact fp32 outputs on this many sentences")
    parser.add_argument("--global-tf32", action="store_true",
                        help="turn the process-wide TF32 flags on first (a user's setting; exact "
                             "mode must not depend on them)")
    parser.add_argument("--jsonl", type=Path, default=None, help="append every row here as JSON")
    args = parser.parse_args()
    global JSONL
    JSONL = args.jsonl
    torch.set_num_threads(args.threads)
    if args.global_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    device = torch.device("cuda", args.gpu_id) if args.gpu_id >= 0 else torch.device("cpu")
    batch_sizes = [int(b) for b in args.batch_size.split(",")]
    precisions = args.precision.split(",")
    sentences = wikitext_sentences(args.tokens)
    n_tokens = sum(len(s) for s in sentences)
    model = make_model(args.shape, sentences).to(device)
    if args.eager and hasattr(model, "set_cuda_graphs"):
        model.set_cuda_graphs(False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    CONTEXT.update(shape=args.shape, device=device.type, tokens=n_tokens)
    print(f"shape={args.shape} device={device} ({name}) threads={args.threads} "
          f"sentences={len(sentences)} tokens={n_tokens} torch={torch.__version__}")
    print(f"{'row':<40}{'tok/s med':>12}{'tok/s best':>12}{'s med':>10}  peak memory")
    outputs = {}
    cache_sizes = [None] if args.token_cache is None else [int(v) for v in args.token_cache.split(",")]
    mode = "eager" if args.eager or device.type == "cpu" else "graphs"
    for precision in precisions:
        run_embed(model, sentences[:16], batch_sizes[0], precision)  # warm up
        for batch_size in batch_sizes:
            # A first, untimed pass captures the CUDA graphs this batching needs.
            _, first = timed(device, lambda: run_embed(model, sentences, batch_size, precision), 1)
            graphs = getattr(model, "cuda_graphs", None)
            captured = f", {graphs.captures} graphs captured so far" if graphs and device.type == "cuda" else ""
            print(f"  (first pass {n_tokens / first[0]:,.0f} tok/s{captured})", flush=True)
            for cache_size in cache_sizes:
                label = f"embed {precision} batch {batch_size} {mode}"
                if cache_size is not None:
                    model.set_token_cache(cache_size)
                    label += f" token cache {cache_size}"
                reset_peak(device)
                cache = getattr(model, "token_cache", None)
                before = (cache.hits, cache.misses) if cache is not None else (0, 0)
                result, times = timed(
                    device, lambda: run_embed(model, sentences, batch_size, precision), args.repeat
                )

                outputs.setdefault(precision, result)
                if cache_size is not None and not numpy.array_equal(
                        numpy.concatenate([a.ravel() for a in result]),
                        numpy.concatenate([a.ravel() for a in outputs[precision]])):
                    print(f"!! {label}: outputs differ from the first row's")
                print_row(label, n_tokens, times, peak_memory(device))
                if cache_size and cache is not None:
                    hits, misses = cache.hits - before[0], cache.misses - before[1]
                    print(f"  (token cache: {hits / max(hits + misses, 1):.0%} of each batch's distinct tokens were hits)")
        if args.component:
            reset_peak(device)
            run = component_runner(model, sentences, args.token_budget, precision)
            _, times = timed(device, run, args.repeat)
            print_row(f"component {precision} budget {args.token_budget}", n_tokens, times,
                      peak_memory(device))
    reference = outputs.get("fp32")
    if args.shape == "efml":  # the speed to match: bilm-tf's original shape, same sentences
        original = make_model("original", sentences).to(device)
        for precision in precisions:
            run_embed(original, sentences[:16], batch_sizes[0], precision)  # warm up
            for batch_size in batch_sizes:
                timed(device, lambda: run_embed(original, sentences, batch_size, precision), 1)
                reset_peak(device)
                _, times = timed(device, lambda: run_embed(original, sentences, batch_size, precision), args.repeat)
                print_row(f"bilm-tf original {precision} batch {batch_size} {mode}", n_tokens, times,
                          peak_memory(device))
    elif not args.no_baseline:
        reset_peak(device)
        base, times = timed(device, lambda: run_baseline(model, sentences, batch_sizes[0]), args.repeat)
        print_row(f"AllenNLP-structure loop batch {batch_sizes[0]}", n_tokens, times, peak_memory(device))
        if reference is not None:
            print_deviation("max |embed fp32 - baseline|", max_deviation(reference, base))
    if args.anchor:
        a_batch, a_len = (int(v) for v in args.anchor_shape.split("x"))
        for precision in precisions:
            reset_peak(device)
            seconds = run_anchor(model, precision, a_batch, a_len, max(args.repeat, 5))
            label = f"nn.LSTM(proj_size) {precision} {a_batch}x{a_len}"
            print_row(label, a_batch * a_len, [seconds], peak_memory(device))
    for precision in precisions:
        if precision != "fp32" and reference is not None:
            print_deviation(f"max |embed {precision} - embed fp32|", max_deviation(outputs[precision], reference))
    graphs = getattr(model, "cuda_graphs", None)
    if graphs is not None and device.type == "cuda":
        print(f"CUDA graphs: {graphs.stats()}")
        record(row="cuda graphs", **{k: v for k, v in graphs.stats().items()})
    if args.check_cpu and device.type == "cuda":
        subset = sentences[: args.check_cpu]
        on_device = run_embed(model, subset, batch_sizes[0], "fp32")
        on_cpu = run_embed(model.to("cpu"), subset, batch_sizes[0], "fp32")
        model.to(device)
        tf32 = "on" if args.global_tf32 else "as found"
        print_deviation(f"exact fp32, max |{device.type} - cpu| over {len(subset)} sentences "
                        f"(process TF32 flags {tf32})", max_deviation(on_device, on_cpu))


if __name__ == "__main__":
    main()
