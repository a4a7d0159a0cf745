"""Find ELMo weights: AllenNLP's published presets, local folders and URLs.

Remote files are downloaded once into a cache folder (`cache_dir()`) and reused
without network afterwards. A download streams into a temporary file beside its
final name and is renamed into place only when it is complete (and matches its
sha256, when one is known), so the cache never holds a partial file.
"""
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

from tqdm import tqdm
from ..about import __version__
from ..errors import DownloadError, Errors
from .atomic import atomic_path

PathLike = Union[str, Path]

ENV_VAR = "SPACY_ELMO_CACHE"
# Presets are built from this at call time, so tests (and mirrors) can point it
# elsewhere.
BASE_URL = "https://allennlp.s3.amazonaws.com/models/elmo"
DEFAULT_DIR = Path(__file__).parent.parent / "data" / "default"
OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
TIMEOUT = 60.0  # seconds without data before a download fails
CHUNK_SIZE = 1 << 20
USER_AGENT = f"spacy-elmo/{__version__} (Python urllib)"


@dataclass(frozen=True)
class Preset:
    """One of AllenNLP's published English ELMo models (Peters et al. 2018,
    https://allennlp.org/elmo). Files live at BASE_URL/{folder}/elmo_{folder}_*.

    The checksums are None: they cannot be verified offline, and a made-up
    checksum would be worse than none.
    """

    folder: str
    description: str
    options_sha256: Optional[str] = None
    weights_sha256: Optional[str] = None

    @property
    def options_url(self) -> str:
        return f"{BASE_URL}/{self.folder}/elmo_{self.folder}_options.json"

    @property
    def weights_url(self) -> str:
        return f"{BASE_URL}/{self.folder}/elmo_{self.folder}_weights.hdf5"


PRESETS: Dict[str, Preset] = {
    "small": Preset("2x1024_128_2048cnn_1xhighway", "13.6M params, output dim 256"),
    "medium": Preset("2x2048_256_2048cnn_1xhighway", "28.0M params, output dim 512"),
    "original": Preset("2x4096_512_2048cnn_2xhighway", "93.6M params, output dim 1024"),
    "original-5.5B": Preset(
        "2x4096_512_2048cnn_2xhighway_5.5B", "93.6M params, output dim 1024, 5.5B tokens"
    ),
}
DEFAULT_NAME = "default"


def preset_names() -> List[str]:
    """Every name `io.resolve.resolve_model` accepts as a preset, the built-in first."""
    return [DEFAULT_NAME, *PRESETS]


def cache_dir() -> Path:
    """The download cache: $SPACY_ELMO_CACHE if set, else
    $XDG_CACHE_HOME/spacy-elmo, else ~/.cache/spacy-elmo. Not created here."""
    return _default_cache_dir()


def _default_cache_dir() -> Path:
    # A second name, because `fetch` has a `cache_dir` argument.
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "spacy-elmo"


def is_url(value: PathLike) -> bool:
    return isinstance(value, str) and value.split(":", 1)[0].lower() in ("http", "https", "file")


def cache_name(url: str) -> str:
    """The cache file name of a URL: a hash of the whole URL (so two models with
    the same basename never collide) followed by the readable basename."""
    basename = urllib.parse.unquote(urllib.parse.urlparse(url).path.rsplit("/", 1)[-1])
    basename = re.sub(r"[^A-Za-z0-9._-]", "_", basename).lstrip(".") or "download"
    return f"{hashlib.sha256(url.encode('utf8')).hexdigest()[:16]}-{basename}"


def fetch(
    url_or_path: PathLike,
    *,
    sha256: Optional[str] = None,
    cache_dir: Optional[PathLike] = None,
    progress: bool = True,
    timeout: float = TIMEOUT,
) -> Path:
    """Return a local path for a file given as a local path, file:// URL or
    http(s) URL. Remote files are downloaded into the cache once.

    url_or_path (str / Path): where the file is.
    sha256 (Optional[str]): expected hex digest of a remote file; checked after
        download and again when a cached copy is reused. Local paths are
        returned as they are.
    cache_dir (Optional[Path]): overrides `cache_dir()`.
    progress (bool): show a tqdm progress bar while downloading.
    timeout (float): seconds to wait for the server before giving up.
    RETURNS (Path): the local file.
    """
    if not is_url(url_or_path):
        return _existing(Path(url_or_path).expanduser(), str(url_or_path))
    url = str(url_or_path)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.lower() == "file":
        return _existing(Path(urllib.request.url2pathname(parsed.path)), url)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = folder / cache_name(url)
    expected = sha256.lower() if sha256 else None
    if target.exists():
        if expected is None or _sha256_file(target) == expected:
            return target
        target.unlink()  # a stale or corrupt cached copy: fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    _download(url, target, expected=expected, progress=progress, timeout=timeout)
    return target


def _existing(path: Path, given: str) -> Path:
    if not path.is_file():
        hint = "Check the path, or pass an http(s) URL to download the file."
        if path.is_dir():
            hint = "It is a directory; pass the file inside it."
        raise DownloadError(Errors.E013.format(path=given, hint=hint))
    return path


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(
    url: str, target: Path, *, expected: Optional[str], progress: bool, timeout: float
) -> None:
    """Stream `url` into a temporary file beside `target`, verify it, rename it."""
    def failed(err: object) -> DownloadError:
        # Name the exact file, so a copy placed by hand is found as cached.
        where = f"{target.parent} (as {target.name})"
        return DownloadError(Errors.E020.format(url=url, err=err, cache_dir=where, env_var=ENV_VAR))

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with atomic_path(target, suffix=".part") as tmp:
        with tmp.open("wb") as out:
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                raise failed(err) from err
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                digest = hashlib.sha256()
                size = 0
                bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=target.name.split("-", 1)[-1],
                    disable=not progress,
                )
                with bar:
                    while True:
                        try:
                            chunk = response.read(CHUNK_SIZE)
                        except (http.client.HTTPException, OSError) as err:
                            raise failed(err) from err
                        if not chunk:
                            break
                        out.write(chunk)  # disk errors propagate as they are
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
        if total is not None and size != total:
            raise failed(f"connection closed after {size} of {total} bytes")
        got = digest.hexdigest()
        if expected is not None and got != expected:
            raise DownloadError(Errors.E021.format(url=url, got=got, expected=expected))
