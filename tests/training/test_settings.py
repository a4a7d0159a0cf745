"""The pretraining config: unknown sections and keys, in the file or in
`--section.key value` overrides, are errors that name the key and the closest
valid one (confection itself adds an override of an unknown key silently)."""
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.cli import app
from spacy_elmo.errors import OptionsError
from spacy_elmo.training.settings import CONFIG_KEYS, DataSettings, TrainSettings, load_config, parse_settings

from helpers import ROOT, TINY_CFG

runner = CliRunner()


def _load(overrides, path=TINY_CFG):
    return parse_settings(load_config(path, dict({"paths.train": "x"}, **overrides)), path=str(path))


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"training.max_stepz": 5}, r"^Config override --training\.max_stepz: \[training\] has no key 'max_stepz'\. "
                                    r"Did you mean --training\.max_steps\?$"),
        # the key lives in [data]: the other section is named, not a look-alike of [training]
        ({"training.max_line_chars": 200_000}, r"--training\.max_line_chars: \[training\] has no key 'max_line_chars'\. "
                                               r"Did you mean --data\.max_line_chars\?"),
        ({"model.lstm_dims": 64}, r"\[model\] has no key 'lstm_dims'\. Did you mean --model\.lstm_dim\?"),
        ({"training.zzz": 1}, r"\[training\] has no key 'zzz'\. The keys of \[training\] are: seed, batch_size, "),
        ({"trainig.max_steps": 5}, r"--trainig\.max_steps: a pretraining config has no section \[trainig\]\. "
                                   r"Did you mean --training\.max_steps\? Its sections are \[paths\], \[model\], "
                                   r"\[data\], \[training\]"),
        # [paths] holds the config's own variables: a typo there is as silent
        ({"paths.trian": "corpus.txt"}, r"--paths\.trian: .*bilm_tiny\.cfg declares no variable 'trian' in \[paths\] "
                                        r"\(it declares train, dev, vocab, init_model\)\. Did you mean --paths\.train\?"),
    ],
)
def test_unknown_override_names_the_closest_key(overrides, match):
    with pytest.raises(OptionsError, match=match):
        _load(overrides)


@pytest.mark.parametrize(
    "old,new,match",
    [
        ("max_steps = 300\n", "max_steps = 300\nmax_stepz = 5\n",
         r"broken\.cfg: \[training\] has no key 'max_stepz'\. Did you mean \[training\] max_steps\?$"),
        ("max_line_chars = 20000\n", "", None),  # moved into [training] below
        ("[training]\n", "[trainig]\n", r"no section \[trainig\]\. Did you mean \[training\]\?"),
    ],
)
def test_unknown_key_in_the_config_file_names_the_closest_key(tmp_path, old, new, match):
    text = TINY_CFG.read_text().replace(old, new)
    if match is None:
        text = text.replace("max_steps = 300\n", "max_steps = 300\nmax_line_chars = 200000\n")
        match = r"\[training\] has no key 'max_line_chars'\. Did you mean \[data\] max_line_chars\?"
    path = tmp_path / "broken.cfg"
    path.write_text(text)
    with pytest.raises(OptionsError, match=match):
        _load({}, path)


def test_a_spacy_training_config_is_not_a_pretraining_config():
    with pytest.raises(OptionsError, match=r"ner_elmo\.cfg: a pretraining config has no section \[\w+\]\..*"
                                           r"Its sections are \[paths\], \[model\], \[data\], \[training\]"):
        _load({}, ROOT / "configs" / "ner_elmo.cfg")


def test_unknown_override_fails_on_the_command_line_before_any_work(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["pretrain", str(TINY_CFG), str(out), "--paths.train", str(TINY_CFG),
                                 "--training.max_stepz", "5"])
    assert result.exit_code == 1, result.output
    assert "Did you mean --training.max_steps?" in " ".join(result.output.split())
    assert not out.exists()


def test_valid_keys_are_the_settings_fields_and_every_pretraining_config_has_them_all():
    assert set(CONFIG_KEYS["data"]) == {f.name for f in fields(DataSettings)}
    assert set(CONFIG_KEYS["training"]) == {f.name for f in fields(TrainSettings)}
    assert set(CONFIG_KEYS["model"]) == {f.name for f in fields(BiLMConfig)} - {"n_characters", "extra"}
    for name in ("bilm_tiny", "bilm_small", "bilm_full"):
        config = load_config(ROOT / "configs" / f"{name}.cfg", {"paths.train": "x"})
        for section, keys in CONFIG_KEYS.items():
            assert set(config[section]) == set(keys), (name, section)
        # every key can be overridden (with its own value)
        values = {f"{s}.{k}": config[s][k] for s in CONFIG_KEYS for k in CONFIG_KEYS[s]}
        values.update({f"paths.{k}": v for k, v in config["paths"].items()})
        assert _load(values, ROOT / "configs" / f"{name}.cfg").to_dict() == _load({}, ROOT / "configs" / f"{name}.cfg").to_dict()
