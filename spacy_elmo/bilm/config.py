"""The biLM architecture as a dataclass, read from and written to the
bilm-tf/AllenNLP `options.json` layout."""
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import Errors, OptionsError

ACTIVATIONS = ("relu", "tanh")
_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict = 40, 40, 6, 4


def _invalid(path: str, key: str, value: Any, why: str) -> OptionsError:
    """E002 for `key`, showing at most a short repr of the value (the value
    comes from an untrusted file: it may be huge or deeply nested)."""
    return OptionsError(Errors.E002.format(path=path, key=key, value=_SHOW.repr(value), why=why))


@dataclass(frozen=True)
class BiLMConfig:
    """Hyper-parameters of a character-CNN biLM (Peters et al. 2018).

    lstm_dim (int): LSTM cell size (bilm-tf `lstm.dim`).
    projection_dim (int): hidden/output size per direction; ELMo vectors are
        2 * projection_dim wide.
    n_layers (int): biLSTM layers.
    cell_clip (Optional[float]): clip the cell state to +-cell_clip, or None.
    proj_clip (Optional[float]): clip the projected hidden state, or None.
    use_skip_connections (bool): add a layer's input to its output (layers > 0).
    char_dim (int): character embedding size.
    filters (Tuple[Tuple[int, int], ...]): (width, n_filters) per convolution.
    n_highway (int): highway layers after the convolutions.
    max_chars (int): characters per token, begin/end-of-word markers included.
    activation (str): "relu" or "tanh", applied after max-pooling.
    n_characters (int): rows of the character table as options.json states it
        (261 for training files, 262 when the padding row is counted).
    """

    lstm_dim: int = 64
    projection_dim: int = 16
    n_layers: int = 2
    cell_clip: Optional[float] = 3.0
    proj_clip: Optional[float] = 3.0
    use_skip_connections: bool = True
    char_dim: int = 4
    filters: Tuple[Tuple[int, int], ...] = ((1, 4), (2, 8), (3, 16), (4, 32), (5, 64))
    n_highway: int = 2
    max_chars: int = 50
    activation: str = "relu"
    n_characters: int = 262
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_filters(self) -> int:
        return sum(n for _, n in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of every ELMo layer: [forward; backward]."""
        return 2 * self.projection_dim

    @property
    def n_elmo_layers(self) -> int:
        """Char-CNN layer plus one per LSTM layer."""
        return self.n_layers + 1

    @classmethod
    def from_options(cls, options: Dict[str, Any], path: str = "options") -> "BiLMConfig":
        """Build from a parsed options.json, validating every value.

        options (dict): the parsed JSON.
        path (str): where it came from, for error messages.
        RETURNS (BiLMConfig): the validated config.
        """

        def get(section: Dict[str, Any], key: str, full: str) -> Any:
            if not isinstance(section, dict) or key not in section:
                raise OptionsError(Errors.E001.format(path=path, key=full))
            return section[key]

        def section(parent: Dict[str, Any], key: str, full: str) -> Dict[str, Any]:
            value = get(parent, key, full)
            if not isinstance(value, dict):
                raise _invalid(path, full, value, "expected a JSON object")
            return value

        lstm = section(options, "lstm", "lstm")
        cnn = section(options, "char_cnn", "char_cnn")
        emb = section(cnn, "embedding", "char_cnn.embedding")

        def integer(value: Any, key: str, minimum: int) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise _invalid(path, key, value, f"expected an integer >= {minimum}")
            return value

        def clip(key: str) -> Optional[float]:
            value = lstm.get(key)
            if value is None:
                return None
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            # An integer beyond 2**53 has no exact float (and one beyond ~1e308 none at all).
            exact = number and (isinstance(value, float) or abs(value) <= 2**53)
            if not (exact and math.isfinite(value) and value > 0):
                raise _invalid(path, f"lstm.{key}", value, "expected a positive number (at most 2**53) or null")
            return float(value)

        skip = lstm.get("use_skip_connections", False)
        if not isinstance(skip, bool):
            raise _invalid(path, "lstm.use_skip_connections", skip, "expected true or false")

        raw_filters = get(cnn, "filters", "char_cnn.filters")
        if not isinstance(raw_filters, list) or not raw_filters:
            raise _invalid(
                path, "char_cnn.filters", raw_filters,
                "expected a non-empty list of [width, n_filters] pairs",
            )
        filters: List[Tuple[int, int]] = []
        for item in raw_filters:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise _invalid(
                    path, "char_cnn.filters", item, "each filter is a [width, n_filters] pair"
                )
            filters.append(
                (integer(item[0], "char_cnn.filters", 1), integer(item[1], "char_cnn.filters", 1))
            )
        activation = cnn.get("activation", "relu")
        if activation not in ACTIVATIONS:
            raise _invalid(
                path, "char_cnn.activation", activation, f"expected one of {ACTIVATIONS}"
            )
        max_chars = integer(
            get(cnn, "max_characters_per_token", "char_cnn.max_characters_per_token"),
            "char_cnn.max_characters_per_token", 3,
        )
        widest = max(w for w, _ in filters)
        if widest > max_chars:
            raise _invalid(
                path, "char_cnn.filters", widest,
                f"a filter is wider than max_characters_per_token ({max_chars})",
            )
        n_characters = integer(cnn.get("n_characters", 262), "char_cnn.n_characters", 261)
        known = {"lstm", "char_cnn"}
        return cls(
            lstm_dim=integer(get(lstm, "dim", "lstm.dim"), "lstm.dim", 1),
            projection_dim=integer(
                get(lstm, "projection_dim", "lstm.projection_dim"), "lstm.projection_dim", 1
            ),
            n_layers=integer(get(lstm, "n_layers", "lstm.n_layers"), "lstm.n_layers", 1),
            cell_clip=clip("cell_clip"),
            proj_clip=clip("proj_clip"),
            use_skip_connections=skip,
            char_dim=integer(get(emb, "dim", "char_cnn.embedding.dim"), "char_cnn.embedding.dim", 1),
            filters=tuple(filters),
            n_highway=integer(cnn.get("n_highway", 0), "char_cnn.n_highway", 0),
            max_chars=max_chars,
            activation=activation,
            n_characters=n_characters,
            extra={k: v for k, v in options.items() if k not in known},
        )

    def to_options(self) -> Dict[str, Any]:
        """The options.json dict bilm-tf and AllenNLP read."""
        lstm: Dict[str, Any] = {
            "dim": self.lstm_dim,
            "projection_dim": self.projection_dim,
            "n_layers": self.n_layers,
            "use_skip_connections": self.use_skip_connections,
        }
        if self.cell_clip is not None:
            lstm["cell_clip"] = self.cell_clip
        if self.proj_clip is not None:
            lstm["proj_clip"] = self.proj_clip
        options: Dict[str, Any] = dict(self.extra)
        options["lstm"] = lstm
        options["char_cnn"] = {
            "embedding": {"dim": self.char_dim},
            "filters": [list(f) for f in self.filters],
            "n_highway": self.n_highway,
            "n_characters": self.n_characters,
            "max_characters_per_token": self.max_chars,
            "activation": self.activation,
        }
        return options
