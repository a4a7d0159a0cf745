"""The pretraining config (thinc/confection `Config`, spaCy-style overrides)
validated against a typed schema: one pydantic dataclass per section, each
field's type, range and what-to-write in one place. A missing, unknown or
wrong key fails before any work with the key's name (and for an unknown one,
the closest valid key, as spaCy's config validation names the field)."""
from dataclasses import asdict, dataclass, fields
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from confection import ConfigValidationError
from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError
from pydantic import dataclasses as pydantic_dataclasses
from thinc.api import Config
from typing_extensions import Annotated

from ..bilm.config import BiLMConfig
from ..bilm.precision import PRECISIONS
from ..errors import Errors, OptionsError

OPTIMIZERS = ("adagrad", "adam")
SOFTMAXES = ("auto", "full", "sampled")

Number = Union[StrictInt, StrictFloat]
# What an E206 message says a key needs, when its description does not say more.
INT, NUMBER, STR, BOOL = "expected int", "expected int/float", "expected str", "expected bool"
POS_INT, NONNEG_INT = "expected int > 0", "expected int >= 0"
POS_NUMBER, NONNEG_NUMBER = "expected int/float > 0", "expected int/float >= 0"


def _one_of(values: Tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"one of {values}")
        return value

    return check


_SCHEMA = ConfigDict(extra="forbid")


@pydantic_dataclasses.dataclass(config=_SCHEMA)
class ModelSettings:
    """[model]: BiLMConfig's fields but for n_characters (262 when training)
    and extra (keys of an options.json that the biLM does not use)."""

    lstm_dim: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    projection_dim: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    n_layers: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    cell_clip: Annotated[Optional[Number], Field(gt=0, description="a positive number or null")]
    proj_clip: Annotated[Optional[Number], Field(gt=0, description="a positive number or null")]
    use_skip_connections: Annotated[StrictBool, Field(description=BOOL)]
    char_dim: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    filters: Annotated[List[Any], Field(min_length=1, description="a list of [width, n_filters]")]
    n_highway: Annotated[StrictInt, Field(ge=0, description=NONNEG_INT)]
    max_chars: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    activation: Annotated[StrictStr, Field(description=STR)]

    def to_options(self) -> Dict[str, Any]:
        """The options.json layout that BiLMConfig.from_options reads."""
        lstm = {
            "dim": self.lstm_dim,
            "projection_dim": self.projection_dim,
            "n_layers": self.n_layers,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
            "use_skip_connections": self.use_skip_connections,
        }
        return {
            "lstm": {k: v for k, v in lstm.items() if v is not None},
            "char_cnn": {
                "embedding": {"dim": self.char_dim},
                "filters": [list(f) for f in self.filters],
                "n_highway": self.n_highway,
                "n_characters": 262,
                "max_characters_per_token": self.max_chars,
                "activation": self.activation,
            },
        }


@pydantic_dataclasses.dataclass(config=_SCHEMA)
class DataSettings:
    train: Annotated[
        Union[StrictStr, List[StrictStr]], Field(description="a path, glob or comma-separated paths (pass --paths.train)")
    ]
    dev: Annotated[Union[None, StrictStr, List[StrictStr]], Field(description="expected str/list/NoneType")]
    vocab: Annotated[Optional[StrictStr], Field(description="expected str/NoneType")]
    min_count: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    max_vocab_size: Annotated[StrictInt, Field(ge=0, description="0 (no limit) or a size >= 4")]
    max_line_chars: Annotated[StrictInt, Field(gt=0, description=POS_INT)]


@pydantic_dataclasses.dataclass(config=_SCHEMA)
class TrainSettings:
    seed: Annotated[StrictInt, Field(description=INT)]
    batch_size: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    unroll_steps: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    max_steps: Annotated[StrictInt, Field(ge=0, description="0 (until max_epochs) or more")]
    max_epochs: Annotated[StrictInt, Field(ge=0, description="0 (until max_steps) or more")]
    dropout: Annotated[Number, Field(ge=0, lt=1, description="a probability in [0, 1)")]
    reset_state_prob: Annotated[Number, Field(ge=0, le=1, description="a probability in [0, 1]")]
    optimizer: Annotated[StrictStr, AfterValidator(_one_of(OPTIMIZERS)), Field(description=f"one of {OPTIMIZERS}")]
    learning_rate: Annotated[Number, Field(gt=0, description=POS_NUMBER)]
    adagrad_initial_accumulator: Annotated[Number, Field(ge=0, description=NONNEG_NUMBER)]
    adam_beta1: Annotated[Number, Field(ge=0, lt=1, description="a number in [0, 1)")]
    adam_beta2: Annotated[Number, Field(ge=0, lt=1, description="a number in [0, 1)")]
    grad_clip: Annotated[Number, Field(ge=0, description="0 (off) or a positive norm")]
    softmax: Annotated[StrictStr, AfterValidator(_one_of(SOFTMAXES)), Field(description=f"one of {SOFTMAXES}")]
    n_samples: Annotated[StrictInt, Field(gt=0, description=POS_INT)]
    full_softmax_max_vocab: Annotated[StrictInt, Field(ge=0, description=NONNEG_INT)]
    eval_every: Annotated[StrictInt, Field(ge=0, description="0 (only at the end) or more")]
    eval_max_windows: Annotated[StrictInt, Field(ge=0, description="0 (whole dev set) or more")]
    checkpoint_every: Annotated[StrictInt, Field(ge=0, description=NONNEG_INT)]
    precision: Annotated[StrictStr, AfterValidator(_one_of(PRECISIONS)), Field(description=f"one of {PRECISIONS}")]
    init_model: Annotated[Optional[StrictStr], Field(description="a model directory or null")]


@pydantic_dataclasses.dataclass(config=_SCHEMA)
class _Sections:
    model: ModelSettings
    data: DataSettings
    training: TrainSettings


_VALIDATOR = TypeAdapter(_Sections)


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


# The keys of each section are the fields of its schema; [paths] holds the
# variables the config itself declares and interpolates.
SCHEMAS: Dict[str, Any] = {"model": ModelSettings, "data": DataSettings, "training": TrainSettings}
CONFIG_KEYS: Dict[str, Tuple[str, ...]] = {name: tuple(f.name for f in fields(cls)) for name, cls in SCHEMAS.items()}
SECTIONS = ("paths",) + tuple(CONFIG_KEYS)


def load_config(path: Union[str, Path], overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """Read a .cfg with thinc's Config, applying `--section.key value` overrides.

    confection adds an override of a key that its section lacks without a
    word, so every override must name a key of CONFIG_KEYS, or a [paths]
    variable that the config declares.
    """
    path = Path(path)
    overrides = dict(overrides or {})
    if not path.exists():
        raise OptionsError(Errors.E013.format(path=path, hint="Pass a config such as configs/bilm_tiny.cfg."))
    try:
        declared = Config().from_disk(path, interpolate=False)
        _check_overrides(path, declared.get("paths", {}), overrides)
        return Config().from_disk(path, overrides=overrides, interpolate=True)
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
    [training] is a field of its schema (named with the closest valid key)."""
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


def _schema_error(config: Mapping[str, Any], path: str, err: ValidationError) -> OptionsError:
    """The first problem pydantic found, as today's E205 (missing) or E206
    (wrong type or range, with what the key needs)."""
    first = err.errors()[0]
    section = str(first["loc"][0])
    if len(first["loc"]) == 1:  # the whole section is missing
        return OptionsError(Errors.E205.format(path=path, key=f"{section}.{CONFIG_KEYS[section][0]}"))
    key = str(first["loc"][1])
    if first["type"] == "missing":
        return OptionsError(Errors.E205.format(path=path, key=f"{section}.{key}"))
    why = SCHEMAS[section].__pydantic_fields__[key].description
    return OptionsError(Errors.E206.format(path=path, key=f"{section}.{key}", value=config[section][key], why=why))


def parse_settings(config: Dict[str, Any], path: str = "config") -> PretrainSettings:
    """Validate every key of [model], [data], [training].

    config (Dict[str, Any]): the interpolated config.
    path (str): where it came from, for messages.
    """
    _check_keys(config, path)
    try:
        sections = _VALIDATOR.validate_python({name: config.get(name) for name in SCHEMAS})
    except ValidationError as err:
        raise _schema_error(config, path, err) from None
    model = BiLMConfig.from_options(sections.model.to_options(), path=f"{path} [model]")
    data, training = sections.data, sections.training
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
