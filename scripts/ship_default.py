"""Copy a pretrained biLM (model-best/ of `python -m spacy elmo pretrain`)
into spacy_elmo/data/default/ as the built-in default: options.json +
weights.hdf5 without the softmax (the component does not need it), plus a
README with its provenance and test perplexity.

    python scripts/ship_default.py MODEL_DIR PERPLEXITY_JSON [--output spacy_elmo/data/default]
"""
import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from spacy_elmo.io.atomic import atomic_path
from spacy_elmo.io.weights import export_bilm, load_bilm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("perplexity", type=Path, help="evaluate-lm --output JSON on the test split")
    parser.add_argument("--output", type=Path, default=Path("spacy_elmo/data/default"))
    parser.add_argument("--command", default="", help="the command that trained it, for the README")
    args = parser.parse_args()
    model = load_bilm(args.model_dir / "options.json", args.model_dir / "weights.hdf5")
    ppl = json.loads(args.perplexity.read_text(encoding="utf8"))
    with tempfile.TemporaryDirectory(dir=args.output.parent) as tmp:
        tmp = Path(tmp)
        export_bilm(model, tmp)
        rows = []
        for name in ("options.json", "weights.hdf5"):
            data = (tmp / name).read_bytes()
            rows.append(f"| `{name}` | {len(data):,} | {hashlib.sha256(data).hexdigest()} |")
        n_params = sum(p.numel() for p in model.parameters())
        c = model.config
        (tmp / "README.md").write_text(
            "# Built-in \"default\" ELMo weights\n\n"
            f"A biLM pretrained by this project with `python -m spacy elmo pretrain` on the\n"
            f"WikiText-2 train split (CC BY-SA 3.0, Merity et al. 2016): {c.n_layers} LSTM layers,\n"
            f"LSTM dim {c.lstm_dim}, projection {c.projection_dim} (so {2 * c.projection_dim}-dimensional vectors),\n"
            f"{sum(n for _, n in c.filters)} char-CNN filters, {c.n_highway} highway layer(s); {n_params:,} parameters\n"
            "(the softmax used for pretraining is not shipped).\n\n"
            f"WikiText-2 test perplexity (`evaluate-lm`, exact full softmax): forward {ppl['forward']:.1f},\n"
            f"backward {ppl['backward']:.1f}, mean {ppl['mean']:.1f} over {ppl['tokens']:,} predictions per direction.\n\n"
            + (f"Trained with:\n\n```\n{args.command}\n```\n\n" if args.command else "")
            + "| file | bytes | sha256 |\n| --- | ---: | --- |\n" + "\n".join(rows) + "\n",
            encoding="utf8",
        )
        for name in ("options.json", "weights.hdf5", "README.md"):
            with atomic_path(args.output / name) as part:
                shutil.copyfile(tmp / name, part)
    print(f"{args.model_dir} -> {args.output}: {n_params:,} parameters, test ppl {ppl['mean']:.1f}")


if __name__ == "__main__":
    main()
