"""Read ELMoForManyLangs (EFML) model directories into the project's biLM.

A directory (EFML_FORMAT.md section 1): `config.json` (whose `config_path`
names the architecture file, resolved as EFML resolves it), `char.dic`,
`word.dic`, `token_embedder.pkl` and `encoder.pkl` (torch state dicts, read
with weights_only=True only). Everything is checked before the model is
built: files, architecture keys, vocabularies, state-dict keys and shapes.

The weights are converted into bilm-tf's names and orientation (what a
weights.hdf5 holds) and copied in by `io.weights.load_arrays`, the loader of
bilm-tf files; only the parts bilm-tf has no place for (the char table over
char.dic, the word table and the projection's word columns) are set here.
The conversion is exact (EFML_FORMAT.md section 11): LSTM gate blocks
reordered (i, f, g, o) -> (i, j=g, f, o) and the stored forget bias minus the
1.0 that bilm-tf adds at run time; the highway gate negated (EFML's gate
carries the input, bilm-tf's carries the transform: sigmoid(-z) = 1 - sigmoid(z)).
"""
import json
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy
import torch

from ..bilm.config import ACTIVATIONS, BiLMConfig
from ..bilm.efml import CHAR_SPECIALS, WORD_SPECIALS, EfmlBiLM, EfmlVocab
from ..errors import Errors, OptionsError, WeightsError
from .weights import LSTM_PREFIX, load_arrays

PathLike = Union[str, Path]
CONFIG_NAME = "config.json"
CHAR_DIC = "char.dic"
WORD_DIC = "word.dic"
TOKEN_PKL = "token_embedder.pkl"
ENCODER_PKL = "encoder.pkl"
SHIPPED_DIR = Path(__file__).parent.parent / "data" / "efml"
# The architecture files EFML's package ships (byte-identical, whatever the
# name says: every published model's shape), by the basename config_path uses.
SHIPPED = {
    "cnn_50_100_512_4096_sample.json": SHIPPED_DIR / "cnn_50_100_512_4096_sample.json",
    "cnn_0_100_512_4096_sample.json": SHIPPED_DIR / "cnn_50_100_512_4096_sample.json",
}
StateDict = Dict[str, torch.Tensor]


@dataclass(frozen=True)
class EfmlArchitecture:
    """An EFML architecture file, validated.

    config (BiLMConfig): the biLM (char_dim 0 and no filters when word-only).
    word_dim (int): width of the word table (0: char-only).
    raw (dict): the file's JSON (saved with the model).
    path (str): where it came from.
    """

    config: BiLMConfig
    word_dim: int
    raw: Dict[str, Any]
    path: str


def is_efml_dir(path: PathLike) -> bool:
    """Whether `path` is an EFML model directory, by content: no bilm-tf
    options.json, and a config.json holding a `config_path` or EFML's
    pickles (so that a broken EFML folder gets EFML's errors)."""
    path = Path(path)
    if not path.is_dir() or (path / "options.json").exists():
        return False
    if (path / ENCODER_PKL).exists() or (path / TOKEN_PKL).exists():
        return True
    try:
        data = json.loads((path / CONFIG_NAME).read_text(encoding="utf8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "config_path" in data


def architecture_path(model_dir: PathLike) -> Path:
    """The architecture file of a model directory, found as EFML's Embedder
    finds it: config_path joined to the directory (an absolute path replaces
    it), else its basename in the directory, else the shipped file of that name."""
    model_dir = Path(model_dir)
    config_file = model_dir / CONFIG_NAME
    if not config_file.is_file():
        raise OptionsError(Errors.E400.format(path=model_dir, why=f"there is no {CONFIG_NAME}"))
    try:
        data = json.loads(config_file.read_text(encoding="utf8"))
    except (ValueError, RecursionError) as err:
        raise OptionsError(Errors.E401.format(path=config_file, why=f"not valid JSON ({err})")) from None
    if not isinstance(data, dict) or not isinstance(data.get("config_path"), str) or not data["config_path"]:
        why = "it has no 'config_path' string"
        raise OptionsError(Errors.E401.format(path=config_file, why=why))
    given = data["config_path"]
    base = os.path.basename(given.replace("\\", "/"))
    tried: List[Path] = [Path(os.path.join(str(model_dir), given)), model_dir / base]
    if base in SHIPPED:
        tried.append(SHIPPED[base])
    for candidate in tried:
        if candidate.is_file():
            return candidate
    places = ", ".join(str(p) for p in tried)
    if base not in SHIPPED:
        places += f" (spacy-elmo ships only {', '.join(SHIPPED)})"
    raise OptionsError(Errors.E402.format(path=config_file, config_path=given, tried=places))


def read_architecture(path: PathLike) -> EfmlArchitecture:
    """Parse and validate an EFML architecture file."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf8"))
    except (ValueError, RecursionError) as err:
        raise OptionsError(Errors.E403.format(path=path, err=err)) from None
    return parse_architecture(raw, str(path))


def parse_architecture(raw: Any, path: str) -> EfmlArchitecture:
    """`read_architecture` for parsed JSON; `path` names it in messages."""

    def section(key: str) -> Dict[str, Any]:
        if not isinstance(raw, dict) or key not in raw:
            raise OptionsError(Errors.E404.format(path=path, key=key))
        if not isinstance(raw[key], dict):
            raise OptionsError(Errors.E405.format(path=path, key=key, value=_short(raw[key]), why="expected a JSON object"))
        return raw[key]

    def get(part: Dict[str, Any], name: str, key: str) -> Any:
        if key not in part:
            raise OptionsError(Errors.E404.format(path=path, key=f"{name}.{key}"))
        return part[key]

    def integer(part: Dict[str, Any], name: str, key: str, minimum: int) -> int:
        value = get(part, name, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            why = f"expected an integer >= {minimum}"
            raise OptionsError(Errors.E405.format(path=path, key=f"{name}.{key}", value=_short(value), why=why))
        return value

    def clip(part: Dict[str, Any], key: str) -> Optional[float]:
        value = get(part, "encoder", key)  # EFML reads it unconditionally
        if value is None or value is False or value == 0:
            return None  # EFML tests the value for truth: 0 / null = no clipping
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and value > 0):
            why = "expected a positive number, or 0 / null for no clipping"
            raise OptionsError(Errors.E405.format(path=path, key=f"encoder.{key}", value=_short(value), why=why))
        return float(value)

    encoder, embedder = section("encoder"), section("token_embedder")
    name = get(encoder, "encoder", "name")
    if not isinstance(name, str) or name.lower() != "elmo":
        why = ("EFML's LstmbiLm returns one vector per token, not ELMo layers"
               if isinstance(name, str) and name.lower() == "lstm" else "unknown encoder")
        raise OptionsError(Errors.E407.format(path=path, name=name, why=why))
    kind = get(embedder, "token_embedder", "name")
    if not isinstance(kind, str) or kind.lower() != "cnn":
        why = ("EFML's own forward pass crashes with a char LSTM (its h_n is reshaped to 2-D)"
               if isinstance(kind, str) and kind.lower() == "lstm" else "unknown token embedder")
        raise OptionsError(Errors.E406.format(path=path, name=kind, why=why))
    word_dim = integer(embedder, "token_embedder", "word_dim", 0)
    char_dim = integer(embedder, "token_embedder", "char_dim", 0)
    if not word_dim and not char_dim:
        raise OptionsError(Errors.E405.format(
            path=path, key="token_embedder.word_dim", value=0, why="word_dim and char_dim are both 0: no input"))
    max_chars = integer(embedder, "token_embedder", "max_characters_per_token", 3)
    filters: List[Tuple[int, int]] = []
    n_highway = 0
    activation = "relu"
    if char_dim:
        activation = get(embedder, "token_embedder", "activation")
        if activation not in ACTIVATIONS:
            raise OptionsError(Errors.E405.format(
                path=path, key="token_embedder.activation", value=_short(activation), why=f"expected one of {ACTIVATIONS}"))
        raw_filters = get(embedder, "token_embedder", "filters")
        ok = isinstance(raw_filters, list) and raw_filters and all(
            isinstance(f, list) and len(f) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in f)
            for f in raw_filters
        )
        if not ok:
            why = "expected a non-empty list of [width, n_filters] pairs of positive integers"
            raise OptionsError(Errors.E405.format(path=path, key="token_embedder.filters", value=_short(raw_filters), why=why))
        filters = [(w, n) for w, n in raw_filters]
        widest = max(w for w, _ in filters)
        if widest > max_chars:
            why = f"a filter of width {widest} is wider than max_characters_per_token ({max_chars})"
            raise OptionsError(Errors.E405.format(path=path, key="token_embedder.filters", value=_short(raw_filters), why=why))
        n_highway = integer(embedder, "token_embedder", "n_highway", 0)
    config = BiLMConfig(
        lstm_dim=integer(encoder, "encoder", "dim", 1),
        projection_dim=integer(encoder, "encoder", "projection_dim", 1),
        n_layers=integer(encoder, "encoder", "n_layers", 1),
        cell_clip=clip(encoder, "cell_clip"),
        proj_clip=clip(encoder, "proj_clip"),
        use_skip_connections=True,  # EFML's ElmobiLm always adds them
        char_dim=char_dim,
        filters=tuple(filters),
        n_highway=n_highway,
        max_chars=max_chars,
        activation=activation,
    )
    return EfmlArchitecture(config=config, word_dim=word_dim, raw=raw, path=path)


def read_dic(path: PathLike) -> Dict[str, int]:
    """A char.dic / word.dic, parsed as EFML parses it: lines end at every
    `str.splitlines` boundary, each is stripped and split on tabs, a line
    left with one field is the key U+3000 (whitespace that strip removed),
    and a later duplicate key overwrites an earlier one."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf8")
    except UnicodeDecodeError as err:
        raise WeightsError(Errors.E409.format(path=path, line=_line_of(path, err.start), why=f"not UTF-8 ({err.reason})")) from None
    except OSError as err:
        raise WeightsError(Errors.E413.format(path=path, err=err)) from None
    lexicon: Dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.strip().split("\t")
        if len(fields) == 1:
            fields.insert(0, "\u3000")
        if len(fields) != 2:
            raise WeightsError(Errors.E409.format(path=path, line=number, why=f"{len(fields)} tab-separated fields"))
        key, value = fields
        try:
            lexicon[key] = int(value)
        except ValueError:
            raise WeightsError(Errors.E409.format(path=path, line=number, why=f"the id {value!r} is not an integer")) from None
    return lexicon


def _line_of(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n") + 1


def read_state(path: PathLike) -> StateDict:
    """A torch state dict, loaded with weights_only=True onto the CPU (the
    published pickles are legacy files whose storages say `cuda:N`)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise WeightsError(Errors.E412.format(path=path, err=_first_line(err))) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as err:
        raise WeightsError(Errors.E413.format(path=path, err=_first_line(err))) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(Errors.E413.format(path=path, err="it is not a dict of tensors"))
    return state


def expected_shapes(arch: EfmlArchitecture, n_chars: int, n_words: int) -> Tuple[Dict[str, Tuple[int, ...]], Dict[str, Tuple[int, ...]]]:
    """The keys and shapes of token_embedder.pkl and encoder.pkl for an
    architecture and table sizes (EFML_FORMAT.md sections 6-7)."""
    c = arch.config
    p, d, nf = c.projection_dim, c.lstm_dim, c.n_filters
    token: Dict[str, Tuple[int, ...]] = {}
    if arch.word_dim:
        token["word_emb_layer.embedding.weight"] = (n_words, arch.word_dim)
    if c.char_dim:
        token["char_emb_layer.embedding.weight"] = (n_chars, c.char_dim)
        for i, (width, n) in enumerate(c.filters):
            token[f"convolutions.{i}.weight"] = (n, c.char_dim, width)
            token[f"convolutions.{i}.bias"] = (n,)
        for k in range(c.n_highway):
            token[f"highways._layers.{k}.weight"] = (2 * nf, nf)
            token[f"highways._layers.{k}.bias"] = (2 * nf,)
    token["projection.weight"] = (p, arch.word_dim + nf)
    token["projection.bias"] = (p,)
    encoder: Dict[str, Tuple[int, ...]] = {}
    for layer in range(c.n_layers):
        for direction in ("forward", "backward"):
            prefix = f"{direction}_layer_{layer}"
            encoder[f"{prefix}.input_linearity.weight"] = (4 * d, p)
            encoder[f"{prefix}.state_linearity.weight"] = (4 * d, p)
            encoder[f"{prefix}.state_linearity.bias"] = (4 * d,)
            encoder[f"{prefix}.state_projection.weight"] = (p, d)
    return token, encoder


def check_state(path: Path, state: StateDict, expected: Dict[str, Tuple[int, ...]], arch: EfmlArchitecture) -> None:
    """E414 for missing or unexpected keys or other shapes, E415 for NaN/inf."""
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing {_list(missing)}")
    if extra:
        problems.append(f"not in the architecture {_list(extra)}")
    problems += [
        f"'{k}' has shape {tuple(state[k].shape)}, the architecture implies {shape}"
        for k, shape in expected.items() if k in state and tuple(state[k].shape) != shape
    ]
    if problems:
        raise WeightsError(Errors.E414.format(path=path, arch=arch.path, why="; ".join(problems[:4])))
    for key, tensor in state.items():
        if not bool(torch.isfinite(tensor).all()):
            raise WeightsError(Errors.E415.format(path=path, key=key))


def check_vocab(path: Path, lexicon: Dict[str, int], specials: Tuple[str, ...], kind: str, rows: int, table: str, pkl: Path) -> None:
    """E410 for missing special entries, E411 for ids outside the table."""
    missing = [s for s in specials if s not in lexicon]
    if missing:
        raise WeightsError(Errors.E410.format(
            path=path, missing=", ".join(missing), plural="ies" if len(missing) > 1 else "y",
            specials=" ".join(specials), kind=kind))
    why = None
    if len(lexicon) != rows:
        why = f"{len(lexicon)} entries"
    else:
        low, high = min(lexicon.values()), max(lexicon.values())
        if low < 0 or high >= rows:
            why = f"ids from {low} to {high}"
    if why:
        raise WeightsError(Errors.E411.format(path=path, table=table, pkl=pkl, rows=rows, why=why))


def _gates(array: numpy.ndarray, d: int) -> numpy.ndarray:
    """EFML's gate blocks (i, f, g, o) along axis 0 -> bilm-tf's (i, j=g, f, o)."""
    i, f, g, o = (array[k * d : (k + 1) * d] for k in range(4))
    return numpy.concatenate([i, g, f, o])


def convert(arch: EfmlArchitecture, token: StateDict, encoder: StateDict) -> Dict[str, numpy.ndarray]:
    """EFML's state dicts -> the arrays a bilm-tf weights.hdf5 would hold
    for the same network (TF orientation, x @ W), without `char_embed`."""
    c = arch.config
    d, nf, wd = c.lstm_dim, c.n_filters, arch.word_dim
    t = {k: v.detach().to(torch.float32).numpy() for k, v in token.items()}
    out: Dict[str, numpy.ndarray] = {}
    for i in range(len(c.filters)):
        # Conv1d (n, char_dim, width) -> TF conv2d (1, width, char_dim, n)
        out[f"CNN/W_cnn_{i}"] = t[f"convolutions.{i}.weight"].transpose(2, 1, 0)[None]
        out[f"CNN/b_cnn_{i}"] = t[f"convolutions.{i}.bias"]
    for k in range(c.n_highway):
        w, b = t[f"highways._layers.{k}.weight"], t[f"highways._layers.{k}.bias"]
        # EFML: g = sigmoid(B x + b_B), y = g x + (1 - g) relu(A x + a); bilm-tf's
        # gate t multiplies the transform, so t = 1 - g = sigmoid(-(B x + b_B)).
        out[f"CNN_high_{k}/W_transform"] = w[:nf].T
        out[f"CNN_high_{k}/b_transform"] = b[:nf]
        out[f"CNN_high_{k}/W_carry"] = -w[nf:].T
        out[f"CNN_high_{k}/b_carry"] = -b[nf:]
    out["CNN_proj/W_proj"] = t["projection.weight"][:, wd:].T  # char columns after the word ones
    out["CNN_proj/b_proj"] = t["projection.bias"]
    for layer in range(c.n_layers):
        for r, direction in enumerate(("forward", "backward")):
            e = {k.split(".", 1)[1]: v.detach().to(torch.float32).numpy()
                 for k, v in encoder.items() if k.startswith(f"{direction}_layer_{layer}.")}
            prefix = LSTM_PREFIX.format(direction=r, layer=layer)
            w_in = _gates(e["input_linearity.weight"], d).T  # (p, 4d)
            w_st = _gates(e["state_linearity.weight"], d).T  # (p, 4d)
            out[f"{prefix}/W_0"] = numpy.concatenate([w_in, w_st])  # [x; h] stacked, as TF's
            bias = _gates(e["state_linearity.bias"], d).copy()
            bias[2 * d : 3 * d] -= 1.0  # the trained forget bias is stored; bilm-tf adds 1.0
            out[f"{prefix}/B"] = bias
            out[f"{prefix}/W_P_0"] = e["state_projection.weight"].T  # (d, p)
    return out


def load_efml_bilm(model_dir: PathLike) -> EfmlBiLM:
    """Build an EfmlBiLM from an EFML model directory, checking every file
    before the weights are read."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise OptionsError(Errors.E400.format(path=model_dir, why="it is not a directory"))
    arch = read_architecture(architecture_path(model_dir))
    c = arch.config
    needed = [(TOKEN_PKL, "the char CNN / word table and projection"), (ENCODER_PKL, "the biLSTM")]
    if arch.word_dim:
        needed.append((WORD_DIC, f"word_dim is {arch.word_dim}"))
    if c.char_dim:
        needed.append((CHAR_DIC, f"char_dim is {c.char_dim}"))
    for name, why in needed:
        if not (model_dir / name).is_file():
            raise WeightsError(Errors.E408.format(path=model_dir / name, arch=arch.path, why=why))
    chars = read_dic(model_dir / CHAR_DIC) if c.char_dim else {}
    words = read_dic(model_dir / WORD_DIC) if arch.word_dim else {}
    token = read_state(model_dir / TOKEN_PKL)
    encoder = read_state(model_dir / ENCODER_PKL)
    n_chars = _rows(token, "char_emb_layer.embedding.weight")
    n_words = _rows(token, "word_emb_layer.embedding.weight")
    token_shapes, encoder_shapes = expected_shapes(arch, n_chars, n_words)
    check_state(model_dir / TOKEN_PKL, token, token_shapes, arch)
    check_state(model_dir / ENCODER_PKL, encoder, encoder_shapes, arch)
    if c.char_dim:
        check_vocab(model_dir / CHAR_DIC, chars, CHAR_SPECIALS, CHAR_DIC, n_chars, "the char table", model_dir / TOKEN_PKL)
    if arch.word_dim:
        check_vocab(model_dir / WORD_DIC, words, WORD_SPECIALS, WORD_DIC, n_words, "the word table", model_dir / TOKEN_PKL)
    model = build_efml_bilm(arch, chars, words, n_chars, n_words)
    with torch.no_grad():
        load_arrays(model, convert(arch, token, encoder), model_dir, skip=("char_embed",))
        set_vocab_tables(model, token, arch.word_dim)
    return model.eval()


def build_efml_bilm(arch: EfmlArchitecture, chars: Dict[str, int], words: Dict[str, int], n_chars: int, n_words: int) -> EfmlBiLM:
    """An EfmlBiLM of the architecture and vocabularies (parameters not loaded)."""
    vocab = EfmlVocab(chars, words, n_chars, n_words, arch.config.max_chars)
    model = EfmlBiLM(arch.config, vocab, arch.word_dim)
    model.efml_architecture = arch.raw
    return model


def set_vocab_tables(model: EfmlBiLM, token: StateDict, word_dim: int) -> None:
    """The parts bilm-tf's layout has no place for: the char table (row 0 is
    batch padding, EFML's id k is row k + 1; EFML's pad row is kept as
    trained, non-zero), the word table and the projection's word columns."""
    embedder = model.char_cnn
    if embedder.char_embed is not None:
        table = token["char_emb_layer.embedding.weight"].to(torch.float32)
        embedder.char_embed.weight[0].zero_()
        embedder.char_embed.weight[1:].copy_(table)
    if embedder.word_embed is not None and embedder.word_proj is not None:
        embedder.word_embed.weight[0].zero_()
        embedder.word_embed.weight[1:].copy_(token["word_emb_layer.embedding.weight"].to(torch.float32))
        embedder.word_proj.weight.copy_(token["projection.weight"][:, :word_dim].to(torch.float32))


def _rows(state: StateDict, key: str) -> int:
    tensor = state.get(key)
    return int(tensor.shape[0]) if tensor is not None and tensor.dim() == 2 else 0


def _list(keys: List[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
