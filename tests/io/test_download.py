"""Downloads, the cache and weight resolution, against an HTTP server on
127.0.0.1 that each test starts itself (no internet needed)."""
import functools
import hashlib
import shutil
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from spacy_elmo.errors import DownloadError, ElmoError
from spacy_elmo.io import download
from spacy_elmo.io.download import PRESETS, cache_dir, fetch
from spacy_elmo.io.resolve import resolve_weights
from spacy_elmo.io.weights import load_bilm

from helpers import load_fixture_bilm

SMALL = PRESETS["small"].folder
FIXTURE_SHA256 = "dfdfd3001b5965b4b6ef857ac772b6624984f8248eaae08fb9be6d1b51ad8755"


class Handler(SimpleHTTPRequestHandler):
    """Serves a folder, plus /truncated (promises more bytes than it sends)
    and /slow (sends headers, then nothing for a while)."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 400)
            self.close_connection = True
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            time.sleep(1.0)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


class Server:
    def __init__(self, root: Path):
        handler = functools.partial(Handler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.running = True

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.running = False


@pytest.fixture
def served(tmp_path, fixtures_dir):
    """A folder with the fixture files, laid out like AllenNLP's S3 bucket."""
    root = tmp_path / "www"
    (root / SMALL).mkdir(parents=True)
    shutil.copyfile(fixtures_dir / "options.json", root / "options.json")
    shutil.copyfile(fixtures_dir / "lm_weights.hdf5", root / "lm_weights.hdf5")
    shutil.copyfile(fixtures_dir / "options.json", root / SMALL / f"elmo_{SMALL}_options.json")
    shutil.copyfile(fixtures_dir / "lm_weights.hdf5", root / SMALL / f"elmo_{SMALL}_weights.hdf5")
    return root


@pytest.fixture
def server(served):
    srv = Server(served)
    yield srv
    srv.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv(download.ENV_VAR, str(path))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cached_files(cache: Path):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def assert_same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_cache_dir_env_and_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv(download.ENV_VAR, str(tmp_path / "elmo"))
    assert cache_dir() == tmp_path / "elmo"
    monkeypatch.delenv(download.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "spacy-elmo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "spacy-elmo"


def test_fetch_downloads_then_uses_cache(server, cache, fixtures_dir, capsys):
    url = server.url("lm_weights.hdf5")
    path = fetch(url, progress=True)
    assert path.parent == cache
    assert path.name.endswith("-lm_weights.hdf5")
    assert path.read_bytes() == (fixtures_dir / "lm_weights.hdf5").read_bytes()
    assert cached_files(cache) == [path.name]  # no temporary file left beside it
    bar = capsys.readouterr().err
    assert "lm_weights.hdf5" in bar and "440k" in bar  # 450,896 B in KiB
    server.stop()
    assert fetch(url, progress=False) == path
    assert fetch(url, sha256=FIXTURE_SHA256, progress=False) == path
    assert server.requests == ["/lm_weights.hdf5"]


def test_fetch_cache_name_depends_on_whole_url(server, cache):
    a = fetch(server.url("options.json"), progress=False)
    b = fetch(server.url(f"{SMALL}/elmo_{SMALL}_options.json"), progress=False)
    c = fetch(server.url("options.json?v=2"), progress=False)
    assert len({a, b, c}) == 3
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()


def test_fetch_explicit_cache_dir(server, cache, tmp_path):
    path = fetch(server.url("options.json"), cache_dir=tmp_path / "other", progress=False)
    assert path.parent == tmp_path / "other"
    assert not cache.exists()


def test_fetch_sha256_ok_and_mismatch(server, cache):
    path = fetch(server.url("lm_weights.hdf5"), sha256=FIXTURE_SHA256.upper(), progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FIXTURE_SHA256
    with pytest.raises(DownloadError, match="sha256") as info:
        fetch(server.url("options.json"), sha256="0" * 64, progress=False)
    assert server.url("options.json") in str(info.value)
    assert cached_files(cache) == [path.name]


def test_fetch_cached_copy_with_wrong_sha256_is_fetched_again(server, cache):
    url = server.url("lm_weights.hdf5")
    path = fetch(url, progress=False)
    path.write_bytes(b"corrupt")
    assert fetch(url, sha256=FIXTURE_SHA256, progress=False) == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FIXTURE_SHA256
    assert server.requests == ["/lm_weights.hdf5"] * 2


def assert_actionable(err: Exception, url: str, cache: Path):
    message = str(err)
    assert url in message
    assert "pass its local path" in message
    assert str(cache) in message and download.ENV_VAR in message


def test_fetch_404(server, cache):
    url = server.url("missing.hdf5")
    with pytest.raises(DownloadError) as info:
        fetch(url, progress=False)
    assert "404" in str(info.value)
    assert_actionable(info.value, url, cache)
    assert cached_files(cache) == []


def test_fetch_connection_refused(cache):
    url = f"http://127.0.0.1:{free_port()}/weights.hdf5"
    with pytest.raises(DownloadError) as info:
        fetch(url, progress=False)
    assert_actionable(info.value, url, cache)
    assert cached_files(cache) == []


def test_fetch_truncated_body(server, cache):
    url = server.url("truncated")
    with pytest.raises(DownloadError, match="400 of 1000 bytes") as info:
        fetch(url, progress=False)
    assert_actionable(info.value, url, cache)
    assert cached_files(cache) == []


def test_fetch_timeout(server, cache):
    url = server.url("slow")
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out") as info:
        fetch(url, progress=False, timeout=0.2)
    assert time.perf_counter() - start < 0.9
    assert_actionable(info.value, url, cache)
    assert cached_files(cache) == []


def test_fetch_local_paths(fixtures_dir, tmp_path):
    weights = fixtures_dir / "lm_weights.hdf5"
    assert fetch(weights) == weights
    assert fetch(str(weights)) == weights
    assert fetch(weights.as_uri()) == weights
    with pytest.raises(DownloadError, match="does not exist") as info:
        fetch(tmp_path / "nope.hdf5")
    assert str(tmp_path / "nope.hdf5") in str(info.value)
    with pytest.raises(DownloadError, match="does not exist"):
        fetch((tmp_path / "nope.hdf5").as_uri())


def test_preset_urls():
    assert PRESETS["small"].options_url == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/"
        "elmo_2x1024_128_2048cnn_1xhighway_options.json"
    )
    assert PRESETS["original-5.5B"].weights_url == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x4096_512_2048cnn_2xhighway_5.5B/"
        "elmo_2x4096_512_2048cnn_2xhighway_5.5B_weights.hdf5"
    )
    assert set(PRESETS) == {"small", "medium", "original", "original-5.5B"}
    assert all(p.options_sha256 is None and p.weights_sha256 is None for p in PRESETS.values())


def test_resolve_preset_downloads_and_loads(server, cache, monkeypatch, fixtures_dir):
    monkeypatch.setattr(download, "BASE_URL", server.base)
    options, weights = resolve_weights("small")
    assert server.requests == [
        f"/{SMALL}/elmo_{SMALL}_options.json",
        f"/{SMALL}/elmo_{SMALL}_weights.hdf5",
    ]
    assert options.parent == weights.parent == cache
    assert_same_params(load_bilm(options, weights), load_fixture_bilm())
    server.stop()
    assert resolve_weights("small") == (options, weights)


def test_resolve_explicit_files(server, cache, fixtures_dir):
    options = fixtures_dir / "options.json"
    options_out, weights_out = resolve_weights(
        options_file=options, weight_file=server.url("lm_weights.hdf5")
    )
    assert options_out == options and weights_out.parent == cache
    load_bilm(options_out, weights_out)
    with pytest.raises(DownloadError, match="weight_file is missing"):
        resolve_weights(options_file=options)
    with pytest.raises(DownloadError, match="Ambiguous"):
        resolve_weights("small", options_file=options, weight_file=options)
    with pytest.raises(DownloadError, match="nothing was given"):
        resolve_weights()


def test_resolve_directory(tmp_path, fixtures_dir):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copyfile(fixtures_dir / "options.json", folder / "options.json")
    with pytest.raises(DownloadError, match="weights.hdf5: the file does not exist"):
        resolve_weights(folder)
    shutil.copyfile(fixtures_dir / "lm_weights.hdf5", folder / "weights.hdf5")
    assert resolve_weights(folder) == (folder / "options.json", folder / "weights.hdf5")
    assert resolve_weights(str(folder)) == (folder / "options.json", folder / "weights.hdf5")


def test_resolve_unknown_name_lists_presets():
    with pytest.raises(ElmoError) as info:
        resolve_weights("large")
    assert isinstance(info.value, DownloadError)
    message = str(info.value)
    assert "'large'" in message
    for name in ("default", "small", "medium", "original", "original-5.5B"):
        assert repr(name) in message


def test_resolve_default_is_shipped():
    """The built-in default: files as listed (size, sha256) in its README,
    small enough to ship, and loadable."""
    import re

    options, weights = resolve_weights("default")
    assert options.is_file() and weights.is_file()
    assert (options.name, weights.name) == ("options.json", "weights.hdf5")
    readme = (weights.parent / "README.md").read_text(encoding="utf8")
    for path in (options, weights):
        row = re.search(r"\| `%s` \| ([\d,]+) \| ([0-9a-f]{64}) \|" % re.escape(path.name), readme)
        assert row, f"{path.name} is not listed in {weights.parent / 'README.md'}"
        data = path.read_bytes()
        assert int(row.group(1).replace(",", "")) == len(data)
        assert hashlib.sha256(data).hexdigest() == row.group(2)
    assert weights.stat().st_size <= 20 * 1024 * 1024
    model = load_bilm(options, weights)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_file_placed_by_hand_in_cache_is_used(cache, fixtures_dir):
    url = f"http://127.0.0.1:{free_port()}/{SMALL}/elmo_{SMALL}_weights.hdf5"
    with pytest.raises(DownloadError) as info:
        fetch(url, progress=False)
    name = download.cache_name(url)
    assert f"{cache} (as {name})" in str(info.value)  # the message names the exact file
    assert cached_files(cache) == []  # fetch made the folder, left nothing in it
    shutil.copyfile(fixtures_dir / "lm_weights.hdf5", cache / name)
    assert fetch(url, sha256=FIXTURE_SHA256, progress=False) == cache / name
