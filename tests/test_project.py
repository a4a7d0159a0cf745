"""project.yml's `all` workflow at the ci scale (configs/scale_ci.vars) runs end
to end in a temporary copy: corpus -> word2vec -> vectors -> biLM -> adaptation
-> tagger/NER seven ways (one command per training run) -> evaluation ->
results -> demo -> package; then the package installs into a fresh venv and
loads."""
import json
import re
import shutil
import site
import subprocess
import sys
import venv

import pytest
import srsly

from weasel.util import load_project_config, parse_config_overrides

from helpers import ROOT

SCALES = {"full": [], "small": (ROOT / "configs" / "scale_small.vars").read_text().split(),
          "ci": (ROOT / "configs" / "scale_ci.vars").read_text().split()}


def overrides(args):
    """`--vars.NAME VALUE ...` as `weasel run` reads them."""
    return parse_config_overrides(args, env_var=None)


@pytest.fixture(scope="module")
def ci_project(tmp_path_factory, shared_data):
    project = tmp_path_factory.mktemp("project")
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    overrides = ["--vars.ud_dir", str(shared_data / "ud-english-ewt"), "--vars.wikitext_dir", str(shared_data / "wikitext-2"),
                 "--vars.wnut_dir", str(shared_data / "wnut17")]
    proc = subprocess.run([sys.executable, "-m", "weasel", "run", "all", str(project), *SCALES["ci"], *overrides],
                          capture_output=True, text=True, cwd=project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return project, proc.stdout


def test_ci_workflow_outputs_and_results(ci_project):
    project, stdout = ci_project
    config = load_project_config(project, overrides=overrides(SCALES["ci"]))
    commands = {c["name"]: c for c in config["commands"]}
    for step in config["workflows"]["all"]:
        for output in commands[step].get("outputs", []) + commands[step].get("outputs_no_cache", []):
            assert (project / output).exists(), output
    # the results table: 7 variants x 2 tasks, every score a number in [0, 100]
    table = (project / "metrics" / "ci_results.md").read_text(encoding="utf8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| task") and "---" not in line]
    assert len(rows) == 14
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert 0.0 <= float(cells[2]) <= 100.0
        assert float(cells[4].replace(",", "")) > 0  # inference words/s
    assert re.search(r"forward \d+\.\d, backward \d+\.\d, mean \d+\.\d", table)
    assert re.search(r"dev text \(forward / backward\): \d+\.\d / \d+\.\d before adaptation, \d+\.\d / \d+\.\d after", table)
    tagger = json.loads((project / "metrics" / "ci_tagger_baseline.json").read_text())
    assert 0.0 < tagger["tag_acc"] <= 1.0
    for png in ("pretrain_curve.png", "accuracy.png"):
        assert (project / "metrics" / "ci_plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the word2vec vectors were trained and converted
    import spacy

    assert spacy.load(project / "training" / "ci_vectors").vocab.vectors.shape[1] == 16
    assert stdout.count("nearest by ELMo:") == 10


def test_package_installs_and_loads_in_a_fresh_venv(ci_project, tmp_path):
    """`spacy package` lists spacy-elmo in the requirements (every registered
    function comes from the installed package), and the built sdist installs
    into a new venv and loads there."""
    project, _ = ci_project
    out = tmp_path / "dist"
    out.mkdir()
    subprocess.run([sys.executable, "-m", "spacy", "package", str(project / "training" / "ci_tagger_elmo" / "model-best"),
                    str(out), "--name", "elmo_tagger_t", "--version", "0.0.1", "--build", "sdist"],
                   check=True, capture_output=True, text=True)
    meta = json.loads(next(out.glob("*/meta.json")).read_text())
    assert any(r.startswith("spacy-elmo") for r in meta["requirements"]), meta["requirements"]
    sdist = next(out.glob("*/dist/*.tar.gz"))
    # A fresh venv whose dependencies (spacy, torch, spacy-elmo) come from this
    # environment's site-packages through a .pth file: no download, and the
    # package itself is installed only in the new venv.
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    site_dir = next((env / "lib").glob("python3*/site-packages"))
    (site_dir / "_parent_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages()))
    python = env / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(sdist)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    code = ("import spacy; nlp = spacy.load('en_elmo_tagger_t'); doc = nlp('The bank raised its rates .'); "
            "print(nlp.pipe_names, [t.tag_ for t in doc], doc._.elmo.shape)")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "['elmo', 'tagger']" in proc.stdout


def test_scales_set_only_vars_that_project_yml_has():
    """A scale is a set of var values: a misspelt name in a .vars file would
    leave the full run's value in place without a word."""
    names = set(srsly.read_yaml(ROOT / "project.yml")["vars"])
    for scale in ("small", "ci"):
        args = SCALES[scale]
        assert len(args) % 2 == 0 and all(a.startswith("--vars.") for a in args[::2]), scale
        assert {a[len("--vars."):] for a in args[::2]} <= names, scale


@pytest.mark.parametrize("scale", ["full", "small", "ci"])
def test_one_command_per_training_run_with_exact_deps(scale):
    """Every training run (biLM pretraining, adaptation, each task x variant)
    is its own command, so a failure reruns only that run; every dep is a file
    of the project or data or an output of an earlier step; the results step
    depends on every evaluation's scores."""
    config = load_project_config(ROOT, overrides=overrides(SCALES[scale]))
    commands = {c["name"]: c for c in config["commands"]}
    produced = set()
    for step in config["workflows"]["all"]:
        command = commands[step]
        script = " ".join(command["script"])
        assert script.count("spacy train ") + script.count("spacy elmo pretrain ") <= 1, step
        assert script.count("spacy evaluate ") <= 1, step
        for dep in command.get("deps", []):
            assert dep in produced or (ROOT / dep).exists(), (step, dep)
        produced.update(command.get("outputs", []))
    steps = [commands[s] for s in config["workflows"]["all"]]
    trainings = [c for c in steps if "spacy train " in " ".join(c["script"])]
    assert len(trainings) == 14  # 2 tasks x 7 variants
    scores = {o for c in steps if "spacy evaluate " in " ".join(c["script"]) for o in c["outputs"]}
    assert len(scores) == 14
    results = next(c for c in steps if c["name"].startswith("results"))
    assert scores <= set(results["deps"])
