"""The ELMoForManyLangs catalog (`weights = "efml-<code>"`): fetched once from
an HTTP server on 127.0.0.1 serving zips this test builds, extracted
atomically, members checked."""
import functools
import shutil
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy
import pytest

from spacy_elmo import ElmoEmbedder
from spacy_elmo.io import efml_models
from spacy_elmo.io.efml_models import EFML_MODELS, extract_model_zip, fetch_efml_model
from spacy_elmo.io.pretrained import load_pretrained_bilm
from spacy_elmo.io.resolve import resolve_model


class Quiet(SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setattr(efml_models, "BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    yield root, httpd
    httpd.shutdown()
    httpd.server_close()


def build_zip(path, model_dir, prefix="fr.model/", extra=()):
    with zipfile.ZipFile(path, "w") as out:
        for file in sorted(model_dir.iterdir()):
            if file.suffix != ".json" or file.name == "config.json":  # no architecture file, as published
                out.write(file, prefix + file.name)
        out.writestr(prefix + "meta.json", '{"id": 150}')
        for name, data in extra:
            out.writestr(name, data)


def test_catalog_is_the_44_nlpl_models():
    ids = sorted(m.nlpl_id for m in EFML_MODELS.values())
    assert ids == list(range(136, 180)) and len(EFML_MODELS) == 44
    assert EFML_MODELS["fr"].language == "French" and EFML_MODELS["fr"].url.endswith("/150.zip")
    assert EFML_MODELS["nb"].nlpl_id == 165 and EFML_MODELS["nl"].nlpl_id == 164  # as the README table lists them


def test_fetched_once_extracted_and_loaded(server, shared_data, tmp_path):
    root, httpd = server
    model_dir = shared_data / "efml-fixture" / "models" / "cnn_word_char"
    # a published zip lacks the architecture file: put the fixture's where the basename step finds it
    build_zip(root / "150.zip", model_dir)
    with pytest.raises(ValueError, match="cnn_8_16_32_64_sample.json"):
        load_pretrained_bilm("efml-fr")  # E402, listing the places it looked
    folder = fetch_efml_model("efml-fr", progress=False)
    assert folder == tmp_path / "cache" / "efml-fr-150"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["config.json", "char.dic", "word.dic", "encoder.pkl", "token_embedder.pkl", "meta.json"])
    assert not list((tmp_path / "cache").glob("*.zip"))  # the zip is gone once extracted
    shutil.copy(model_dir / "cnn_8_16_32_64_sample.json", folder)
    n_requests = len(httpd.requests)
    embedder = ElmoEmbedder("efml-fr", state_mode="reset")
    assert len(httpd.requests) == n_requests  # cached: no network
    source = resolve_model("efml-fr")
    assert (source.kind, source.folder, source.local_inputs()) == ("efml", folder, [])  # the cache is not an input
    ours = embedder.embed_sentence(["Le", "chat", "."])
    direct = ElmoEmbedder(str(model_dir), state_mode="reset").embed_sentence(["Le", "chat", "."])
    assert numpy.array_equal(ours, direct)


def test_unknown_code():
    with pytest.raises(ValueError, match=r"Unknown ELMoForManyLangs model 'efml-xx'.*\bfr\b"):
        fetch_efml_model("efml-xx")


@pytest.mark.parametrize(
    "extra,match",
    [
        ([("fr.model/../../escape.txt", "x")], "leaves the model folder"),
        ([("/etc/passwd", "x")], "leaves the model folder"),
    ],
)
def test_bad_members_extract_nothing(extra, match, shared_data, tmp_path):
    archive = tmp_path / "m.zip"
    build_zip(archive, shared_data / "efml-fixture" / "models" / "cnn_word_char", extra=extra)
    target = tmp_path / "out" / "model"
    target.parent.mkdir()
    with pytest.raises(ValueError, match=match):
        extract_model_zip(archive, target)
    assert list(target.parent.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_missing_and_damaged(shared_data, tmp_path):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("config.json", "{}")
    target = tmp_path / "out"
    with pytest.raises(ValueError, match="lacks token_embedder.pkl, encoder.pkl"):
        extract_model_zip(archive, target)
    build_zip(archive, shared_data / "efml-fixture" / "models" / "cnn_word_char", prefix="")
    data = bytearray(archive.read_bytes())
    start = data.find(b"encoder.pkl") + 200  # inside the stored member's data
    data[start : start + 50] = b"\0" * 50
    archive.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        extract_model_zip(archive, target)
    assert not target.exists() and not archive.exists()  # deleted: the next run fetches it again
