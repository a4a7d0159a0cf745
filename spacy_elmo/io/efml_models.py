"""The published ELMoForManyLangs models by name: `weights = "efml-fr"`.

44 languages (Che et al. 2018, HIT-SCIR/ELMoForManyLangs), hosted by the NLPL
vectors repository 1.1 (ids 136-179). The ISO code -> NLPL id table is the
Downloads table of ELMoForManyLangs' README (language names and zip links;
the codes are the ISO 639-1 codes of those languages, ISO 639-3 `grc` for
Ancient Greek, as CoNLL 2018 names its treebanks). Simplified Chinese
(`zhs.model.tar.xz`, another host, a tar archive) is not in the catalog.

A model is fetched like the AllenNLP presets (download.py): the zip once
into the cache, then extracted into `efml-<code>-<id>/` atomically (a
temporary folder renamed when complete, so the cache never holds a
half-extracted model), after its members are checked: no path leaves the
folder, no links, no duplicates, the files EFML needs are there, and each
file's size is what the archive says. The zip is deleted once extracted.
"""
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Tuple, Union

from ..errors import DownloadError, Errors
from .atomic import atomic_dir, check_free_space
from .download import cache_dir as default_cache_dir
from .download import fetch
from .efml import CHAR_DIC, CONFIG_NAME, ENCODER_PKL, TOKEN_PKL, WORD_DIC

PathLike = Union[str, Path]
PREFIX = "efml-"
# Read at call time, so tests (and mirrors) can point it elsewhere.
BASE_URL = "http://vectors.nlpl.eu/repository/11"
REQUIRED = (CONFIG_NAME, TOKEN_PKL, ENCODER_PKL)
KEPT = set(REQUIRED) | {CHAR_DIC, WORD_DIC, "meta.json", "README"}


@dataclass(frozen=True)
class EfmlModel:
    """One published model: ISO code, language, NLPL repository id."""

    code: str
    language: str
    nlpl_id: int

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.nlpl_id}.zip"


_TABLE = """ar Arabic 136|bg Bulgarian 137|ca Catalan 138|cs Czech 139|cu Old_Church_Slavonic 140|
da Danish 141|de German 142|el Greek 143|en English 144|es Spanish 145|et Estonian 146|eu Basque 147|
fa Persian 148|fi Finnish 149|fr French 150|ga Irish 151|gl Galician 152|grc Ancient_Greek 153|
he Hebrew 154|hi Hindi 155|hr Croatian 156|hu Hungarian 157|id Indonesian 158|it Italian 159|
ja Japanese 160|ko Korean 161|la Latin 162|lv Latvian 163|nl Dutch 164|nb Norwegian_Bokmål 165|
nn Norwegian_Nynorsk 166|pl Polish 167|pt Portuguese 168|ro Romanian 169|ru Russian 170|sk Slovak 171|
sl Slovene 172|sv Swedish 173|tr Turkish 174|ug Uyghur 175|uk Ukrainian 176|ur Urdu 177|
vi Vietnamese 178|zh Chinese 179"""
EFML_MODELS: Dict[str, EfmlModel] = {
    code: EfmlModel(code, language.replace("_", " "), int(nlpl_id))
    for code, language, nlpl_id in (item.split() for item in _TABLE.replace("\n", "").split("|"))
}


def is_efml_name(name: object) -> bool:
    """Whether `name` asks for a catalog model ("efml-<code>")."""
    return isinstance(name, str) and name.startswith(PREFIX)


def efml_model(name: str) -> EfmlModel:
    """The catalog entry of "efml-<code>" (E420 for an unknown code)."""
    model = EFML_MODELS.get(name[len(PREFIX) :])
    if model is None:
        codes = " ".join(sorted(EFML_MODELS))
        raise DownloadError(Errors.E420.format(name=name, codes=codes))
    return model


def fetch_efml_model(name: str, *, cache_dir: Optional[PathLike] = None, progress: bool = True) -> Path:
    """The local model directory of "efml-<code>", downloaded and extracted
    once (no network afterwards).

    cache_dir (Optional[Path]): overrides the download cache (download.cache_dir()).
    RETURNS (Path): the extracted model directory.
    """
    model = efml_model(name)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / f"{PREFIX}{model.code}-{model.nlpl_id}"
    if (target / CONFIG_NAME).is_file():
        return target
    archive = fetch(model.url, cache_dir=root, progress=progress)
    extract_model_zip(archive, target, url=model.url)
    archive.unlink()
    return target


def check_members(handle: zipfile.ZipFile, path: Path) -> List[Tuple[zipfile.ZipInfo, str]]:
    """The files to extract, each with its name in the model folder. A
    single top folder (`fr.model/...`) is the model folder; files EFML never
    reads are left out. E422 for a name that would leave the folder, a link
    or a duplicate; E424 when a file EFML needs is missing."""
    files = [info for info in handle.infolist() if not info.is_dir()]
    for info in files:
        name = info.filename
        parts = PurePosixPath(name).parts
        mode = info.external_attr >> 16
        if "\\" in name or name.startswith("/") or ":" in (parts[0] if parts else "") or ".." in parts:
            raise DownloadError(Errors.E422.format(path=path, name=name, why="its path leaves the model folder"))
        if stat.S_ISLNK(mode):
            raise DownloadError(Errors.E422.format(path=path, name=name, why="it is a symbolic link"))
    tops = {PurePosixPath(info.filename).parts[0] for info in files}
    nested = len(tops) == 1 and all(len(PurePosixPath(i.filename).parts) > 1 for i in files)
    chosen: Dict[str, zipfile.ZipInfo] = {}
    for info in files:
        parts = PurePosixPath(info.filename).parts[1:] if nested else PurePosixPath(info.filename).parts
        if len(parts) != 1 or not (parts[0] in KEPT or parts[0].endswith(".json")):
            continue
        if parts[0] in chosen:
            raise DownloadError(Errors.E422.format(path=path, name=info.filename, why="the archive holds it twice"))
        chosen[parts[0]] = info
    missing = [name for name in REQUIRED if name not in chosen]
    if missing:
        found = ", ".join(sorted(chosen)) or "none of them"
        raise DownloadError(Errors.E424.format(path=path, missing=", ".join(missing), found=found))
    return [(info, name) for name, info in chosen.items()]


def extract_model_zip(archive: Path, target: Path, *, url: str = "") -> None:
    """Extract a model zip into `target`, atomically, after `check_members`.
    A damaged zip (not a zip, bad CRC, a size other than the header's) is
    E421 and is deleted from the cache, so the next call downloads it again."""
    where = url or str(archive)
    try:
        with zipfile.ZipFile(archive) as handle:
            members = check_members(handle, archive)
            check_free_space(target.parent, sum(info.file_size for info, _ in members), "ELMoForManyLangs model")
            with atomic_dir(target) as tmp:
                for info, name in members:
                    with handle.open(info) as source, (tmp / name).open("wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                        size = out.tell()
                    if size != info.file_size:
                        raise zipfile.BadZipFile(f"{info.filename} has {size} bytes, its header says {info.file_size}")
    except (zipfile.BadZipFile, EOFError) as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(Errors.E421.format(url=where, err=err)) from None
