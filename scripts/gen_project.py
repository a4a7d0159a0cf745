"""Write project.yml: the `spacy project` / weasel workflow at three scales
(`all`, `small`, `ci`) from one description, so the scales stay in step.

Edit this script, not project.yml, then regenerate and check the diff:

    python scripts/gen_project.py [--output project.yml] [--data-dir ../shared/data]

Asset checksums are the md5 of the files in --data-dir. tests/test_project.py
checks that the committed project.yml is this script's output.
"""
import argparse
import hashlib
from pathlib import Path

import srsly

UD = "${vars.ud_dir}"
WT = "${vars.wikitext_dir}"
WN = "${vars.wnut_dir}"
GPU = "--gpu-id ${vars.gpu_id}"


def scale_cmds(s):
    """The commands of one scale. s: "" (full), "small" or "ci"."""
    ci = s in ("ci", "small")         # scaled-down: cut corpora with head_text
    p = f"{s}_" if ci else ""         # file prefix
    suf = f"-{s}" if ci else ""       # command suffix
    v = (lambda k: "${vars.%s_%s}" % (s, k)) if ci else (lambda k: "${vars.%s}" % k)
    cmds = []
    # corpora
    corpus_script = [
        f"python scripts/convert_ud.py {UD}/en_ewt-ud-train.conllu.gz corpus/{p}ud-train.spacy --limit {v('ud_limit')}",
        f"python scripts/convert_ud.py {UD}/en_ewt-ud-dev.conllu.gz corpus/{p}ud-dev.spacy --limit {v('ud_eval_limit')}",
        f"python scripts/convert_ud.py {UD}/en_ewt-ud-test.conllu.gz corpus/{p}ud-test.spacy --limit {v('ud_eval_limit')}",
    ] + ([f"python scripts/head_text.py {WN}/emerging.test.annotated corpus/{p}wnut-test.conll --lines {v('wnut_eval_lines')} --keep-blank",
          f"python scripts/convert_ner.py corpus/{p}wnut-test.conll corpus/{p}wnut-test.spacy"] if ci else
         [f"python scripts/convert_ner.py {WN}/emerging.test.annotated corpus/wnut-test.spacy"])
    outs = [f"corpus/{p}ud-train.spacy", f"corpus/{p}ud-dev.spacy", f"corpus/{p}ud-test.spacy", f"corpus/{p}wnut-test.spacy"]
    deps = [f"{UD}/en_ewt-ud-train.conllu.gz", f"{UD}/en_ewt-ud-dev.conllu.gz", f"{UD}/en_ewt-ud-test.conllu.gz",
            f"{WN}/emerging.test.annotated", "scripts/convert_ud.py", "scripts/convert_ner.py"]
    if ci:
        corpus_script += [
            f"python scripts/head_text.py {WT}/train.txt.gz corpus/{p}lm-train.txt --lines {v('lm_lines')}",
            f"python scripts/head_text.py {WT}/valid.txt corpus/{p}lm-dev.txt --lines {v('lm_eval_lines')}",
            f"python scripts/head_text.py {WT}/test.txt corpus/{p}lm-test.txt --lines {v('lm_eval_lines')}",
            f"python scripts/head_text.py {WN}/wnut17train.conll corpus/{p}wnut-train.conll --lines {v('wnut_lines')} --keep-blank",
            f"python scripts/head_text.py {WN}/emerging.dev.conll corpus/{p}wnut-dev.conll --lines {v('wnut_eval_lines')} --keep-blank",
        ]
        outs += [f"corpus/{p}lm-train.txt", f"corpus/{p}lm-dev.txt", f"corpus/{p}lm-test.txt",
                 f"corpus/{p}wnut-train.conll", f"corpus/{p}wnut-dev.conll"]
        deps += ["scripts/head_text.py"]
        lm_train, lm_dev, lm_test = f"corpus/{p}lm-train.txt", f"corpus/{p}lm-dev.txt", f"corpus/{p}lm-test.txt"
        ner_train, ner_dev = f"corpus/{p}wnut-train.conll", f"corpus/{p}wnut-dev.conll"
    else:
        lm_train, lm_dev, lm_test = f"{WT}/train.txt.gz", f"{WT}/valid.txt", f"{WT}/test.txt"
        ner_train, ner_dev = f"{WN}/wnut17train.conll", f"{WN}/emerging.dev.conll"
    bilm, adapt = f"training/{p}bilm/model-best", f"training/{p}bilm_adapted/model-best"
    task_train, task_dev = f"corpus/{p}task-train.txt", f"corpus/{p}task-dev.txt"
    # the paper's sec. 3.4 adapts the biLM to the tasks' training text: their tokens as plain text
    corpus_script += [f"python scripts/corpus_text.py {task_train} corpus/{p}ud-train.spacy {ner_train}",
                      f"python scripts/corpus_text.py {task_dev} corpus/{p}ud-dev.spacy {ner_dev}"]
    deps += [d for d in (ner_train, ner_dev) if not d.startswith("corpus/")] + ["scripts/corpus_text.py"]
    outs += [task_train, task_dev]
    cmds.append({"name": f"corpus{suf}", "help": "Convert UD English-EWT (tags, morph, deps, genre) and the WNUT-17 test split to .spacy; "
                 "write the tokens of the UD and WNUT-17 train/dev splits as text for the adapt step" + (" (scaled down: the first sentences/lines only)" if ci else ""),
                 "script": corpus_script, "deps": deps, "outputs": outs})
    cmds.append({"name": f"word2vec{suf}", "help": "Train word2vec (gensim skip-gram, negative sampling) on the WikiText-2 train text",
                 "script": [f"python -m spacy elmo train-word2vec {lm_train} training/{p}word2vec/w2v.txt --size {v('w2v_size')} --sg --negative 5 --window 5 --min-count {v('w2v_min_count')} --epochs {v('w2v_epochs')} --workers 1 --seed 1"],
                 "deps": [lm_train], "outputs": [f"training/{p}word2vec/w2v.txt"]})
    cmds.append({"name": f"vectors{suf}", "help": "Convert the word2vec output to spaCy static vectors",
                 "script": [f"python -m spacy elmo init-vectors ${{vars.lang}} training/{p}word2vec/w2v.txt training/{p}vectors --name ${{vars.lang}}_wikitext_w2v.vectors"],
                 "deps": [f"training/{p}word2vec/w2v.txt"], "outputs": [f"training/{p}vectors"]})
    cmds.append({"name": f"pretrain{suf}", "help": "Pretrain the biLM on WikiText-2",
                 "script": [f"python -m spacy elmo pretrain configs/{v('bilm_config')}.cfg training/{p}bilm --overwrite --paths.train {lm_train} --paths.dev {lm_dev} --training.max_steps {v('bilm_steps')} --training.eval_every {v('bilm_eval_every')} --training.eval_max_windows 100 --training.checkpoint_every {v('bilm_eval_every')} {GPU}"],
                 "deps": [f"configs/{v('bilm_config')}.cfg", lm_train, lm_dev],
                 "outputs": [bilm, f"training/{p}bilm/metrics.jsonl"]})
    eval_bilm = [f"metrics/{p}bilm_test.json", f"metrics/{p}bilm_task_dev.json"]
    cmds.append({"name": f"evaluate-bilm{suf}", "help": "Perplexity of the pretrained biLM on the WikiText-2 test text and on the tasks' dev text",
                 "script": [f"python -m spacy elmo evaluate-lm {bilm} {lm_test} --output {eval_bilm[0]} {GPU}",
                            f"python -m spacy elmo evaluate-lm {bilm} {task_dev} --output {eval_bilm[1]} {GPU}"],
                 "deps": [bilm, lm_test, task_dev], "outputs": eval_bilm})
    cmds.append({"name": f"adapt{suf}", "help": "Adapt the biLM to the downstream text: train it on from its model-best on the tokens of the UD and WNUT-17 training splits (dev: their dev splits)",
                 "script": [f"python -m spacy elmo pretrain configs/{v('bilm_config')}.cfg training/{p}bilm_adapted --overwrite --paths.train {task_train} --paths.dev {task_dev} --paths.init_model {bilm} --training.max_steps {v('adapt_steps')} --training.max_epochs 0 --training.eval_every {v('adapt_eval_every')} --training.eval_max_windows 0 --training.checkpoint_every {v('adapt_eval_every')} {GPU}"],
                 "deps": [f"configs/{v('bilm_config')}.cfg", bilm, task_train, task_dev],
                 "outputs": [adapt, f"training/{p}bilm_adapted/metrics.jsonl"]})
    eval_adapt = [f"metrics/{p}bilm_adapted_task_dev.json"]
    cmds.append({"name": f"evaluate-adapt{suf}", "help": "Perplexity of the adapted biLM on the tasks' dev text",
                 "script": [f"python -m spacy elmo evaluate-lm {adapt} {task_dev} --output {eval_adapt[0]} {GPU}"],
                 "deps": [adapt, task_dev], "outputs": eval_adapt})
    # what scripts/results.py reads, collected from the outputs of the steps that write it
    results_deps = [f"training/{p}bilm/metrics.jsonl"] + eval_bilm + eval_adapt
    # one training run per task x variant: (config stem, biLM for --paths.elmo, word2vec vectors, fine-tune, help)
    variants = {
        "baseline": ("baseline", None, False, False, "the CNN tok2vec baseline"),
        "baseline_vectors": ("baseline_vectors", None, True, False, "the baseline + word2vec vectors"),
        "elmo": ("elmo", bilm, False, False, "ELMo (biLM frozen)"),
        "elmo_ft": ("elmo", bilm, False, True, "ELMo, biLM fine-tuned"),
        "elmo_vectors": ("elmo_vectors", bilm, True, False, "ELMo + word2vec vectors"),
        "elmo_tok2vec": ("elmo_tok2vec", bilm, False, False, "the baseline + ELMo (ELMo beside the CNN's output)"),
        "elmo_encode_adapted": ("elmo_encode", adapt, False, False, "ELMo at the encoder input, biLM adapted to the tasks' text"),
    }
    for task in ("tagger", "ner"):
        if task == "tagger":
            tdeps, test = [f"corpus/{p}ud-train.spacy", f"corpus/{p}ud-dev.spacy"], f"corpus/{p}ud-test.spacy"
        else:
            tdeps, test = [ner_train, ner_dev], f"corpus/{p}wnut-test.spacy"
        for name, (stem, elmo, vectors, fine_tune, what) in variants.items():
            run, cmd = f"{p}{task}_{name}", f"{task}-{name.replace('_', '-')}{suf}"
            overrides = [f"--paths.train {tdeps[0]} --paths.dev {tdeps[1]}",
                         f"--training.max_steps {v('train_steps')} --training.eval_frequency {v('eval_frequency')}",
                         f"--paths.train_log training/{run}/log.jsonl"]
            rdeps = [f"configs/{task}_{stem}.cfg"] + tdeps
            if elmo:
                overrides.append(f"--paths.elmo {elmo}")
                rdeps.append(elmo)
            if vectors:
                overrides.append(f"--paths.vectors training/{p}vectors")
                rdeps.append(f"training/{p}vectors")
            if fine_tune:
                overrides.append("--components.elmo.model.bilm.fine_tune true --components.elmo.model.bilm.learn_rate_scale ${vars.ft_learn_rate_scale}")
            model, log, scores = f"training/{run}/model-best", f"training/{run}/log.jsonl", f"metrics/{run}.json"
            cmds.append({"name": f"train-{cmd}", "help": f"Train the {task} with {what}",
                         "script": [" ".join([f"python -m spacy train configs/{task}_{stem}.cfg --output training/{run}"] + overrides + [GPU])],
                         "deps": rdeps, "outputs": [model, log]})
            cmds.append({"name": f"evaluate-{cmd}", "help": f"Evaluate the {task} with {what} on the test split",
                         "script": [f"python -m spacy evaluate {model} {test} --output {scores} {GPU}"],
                         "deps": [model, test], "outputs": [scores]})
            results_deps += [scores, log]
    cmds.append({"name": f"results{suf}", "help": "Markdown table (baseline vs ELMo, frozen vs fine-tuned) and PNG plots (pretraining curve, accuracy bars)",
                 "script": [f"python scripts/results.py metrics training metrics/{p}results.md --plots metrics/{p}plots" + (f" --prefix {p}" if ci else "")],
                 "deps": results_deps + ["scripts/results.py"],
                 "outputs": [f"metrics/{p}results.md", f"metrics/{p}plots/pretrain_curve.png", f"metrics/{p}plots/accuracy.png"]})
    cmds.append({"name": f"demo{suf}", "help": "Nearest contexts of ambiguous words ('bank', 'play') by ELMo vs by word2vec vectors",
                 "script": [f"python -m spacy elmo demo --weights training/{p}bilm/model-best --vectors training/{p}vectors"],
                 "deps": [f"training/{p}bilm/model-best", f"training/{p}vectors"]})
    cmds.append({"name": f"package{suf}", "help": "Package the ELMo tagger as an installable pipeline (requirements list spacy-elmo)",
                 "script": [f"python -m spacy package training/{p}tagger_elmo/model-best packages --name {v('package_name')} --version ${{vars.package_version}} --force" + (" --build none" if ci else "")],
                 "deps": [f"training/{p}tagger_elmo/model-best"],
                 "outputs_no_cache": [f"packages/${{vars.lang}}_{v('package_name')}-${{vars.package_version}}"]})
    return cmds

full, small, ci = scale_cmds(""), scale_cmds("small"), scale_cmds("ci")
project = {
    "title": "spacy-elmo: corpus -> word2vec -> vectors -> biLM -> tagger/NER -> evaluation -> package",
    "description": (
        "The whole ELMo method on real data from ../shared/data: word2vec (gensim) and an ELMo biLM pretrained "
        "on WikiText-2 (CC BY-SA 3.0), then a UPOS tagger on UD English-EWT (CC BY-SA 4.0) and NER on WNUT-17 "
        "(CC BY 4.0), each trained seven ways with one budget (CNN tok2vec baseline, + word2vec, ELMo frozen, "
        "ELMo fine-tuned, ELMo + word2vec, baseline + ELMo, and ELMo at the encoder input with the biLM adapted to the tasks' training text) and evaluated on the test splits; a results table with plots, a demo "
        "and a package. `all` is the full run (set gpu_id for a GPU); `small` runs the same steps on a few thousand "
        "sentences with the tiny biLM config; `ci` runs them at a tiny scale on 2 CPU cores (tests/test_project.py). Needs `pip install \"spacy-elmo[project]\"` (gensim, matplotlib)."),
    "vars": {
        "lang": "en", "gpu_id": -1,
        "ud_dir": "../shared/data/ud-english-ewt", "wikitext_dir": "../shared/data/wikitext-2", "wnut_dir": "../shared/data/wnut17",
        "package_name": "elmo_tagger", "package_version": "0.1.0",
        "ud_limit": 0, "ud_eval_limit": 0,
        "w2v_size": 100, "w2v_min_count": 5, "w2v_epochs": 5,
        "bilm_config": "bilm_small", "bilm_steps": 11000, "bilm_eval_every": 1000, "adapt_steps": 2500, "adapt_eval_every": 250,
        "train_steps": 1000, "eval_frequency": 250, "ft_learn_rate_scale": 0.1,
        "small_ud_limit": 2000, "small_ud_eval_limit": 500, "small_lm_lines": 5000, "small_lm_eval_lines": 500,
        "small_wnut_lines": 10000, "small_wnut_eval_lines": 4000,
        "small_w2v_size": 50, "small_w2v_min_count": 3, "small_w2v_epochs": 2,
        "small_bilm_config": "bilm_tiny", "small_bilm_steps": 300, "small_bilm_eval_every": 100, "small_adapt_steps": 100, "small_adapt_eval_every": 50,
        "small_train_steps": 300, "small_eval_frequency": 100, "small_package_name": "elmo_tagger_small",
        "ci_ud_limit": 150, "ci_ud_eval_limit": 60, "ci_lm_lines": 400, "ci_lm_eval_lines": 100,
        "ci_wnut_lines": 2000, "ci_wnut_eval_lines": 600,
        "ci_w2v_size": 16, "ci_w2v_min_count": 2, "ci_w2v_epochs": 1,
        "ci_bilm_config": "bilm_tiny", "ci_bilm_steps": 20, "ci_bilm_eval_every": 10, "ci_adapt_steps": 6, "ci_adapt_eval_every": 3,
        "ci_train_steps": 12, "ci_eval_frequency": 6, "ci_package_name": "elmo_tagger_ci",
    },
    "directories": ["corpus", "configs", "training", "metrics", "scripts", "packages"],
    "assets": [
        {"dest": "${vars.ud_dir}/en_ewt-ud-train.conllu.gz", "description": "UD English-EWT train (CC BY-SA 4.0; shipped in ../shared/data: local asset)", "checksum": "UDTRAIN"},
        {"dest": "${vars.ud_dir}/en_ewt-ud-dev.conllu.gz", "description": "UD English-EWT dev", "checksum": "UDDEV"},
        {"dest": "${vars.ud_dir}/en_ewt-ud-test.conllu.gz", "description": "UD English-EWT test", "checksum": "UDTEST"},
        {"dest": "${vars.wikitext_dir}/train.txt.gz", "description": "WikiText-2 train (CC BY-SA 3.0, Merity et al. 2016)", "checksum": "WTTRAIN"},
        {"dest": "${vars.wikitext_dir}/valid.txt", "description": "WikiText-2 valid", "checksum": "WTVALID"},
        {"dest": "${vars.wikitext_dir}/test.txt", "description": "WikiText-2 test", "checksum": "WTTEST"},
        {"dest": "${vars.wnut_dir}/wnut17train.conll", "description": "WNUT-17 train (CC BY 4.0)", "checksum": "WNTRAIN"},
        {"dest": "${vars.wnut_dir}/emerging.dev.conll", "description": "WNUT-17 dev", "checksum": "WNDEV"},
        {"dest": "${vars.wnut_dir}/emerging.test.annotated", "description": "WNUT-17 test", "checksum": "WNTEST"},
    ],
    "workflows": {
        "all": [c["name"] for c in full],
        "small": [c["name"] for c in small],
        "ci": [c["name"] for c in ci],
    },
    "commands": full + small + ci + [
        {"name": "default-model", "help": "Reproduce the built-in default biLM (spacy_elmo/data/default) from the pretrain step's model",
         "script": ["python scripts/ship_default.py training/bilm/model-best metrics/bilm_test.json --output spacy_elmo/data/default"],
         "deps": ["training/bilm/model-best", "metrics/bilm_test.json", "scripts/ship_default.py"],
         "outputs": ["spacy_elmo/data/default/weights.hdf5", "spacy_elmo/data/default/options.json"]},
        {"name": "clean", "help": "Remove generated corpora, models, metrics and packages",
         "script": ["rm -rf corpus training metrics packages"]},
    ],
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("project.yml"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    text = srsly.yaml_dumps(project)
    data = args.data_dir
    checksums = {
        "UDTRAIN": data / "ud-english-ewt/en_ewt-ud-train.conllu.gz",
        "UDDEV": data / "ud-english-ewt/en_ewt-ud-dev.conllu.gz",
        "UDTEST": data / "ud-english-ewt/en_ewt-ud-test.conllu.gz",
        "WTTRAIN": data / "wikitext-2/train.txt.gz",
        "WTVALID": data / "wikitext-2/valid.txt",
        "WTTEST": data / "wikitext-2/test.txt",
        "WNTRAIN": data / "wnut17/wnut17train.conll",
        "WNDEV": data / "wnut17/emerging.dev.conll",
        "WNTEST": data / "wnut17/emerging.test.annotated",
    }
    for key, path in checksums.items():
        text = text.replace(key, md5(path))
    args.output.write_text(text, encoding="utf8")


if __name__ == "__main__":
    main()
