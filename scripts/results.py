"""Collect the workflow's metrics into a Markdown table and PNG plots.

    python scripts/results.py METRICS_DIR TRAINING_DIR OUT.md [--plots DIR] [--prefix ""]

Reads, for each downstream run NAME (e.g. tagger_baseline, ner_elmo_ft):
METRICS_DIR/{prefix}NAME.json (`spacy evaluate --output` on the test split)
and TRAINING_DIR/{prefix}NAME/log.jsonl (spacy-elmo.JsonlLogger.v1: training
words/s); for the biLM: TRAINING_DIR/{prefix}bilm/metrics.jsonl (pretraining
curve), METRICS_DIR/{prefix}bilm_test.json (evaluate-lm) and, when the adapt
step ran, {prefix}bilm_task_dev.json / {prefix}bilm_adapted_task_dev.json (both
biLMs on the tasks' dev text). Writes the table,
and with --plots the pretraining curve (dev perplexity vs tokens) and accuracy
bars.
"""
import argparse
import json
from pathlib import Path

from spacy_elmo.io.atomic import atomic_write_text

TASKS = {"tagger": ("tag_acc", "UPOS accuracy"), "ner": ("ents_f", "NER F1")}
VARIANTS = [
    ("baseline", "baseline (CNN tok2vec)"),
    ("baseline_vectors", "baseline + word2vec"),
    ("elmo", "ELMo, frozen"),
    ("elmo_ft", "ELMo, fine-tuned"),
    ("elmo_vectors", "ELMo + word2vec, frozen"),
    ("elmo_tok2vec", "baseline + ELMo, frozen"),
    ("elmo_encode_adapted", "ELMo (adapted) at the encoder input, frozen"),
]


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf8")) if path.exists() else None


def _read_jsonl(path: Path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def collect(metrics: Path, training: Path, prefix: str = ""):
    rows = []
    for task, (key, label) in TASKS.items():
        for variant, description in VARIANTS:
            name = f"{prefix}{task}_{variant}"
            scores = _read_json(metrics / f"{name}.json")
            if scores is None:
                continue
            log = _read_jsonl(training / name / "log.jsonl")
            last = log[-1] if log else {}
            rows.append({
                "task": task, "metric": label, "variant": description, "name": name,
                "score": scores.get(key), "infer_wps": scores.get("speed"),
                "train_wps": last.get("words_per_second"), "steps": last.get("step"),
            })
    bilm = {"curve": _read_jsonl(training / f"{prefix}bilm" / "metrics.jsonl"),
            "test": _read_json(metrics / f"{prefix}bilm_test.json"),
            "task_dev": _read_json(metrics / f"{prefix}bilm_task_dev.json"),
            "adapted_task_dev": _read_json(metrics / f"{prefix}bilm_adapted_task_dev.json")}
    return rows, bilm


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def markdown(rows, bilm) -> str:
    lines = ["| task | model | test score | train words/s | inference words/s | steps |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        score = None if r["score"] is None else 100 * r["score"]
        lines.append(f"| {r['metric']} | {r['variant']} | {_fmt(score, '.2f')} | {_fmt(r['train_wps'], ',.0f')} | "
                     f"{_fmt(r['infer_wps'], ',.0f')} | {_fmt(r['steps'], 'd')} |")
    out = "\n".join(lines) + "\n"
    test = bilm["test"]
    if test:
        out += (f"\nbiLM perplexity on the test text (exact full softmax): forward {test['forward']:.1f}, "
                f"backward {test['backward']:.1f}, mean {test['mean']:.1f} ({test['tokens']:,} predictions per direction).\n")
    if bilm["curve"]:
        last = bilm["curve"][-1]
        out += (f"biLM pretraining: {last['step']:,} steps, {last['tokens']:,} tokens, last dev perplexity "
                f"forward {last['dev_ppl_forward']:.1f} / backward {last['dev_ppl_backward']:.1f}, "
                f"{last['tokens_per_second']:,.0f} tokens/s.\n")
    before, after = bilm.get("task_dev"), bilm.get("adapted_task_dev")
    if before and after:
        out += (f"biLM perplexity on the tasks' dev text (forward / backward): {before['forward']:.1f} / "
                f"{before['backward']:.1f} before adaptation, {after['forward']:.1f} / {after['backward']:.1f} after.\n")
    return out


def plots(rows, bilm, out_dir: Path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    curve = [r for r in bilm["curve"] if r.get("dev_ppl_forward") is not None]
    if curve:
        tokens = [r["tokens"] for r in curve]
        ax.plot(tokens, [r["dev_ppl_forward"] for r in curve], marker="o", label="forward")
        ax.plot(tokens, [r["dev_ppl_backward"] for r in curve], marker="o", label="backward")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("training tokens")
    ax.set_ylabel("dev perplexity")
    ax.set_title("biLM pretraining")
    fig.tight_layout()
    path = out_dir / "pretrain_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    fig, axes = plt.subplots(1, max(1, len(TASKS)), figsize=(10, 4))
    for ax, (task, (_, label)) in zip(axes, TASKS.items()):
        task_rows = [r for r in rows if r["task"] == task and r["score"] is not None]
        ax.bar(range(len(task_rows)), [100 * r["score"] for r in task_rows])
        ax.set_xticks(range(len(task_rows)))
        ax.set_xticklabels([r["variant"] for r in task_rows], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{label} (test)")
    fig.tight_layout()
    path = out_dir / "accuracy.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("metrics", type=Path)
    parser.add_argument("training", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--plots", type=Path, default=None)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    rows, bilm = collect(args.metrics, args.training, args.prefix)
    if not rows:
        raise SystemExit(f"No results in {args.metrics} (expected {args.prefix}tagger_baseline.json, ...): run the evaluate steps first.")
    text = markdown(rows, bilm)
    atomic_write_text(args.output, text)
    print(text)
    if args.plots is not None:
        for path in plots(rows, bilm, args.plots):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
