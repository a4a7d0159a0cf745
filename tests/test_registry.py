"""Every entry point of the installed package loads, and every registered
name resolves without importing spacy_elmo first (in a fresh process)."""
import subprocess
import sys
from importlib.metadata import distribution

GROUP_TO_REGISTRY = {
    "spacy_architectures": "architectures",
    "spacy_misc": "misc",
    "spacy_callbacks": "callbacks",
    "spacy_readers": "readers",
    "spacy_loggers": "loggers",
}


def entry_points():
    return [ep for ep in distribution("spacy-elmo").entry_points if ep.group.startswith("spacy_")]


def test_entry_points_declared():
    groups = {ep.group for ep in entry_points()}
    assert {"spacy_factories", "spacy_architectures", "spacy_cli"} <= groups


def test_every_registered_name_resolves_in_a_fresh_process():
    checks = []
    for ep in entry_points():
        if ep.group == "spacy_factories":
            checks.append(f"spacy.blank('en').add_pipe({ep.name!r})")
        elif ep.group in GROUP_TO_REGISTRY:
            checks.append(f"assert callable(spacy.util.registry.{GROUP_TO_REGISTRY[ep.group]}.get({ep.name!r}))")
        else:
            checks.append(f"ep = [e for e in importlib.metadata.distribution('spacy-elmo').entry_points "
                          f"if e.name == {ep.name!r} and e.group == {ep.group!r}][0]; ep.load()")
    code = "import importlib.metadata, spacy\n" + "\n".join(checks) + "\nprint('ok', len(%d * [0]))" % len(checks)
    code += "\nimport sys; assert 'spacy_elmo.pipeline.elmo' in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ok {len(checks)}"


def test_registered_names_are_versioned():
    for ep in entry_points():
        if ep.group not in ("spacy_factories", "spacy_cli"):
            assert ep.name.startswith("spacy-elmo.") and ep.name.rsplit(".", 1)[1].startswith("v")


def test_factory_resolves_from_config_without_import():
    code = (
        "import spacy, sys\n"
        "assert 'spacy_elmo' not in sys.modules\n"
        "nlp = spacy.blank('en'); nlp.add_pipe('elmo')\n"
        "print(nlp.pipe_names)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "elmo" in proc.stdout


def test_ci_tests_the_installed_package():
    """In CI the package is pip-installed (not editable) and tests import it
    from site-packages."""
    import os

    import spacy_elmo

    if os.environ.get("CI"):
        assert "site-packages" in spacy_elmo.__file__, spacy_elmo.__file__
