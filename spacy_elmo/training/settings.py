"""The pretraining config (thinc/confection `Config`, spaCy-style overrides)
validated into plain dataclasses, so a missing, unknown or wrong key fails
before any work with the key's name (and for an unknown one, the closest valid
key, as spaCy's config validation names the field)."""
from dataclasses import asdict, dataclass, fields
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from confection import ConfigValidationError
from thinc.api import Config

from ..bilm.config import BiLMConfig
from ..bilm.precision import PRECISIONS
from ..errors import Errors, OptionsError

OPTIMIZERS = ("adagrad", "adam")
SOFTMAXES = ("auto", "full", "sampled")


@dataclass
class DataSettings:
    train: Union[str, List[str]]
    dev: Union[None, str, List[str]]
    vocab: Optional[str]
    min_count: int
    max_vocab_size: int
    max_line_chars: int


@dataclass
class TrainSettings:
    seed: int
    batch_size: int
    unroll_steps: int
    max_steps: int
    max_epochs: int
    dropout: float
    reset_state_prob: float
    optimizer: str
    learning_rate: float
    adagrad_initial_accumulator: float
    adam_beta1: float
    adam_beta2: float
    grad_clip: float
    softmax: str
    n_samples: int
    full_softmax_max_vocab: int
    eval_every: int
    eval_max_windows: int
    checkpoint_every: int
    precision: str
    init_model: Optional[str]


@dataclass
class PretrainSettings:
    model: BiLMConfig
    data: DataSettings
    training: TrainSettings

    def to_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model.to_options(),
            "data": asdict(self.data),
            "training": asdict(self.training),
        }


# The keys of each section are the fields of the dataclass it fills; [model]
# fills BiLMConfig but for n_characters (262 when training) and extra (keys of
# an options.json that the biLM does not use). [paths] holds the variables the
# config itself declares and interpolates.
CONFIG_KEYS: Dict[str, Tuple[str, ...]] = {
    "model": tuple(f.name for f in fields(BiLMConfig) if f.name not in ("n_characters", "extra")),
    "data": tuple(f.name for f in fields(DataSettings)),
    "training": tuple(f.name for f in fields(TrainSettings)),
}
SECTIONS = ("paths",) + tuple(CONFIG_KEYS)


def load_config(path: Union[str, Path], overrides: Dict[str, Any] = {}):
    """Read a .cfg with thinc's Config, applying `--section.key value` overrides.

    confection adds an override of a key that its section lacks without a
    word, so every override must name a key of CONFIG_KEYS, or a [paths]
    variable that the config declares.
    """
    path = Path(path)
    if not path.exists():
        raise OptionsError(Errors.E013.format(path=path, hint="Pass a config such as configs/bilm_tiny.cfg."))
    try:
        declared = Config().from_disk(path, interpolate=False)
        _check_overrides(path, declared.get("paths", {}), overrides)
        return Config().from_disk(path, overrides=dict(overrides), interpolate=True)
    except ConfigValidationError as err:
        raise OptionsError(Errors.E200.format(path=path, why=str(err).strip())) from None


def _check_overrides(path: Path, paths: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    keys = dict(CONFIG_KEYS, paths=tuple(paths))
    for name in overrides:
        section, _, key = name.rpartition(".")
        where = f"Config override --{name}"
        advice = _advice(section, key, keys, override=True)
        if section not in keys:  # also --max_steps: no section at all
            sections = ", ".join(f"[{s}]" for s in SECTIONS)
            error = Errors.E221.format(where=where, section=section or key, advice=advice, sections=sections)
        elif key in keys[section]:
            continue
        elif section == "paths":
            declared = ", ".join(paths) or "none"
            error = Errors.E222.format(where=where, path=path, key=key, declared=declared, advice=advice)
        else:
            error = Errors.E220.format(where=where, section=section, key=key, advice=advice)
        raise OptionsError(error.strip())


def _check_keys(config: Mapping[str, Any], path: str) -> None:
    """Every section of the config is known, and every key of [model], [data],
    [training] is a field of its dataclass."""
    sections = ", ".join(f"[{s}]" for s in SECTIONS)
    for section in config:
        if section not in SECTIONS:
            advice = _advice(section, "", CONFIG_KEYS, override=False)
            raise OptionsError(Errors.E221.format(where=path, section=section, advice=advice, sections=sections))
    for section, valid in CONFIG_KEYS.items():
        block = config.get(section)
        for key in block if isinstance(block, dict) else ():
            if key not in valid:
                advice = _advice(section, key, CONFIG_KEYS, override=False)
                raise OptionsError(Errors.E220.format(where=path, section=section, key=key, advice=advice).strip())


def _advice(section: str, key: str, keys: Mapping[str, Sequence[str]], override: bool) -> str:
    """'Did you mean --data.max_line_chars? ': the same key in another
    section, else the closest key (difflib), else the section's keys. Without
    a key (an unknown section of the file), the closest section."""
    guess: Optional[str] = None
    if not key:
        close = get_close_matches(section, list(keys), n=1)
        return f"Did you mean [{close[0]}]? " if close else ""
    homes = [s for s, names in keys.items() if key in names]
    if homes:
        guess = f"{homes[0]}.{key}"
    elif section in keys:
        close = get_close_matches(key, keys[section], n=1)
        guess = f"{section}.{close[0]}" if close else None
    else:
        every = [f"{s}.{k}" for s, names in keys.items() for k in names]
        close = get_close_matches(f"{section}.{key}", every, n=1)
        guess = close[0] if close else None
    if guess is not None:
        home, name = guess.split(".", 1)
        return f"Did you mean --{guess}? " if override else f"Did you mean [{home}] {name}? "
    if section in keys and keys[section]:
        return f"The keys of [{section}] are: {', '.join(keys[section])}. "
    return ""


def parse_settings(config: Dict[str, Any], path: str = "config") -> PretrainSettings:
    """Validate every key of [model], [data], [training].

    config (Dict[str, Any]): the interpolated config.
    path (str): where it came from, for messages.
    """
    _check_keys(config, path)

    def get(section: str, key: str, kind: Tuple[type, ...], check=None, why: str = "") -> Any:
        block = config.get(section)
        if not isinstance(block, dict) or key not in block:
            raise OptionsError(Errors.E205.format(path=path, key=f"{section}.{key}"))
        value = block[key]
        if value is None and type(None) in kind:
            return value
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in kind)
        if ok and check is not None:
            ok = check(value)
        if not ok:
            names = "/".join(k.__name__ for k in kind)
            raise OptionsError(
                Errors.E206.format(path=path, key=f"{section}.{key}", value=value, why=why or f"expected {names}")
            )
        return value

    pos = lambda v: v > 0  # noqa: E731
    nonneg = lambda v: v >= 0  # noqa: E731
    num = (int, float)
    clip = lambda key: get("model", key, (int, float, type(None)), pos, "a positive number or null")  # noqa: E731
    filters = get("model", "filters", (list, tuple), lambda v: len(v) > 0, "a list of [width, n_filters]")
    options = {
        "lstm": {
            "dim": get("model", "lstm_dim", (int,), pos),
            "projection_dim": get("model", "projection_dim", (int,), pos),
            "n_layers": get("model", "n_layers", (int,), pos),
            "cell_clip": clip("cell_clip"),
            "proj_clip": clip("proj_clip"),
            "use_skip_connections": get("model", "use_skip_connections", (bool,)),
        },
        "char_cnn": {
            "embedding": {"dim": get("model", "char_dim", (int,), pos)},
            "filters": [list(f) for f in filters],
            "n_highway": get("model", "n_highway", (int,), nonneg),
            "n_characters": 262,
            "max_characters_per_token": get("model", "max_chars", (int,), pos),
            "activation": get("model", "activation", (str,)),
        },
    }
    options["lstm"] = {k: v for k, v in options["lstm"].items() if v is not None}
    model = BiLMConfig.from_options(options, path=f"{path} [model]")
    data = DataSettings(
        train=get("data", "train", (str, list), why="a path, glob or comma-separated paths (pass --paths.train)"),
        dev=get("data", "dev", (str, list, type(None))),
        vocab=get("data", "vocab", (str, type(None))),
        min_count=get("data", "min_count", (int,), pos),
        max_vocab_size=get("data", "max_vocab_size", (int,), nonneg, "0 (no limit) or a size >= 4"),
        max_line_chars=get("data", "max_line_chars", (int,), pos),
    )
    training = TrainSettings(
        seed=get("training", "seed", (int,)),
        batch_size=get("training", "batch_size", (int,), pos),
        unroll_steps=get("training", "unroll_steps", (int,), pos),
        max_steps=get("training", "max_steps", (int,), nonneg, "0 (until max_epochs) or more"),
        max_epochs=get("training", "max_epochs", (int,), nonneg, "0 (until max_steps) or more"),
        dropout=get("training", "dropout", num, lambda v: 0 <= v < 1, "a probability in [0, 1)"),
        reset_state_prob=get(
            "training", "reset_state_prob", num, lambda v: 0 <= v <= 1, "a probability in [0, 1]"
        ),
        optimizer=get("training", "optimizer", (str,), lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}"),
        learning_rate=get("training", "learning_rate", num, pos),
        adagrad_initial_accumulator=get("training", "adagrad_initial_accumulator", num, nonneg),
        adam_beta1=get("training", "adam_beta1", num, lambda v: 0 <= v < 1),
        adam_beta2=get("training", "adam_beta2", num, lambda v: 0 <= v < 1),
        grad_clip=get("training", "grad_clip", num, nonneg, "0 (off) or a positive norm"),
        softmax=get("training", "softmax", (str,), lambda v: v in SOFTMAXES, f"one of {SOFTMAXES}"),
        n_samples=get("training", "n_samples", (int,), pos),
        full_softmax_max_vocab=get("training", "full_softmax_max_vocab", (int,), nonneg),
        eval_every=get("training", "eval_every", (int,), nonneg, "0 (only at the end) or more"),
        eval_max_windows=get("training", "eval_max_windows", (int,), nonneg, "0 (whole dev set) or more"),
        checkpoint_every=get("training", "checkpoint_every", (int,), nonneg),
        precision=get("training", "precision", (str,), lambda v: v in PRECISIONS, f"one of {PRECISIONS}"),
        init_model=get("training", "init_model", (str, type(None)), why="a model directory or null"),
    )
    if training.init_model is not None and data.vocab is not None:
        raise OptionsError(
            Errors.E206.format(
                path=path, key="data.vocab", value=data.vocab,
                why="training.init_model brings its own vocab.txt; set one of the two",
            )
        )
    if not training.max_steps and not training.max_epochs:
        raise OptionsError(
            Errors.E206.format(
                path=path, key="training.max_steps", value=0,
                why="set training.max_steps or training.max_epochs (or both) so training ends",
            )
        )
    return PretrainSettings(model=model, data=data, training=training)
