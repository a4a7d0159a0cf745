"""What several test modules share: paths, the fixture biLM, WikiText-2 slices,
pretraining settings and the bilm-tf reference outputs. Test modules import
from here (`from helpers import ...`; pyproject's pytest `pythonpath` puts
tests/ on the path), never from another test module or from conftest.py;
conftest.py holds the fixtures, built from these functions."""
import atexit
import gzip
import itertools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import h5py
import numpy

from spacy_elmo.bilm.model import BiLM
from spacy_elmo.io.resolve import resolve_weights
from spacy_elmo.io.weights import load_bilm, read_options
from spacy_elmo.training.settings import PretrainSettings, load_config, parse_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = SHARED_DATA / "allennlp-elmo-fixtures"
WIKITEXT = SHARED_DATA / "wikitext-2"
TINY_CFG = ROOT / "configs" / "bilm_tiny.cfg"

# Width of one ELMo layer of the built-in default biLM (2 x projection).
DEFAULT_DIM = 2 * read_options(resolve_weights("default")[0]).projection_dim


# -- the fixture biLM (AllenNLP's tiny test biLM, bilm-tf's outputs beside it)

_FIXTURE_BILM: Optional[Path] = None


def fixture_bilm_path() -> str:
    """The AllenNLP fixture biLM as a weights directory (options.json +
    weights.hdf5), usable as `weights = DIR` in configs; made once a process
    and removed at exit. The `fixture_bilm_dir` fixture returns the same."""
    global _FIXTURE_BILM
    if _FIXTURE_BILM is None:
        out = Path(tempfile.mkdtemp(prefix="fixture_bilm_"))
        atexit.register(shutil.rmtree, out, True)
        shutil.copyfile(FIXTURES / "options.json", out / "options.json")
        shutil.copyfile(FIXTURES / "lm_weights.hdf5", out / "weights.hdf5")
        _FIXTURE_BILM = out
    return str(_FIXTURE_BILM)


def load_fixture_bilm() -> BiLM:
    """The fixture biLM loaded from AllenNLP's own files."""
    return load_bilm(FIXTURES / "options.json", FIXTURES / "lm_weights.hdf5")


def reference_batches(fixtures_dir: Path) -> Iterator[Tuple[List[List[str]], List[numpy.ndarray]]]:
    """Batch i = sentence i of each of the three lists, as bilm-tf ran them."""
    lists = json.loads((fixtures_dir / "sentences.json").read_text())
    refs = [h5py.File(fixtures_dir / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    for i in range(10):
        sentences = [lists[k][i].split() for k in range(3)]
        # (2, n, 16) forward, backward halves -> (n, 32)
        expected = [numpy.concatenate(list(refs[k][str(i)][...]), axis=-1) for k in range(3)]
        yield sentences, expected


# A tagger listening to an `elmo` component on the fixture biLM ({fine_tune}
# is left to fill in).
BILM_BLOCK = """
@architectures = "spacy-elmo.ElmoBiLM.v1"
weights = "%s"
fine_tune = {fine_tune}
""" % fixture_bilm_path()

TAGGER_BLOCK = """
[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null
"""

LISTENER_TAGGER_CFG = """
[nlp]
lang = "en"
pipeline = ["elmo","tagger"]

[components]

[components.elmo]
factory = "elmo"

[components.elmo.model]
@architectures = "spacy-elmo.ElmoEncoder.v1"

[components.elmo.model.bilm]""" + BILM_BLOCK + TAGGER_BLOCK + """
[components.tagger.model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 24
upstream = "elmo"
mix_l2 = 0.001
"""


# -- WikiText-2 and pretraining settings

# Small enough for ~0.1 s a step on 2 cores, the tiny config's shape otherwise.
FAST = {
    "training.batch_size": 8,
    "training.max_steps": 20,
    "training.eval_every": 0,
    "training.eval_max_windows": 5,
    "training.checkpoint_every": 0,
    "data.max_vocab_size": 3000,
}


def wikitext_slice(tmp_path: Path, name: str = "train", n_lines: int = 300, skip: int = 0) -> Path:
    """The first `n_lines` lines (after `skip`) of a WikiText-2 split, copied."""
    source = WIKITEXT / ("train.txt.gz" if name == "train" else f"{name}.txt")
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf8") as handle:
        lines = list(itertools.islice(handle, skip, skip + n_lines))
    path = tmp_path / f"{name}-{skip}-{n_lines}.txt"
    path.write_text("".join(lines), encoding="utf8")
    return path


def wikitext_sentences(n: int, skip: int = 0) -> List[List[str]]:
    """`n` tokenized sentences of WikiText-2's test split (headings left out,
    at most 30 tokens each), after `skip`."""
    lines = [l.split() for l in (WIKITEXT / "test.txt").read_text(encoding="utf8").splitlines()]
    lines = [l[:30] for l in lines if l and l[0] != "="]
    return lines[skip : skip + n]


def settings(train: Path, dev: Optional[Path] = None, **overrides) -> PretrainSettings:
    """configs/bilm_tiny.cfg with FAST and `overrides` (`a__b=v` for `a.b`)."""
    values: Dict[str, object] = {"paths.train": str(train), "paths.dev": str(dev) if dev else None}
    values.update(FAST)
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return parse_settings(load_config(TINY_CFG, values), path=str(TINY_CFG))


# -- word2vec files

def write_binary(path, keys, data, newline=False):
    """A binary word2vec file as gensim (newline=False) or the C tool (True) writes it."""
    with open(path, "wb") as f:
        f.write(f"{len(keys)} {data.shape[1]}\n".encode())
        for key, row in zip(keys, data):
            f.write(key.encode("utf8") + b" " + row.astype("<f4").tobytes() + (b"\n" if newline else b""))
    return path


# A process that holds io.guard's lock on argv[1] until its stdin closes.
HOLD_LOCK = (
    "import sys\n"
    "from spacy_elmo.io.guard import output_lock\n"
    "with output_lock(sys.argv[1], 'OUTPUT'):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)
