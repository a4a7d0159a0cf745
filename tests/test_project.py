"""The project.yml `ci` workflow runs end to end in a temporary copy: corpus ->
word2vec -> vectors -> biLM -> adaptation -> tagger/NER seven ways (one command
per training run) -> evaluation -> results -> demo -> package; then the package
installs into a fresh venv and loads."""
import json
import re
import shutil
import site
import subprocess
import sys
import venv

import pytest
import srsly

from helpers import ROOT


@pytest.fixture(scope="module")
def ci_project(tmp_path_factory, shared_data):
    project = tmp_path_factory.mktemp("project")
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    overrides = ["--vars.ud_dir", str(shared_data / "ud-english-ewt"), "--vars.wikitext_dir", str(shared_data / "wikitext-2"),
                 "--vars.wnut_dir", str(shared_data / "wnut17")]
    proc = subprocess.run([sys.executable, "-m", "weasel", "run", "ci", str(project), *overrides],
                          capture_output=True, text=True, cwd=project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return project, proc.stdout


def test_ci_workflow_outputs_and_results(ci_project):
    project, stdout = ci_project
    config = srsly.read_yaml(project / "project.yml")
    commands = {c["name"]: c for c in config["commands"]}
    for scale in ("ci", "small"):  # the scaled-down workflows run the same steps as `all`
        assert [s.removesuffix(f"-{scale}") for s in config["workflows"][scale]] == config["workflows"]["all"]
    for step in config["workflows"]["ci"]:
        for output in commands[step].get("outputs", []) + commands[step].get("outputs_no_cache", []):
            output = output.replace("${vars.lang}", "en").replace("${vars.ci_package_name}", "elmo_tagger_ci")
            output = output.replace("${vars.package_version}", config["vars"]["package_version"])
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


def test_project_yml_is_the_generators_output(tmp_path, shared_data):
    """project.yml is written by scripts/gen_project.py (three scales from one
    description, asset checksums from the data): the two must not drift apart."""
    out = tmp_path / "project.yml"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_project.py"), "--output", str(out), "--data-dir", str(shared_data)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf8") == (ROOT / "project.yml").read_text(encoding="utf8")
    workflows = srsly.yaml_loads(out.read_text(encoding="utf8"))["workflows"]
    assert set(workflows) == {"all", "small", "ci"}
    assert len(workflows["all"]) == len(workflows["small"]) == len(workflows["ci"])


@pytest.mark.parametrize("workflow", ["all", "small", "ci"])
def test_one_command_per_training_run_with_exact_deps(workflow):
    """Every training run (biLM pretraining, adaptation, each task x variant)
    is its own command, so a failure reruns only that run; every dep is a file
    of the project or data or an output of an earlier step; the results step
    depends on every evaluation's scores."""
    from weasel.util import load_project_config

    config = load_project_config(ROOT)
    commands = {c["name"]: c for c in config["commands"]}
    produced = set()
    for step in config["workflows"][workflow]:
        command = commands[step]
        script = " ".join(command["script"])
        assert script.count("spacy train ") + script.count("spacy elmo pretrain ") <= 1, step
        assert script.count("spacy evaluate ") <= 1, step
        for dep in command.get("deps", []):
            assert dep in produced or (ROOT / dep).exists(), (step, dep)
        produced.update(command.get("outputs", []))
    steps = [commands[s] for s in config["workflows"][workflow]]
    trainings = [c for c in steps if "spacy train " in " ".join(c["script"])]
    assert len(trainings) == 14  # 2 tasks x 7 variants
    scores = {o for c in steps if "spacy evaluate " in " ".join(c["script"]) for o in c["outputs"]}
    assert len(scores) == 14
    results = next(c for c in steps if c["name"].startswith("results"))
    assert scores <= set(results["deps"])
