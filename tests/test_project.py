"""The project.yml `ci` workflow runs end to end in a temporary copy."""
import json
import shutil
import subprocess
import sys

import srsly

from conftest import ROOT


def test_weasel_ci_workflow(tmp_path, shared_data):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    ud_dir = shared_data / "ud-english-ewt"
    proc = subprocess.run(
        [sys.executable, "-m", "weasel", "run", "ci", str(project), "--vars.ud_dir", str(ud_dir)],
        capture_output=True, text=True, cwd=project,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    config = srsly.read_yaml(project / "project.yml")
    ci_steps = config["workflows"]["ci"]
    commands = {c["name"]: c for c in config["commands"]}
    for step in ci_steps:
        for output in commands[step].get("outputs", []):
            assert (project / output).exists(), output
    metrics = json.loads((project / "metrics" / "ci.json").read_text())
    assert 0.0 < metrics["tag_acc"] <= 1.0
