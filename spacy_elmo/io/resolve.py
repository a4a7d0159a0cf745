"""One way to name a model, for every command and config: `resolve_model`
turns what a user typed into a `ModelSource`, a small description of what
was found, before anything is loaded.

A name is, in this order:
- options_file + weight_file: an explicit pair (local paths or URLs);
- a preset: "default" (built in) or one of AllenNLP's (downloaded once);
- "efml-<code>": a published ELMoForManyLangs model (io/efml_models.py,
  downloaded and extracted once);
- a folder, recognized by its files (`FOLDER_LAYOUTS`, in order):
  a saved spaCy pipeline (config.cfg + meta.json; its biLM is found when
  it is loaded, in models/bilm.py), or the bilm-tf layout: options.json +
  weights.hdf5, or the published names: one `*options.json` beside one
  `*weights.hdf5` (or else one `*.hdf5`; AllenNLP's test fixture holds
  lm_weights.hdf5), or an ELMoForManyLangs model folder (io/efml.py).

Another folder layout is one more function in FOLDER_LAYOUTS returning a
ModelSource of its own `kind`, and one more line in LOOKED_FOR. A name that matches nothing is an error listing everything
looked for. No spaCy import here: the pipeline is told apart by its files.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

from ..errors import DownloadError, Errors
from .efml import is_efml_dir
from .efml_models import fetch_efml_model, is_efml_name
from .download import DEFAULT_DIR, DEFAULT_NAME, OPTIONS_NAME, PRESETS, WEIGHTS_NAME, fetch, is_url, preset_names

PathLike = Union[str, Path]


KIND_NAMES = {
    "files": "a pair of files", "preset": "a preset", "bilm-tf": "a bilm-tf weights folder",
    "efml": "an ELMoForManyLangs model folder", "pipeline": "a saved spaCy pipeline",
}


@dataclass(frozen=True)
class ModelSource:
    """What a model name resolved to.

    kind (str): "files" (an explicit pair), "preset", "bilm-tf" (a folder in
        the bilm-tf layout), "efml" (an ELMoForManyLangs model folder) or
        "pipeline" (a saved spaCy pipeline).
    given (str): the name as typed, for messages.
    options (Optional[Path]): the local options.json ("files", "preset", "bilm-tf").
    weights (Optional[Path]): the local weights file (same kinds).
    folder (Optional[Path]): the folder ("bilm-tf", "efml", "pipeline").
    cached (bool): the files are a download in the cache, not the user's own.
    """

    kind: str
    given: str
    options: Optional[Path] = None
    weights: Optional[Path] = None
    folder: Optional[Path] = None
    cached: bool = False

    @property
    def what(self) -> str:
        """The kind in words, for messages."""
        return KIND_NAMES.get(self.kind, self.kind)

    def local_inputs(self) -> List[Tuple[str, Path]]:
        """(what, path) of the user's own files this source reads (not the
        download cache or the built-in model), for io.guard.check_not_inputs."""
        if self.kind == "preset" or self.cached:
            return []
        if self.folder is not None:
            return [(f"the model {self.given}", self.folder)]
        return [(f"the model file {p}", p) for p in (self.options, self.weights) if p is not None]


def _pipeline_folder(path: Path, given: str) -> Optional[ModelSource]:
    if (path / "config.cfg").is_file() and (path / "meta.json").is_file():
        return ModelSource("pipeline", given, folder=path)
    return None


def _bilm_tf_folder(path: Path, given: str) -> Optional[ModelSource]:
    """options.json + weights.hdf5, else bilm-tf's published names: one
    *options.json, and one *weights.hdf5 or else one *.hdf5 (AllenNLP's
    test fixture: lm_weights.hdf5 beside lm_embeddings_*.hdf5). A folder
    with an options file but no weights is an error naming weights.hdf5;
    several candidates, one naming them."""
    options = _one_of(path, OPTIONS_NAME, "*options.json")
    if not options:
        return None
    weights = _one_of(path, WEIGHTS_NAME, "*weights.hdf5", "*.hdf5")
    if len(options) == 1 and len(weights) == 1:
        return ModelSource("bilm-tf", given, options=options[0], weights=weights[0], folder=path)
    if len(options) == 1 and not weights:
        raise DownloadError(Errors.E013.format(path=path / WEIGHTS_NAME, hint=_looked_for()))
    found = ", ".join(p.name for p in options + weights)
    raise DownloadError(Errors.E710.format(path=path, found=found, looked_for=_looked_for()))


def _efml_folder(path: Path, given: str) -> Optional[ModelSource]:
    """An ELMoForManyLangs model folder, told by its files (`io.efml.is_efml_dir`)."""
    if is_efml_dir(path):
        return ModelSource("efml", given, folder=path)
    return None


def _one_of(path: Path, *patterns: str) -> List[Path]:
    """The files of the first pattern that matches exactly one file; else
    the matches of the last pattern that matches any (to name them)."""
    found: List[Path] = []
    for pattern in patterns:
        matches = sorted(p for p in path.glob(pattern) if p.is_file())
        if len(matches) == 1:
            return matches
        found = matches or found
    return found


FOLDER_LAYOUTS: Tuple[Callable[[Path, str], Optional[ModelSource]], ...] = (_pipeline_folder, _bilm_tf_folder, _efml_folder)
LOOKED_FOR = (
    "a preset ({presets})",
    "efml-<code>, a published ELMoForManyLangs model (e.g. efml-fr)",
    f"a folder with {OPTIONS_NAME} + {WEIGHTS_NAME} (written by pretraining or export_bilm), or with "
    "one *options.json and one *weights.hdf5 or *.hdf5 (bilm-tf's published names, e.g. lm_weights.hdf5)",
    "an ELMoForManyLangs model folder (config.json, char.dic, word.dic, token_embedder.pkl, encoder.pkl)",
    "a saved spaCy pipeline (config.cfg + meta.json) with an elmo component",
    "options_file + weight_file (--options-file + --weight-file; paths or URLs)",
)


def _looked_for() -> str:
    presets = ", ".join(repr(n) for n in preset_names())
    return "Looked for: " + "; ".join(LOOKED_FOR).format(presets=presets) + "."


def resolve_model(
    name: Optional[PathLike] = None,
    *,
    options_file: Optional[PathLike] = None,
    weight_file: Optional[PathLike] = None,
) -> ModelSource:
    """What a model name (or pair of files) names; downloads a preset or a
    URL once (io/download.py), loads nothing.

    name (Optional[str / Path]): a preset or a folder (see the module).
    options_file, weight_file (Optional[str / Path]): an explicit pair, used
        instead of `name` (giving both is an error, E023).
    RETURNS (ModelSource): what was found.
    """
    if options_file is not None or weight_file is not None:
        if name is not None:
            raise DownloadError(Errors.E023.format(why=f"got both {str(name)!r} and options_file/weight_file"))
        if options_file is None or weight_file is None:
            missing = "options_file" if options_file is None else "weight_file"
            raise DownloadError(Errors.E023.format(why=f"{missing} is missing"))
        return ModelSource("files", f"{options_file} + {weight_file}", fetch(options_file), fetch(weight_file))
    if name is None:
        raise DownloadError(Errors.E023.format(why="nothing was given"))
    given = str(name)
    if given == DEFAULT_NAME:
        return ModelSource("preset", given, DEFAULT_DIR / OPTIONS_NAME, DEFAULT_DIR / WEIGHTS_NAME)
    if given in PRESETS:
        preset = PRESETS[given]
        options = fetch(preset.options_url, sha256=preset.options_sha256)
        return ModelSource("preset", given, options, fetch(preset.weights_url, sha256=preset.weights_sha256))
    if is_efml_name(given):
        return ModelSource("efml", given, folder=fetch_efml_model(given), cached=True)
    path = Path(given).expanduser()
    if not is_url(given) and path.is_dir():
        for layout in FOLDER_LAYOUTS:
            found = layout(path, given)
            if found is not None:
                return found
        raise DownloadError(Errors.E711.format(path=path, looked_for=_looked_for()))
    presets = ", ".join(repr(n) for n in preset_names())
    raise DownloadError(Errors.E022.format(name=given, presets=presets, looked_for=_looked_for()))


def resolve_weights(
    name_or_path: Optional[PathLike] = None,
    *,
    options_file: Optional[PathLike] = None,
    weight_file: Optional[PathLike] = None,
) -> Tuple[Path, Path]:
    """The local (options.json, weights) pair of a name (`resolve_model`)
    that names one: not a saved spaCy pipeline (E712; models/bilm.py's
    `load_named_bilm` takes those).
    RETURNS (Tuple[Path, Path]): local paths of the options and the weights.
    """
    source = resolve_model(name_or_path, options_file=options_file, weight_file=weight_file)
    if source.options is None or source.weights is None:
        raise DownloadError(Errors.E712.format(name=source.given, kind=source.what))
    return source.options, source.weights
