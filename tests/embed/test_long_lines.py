"""Long lines in `embed`: cut into --max-length chunks like the elmo component
cuts a long Doc, so the output equals the component's for the same tokens."""
import h5py
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from typer.testing import CliRunner

from spacy_elmo.cli._app import app
from spacy_elmo.embed import EmbedSettings, embed_file, load_for_cli

runner = CliRunner()


@pytest.fixture(scope="module")
def long_tokens(shared_data):
    words = (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf8").split()
    return words[:700]


@pytest.mark.parametrize("mode", ["warm", "reset"])
def test_long_line_equals_the_component(tmp_path, fixture_bilm_dir, long_tokens, mode):
    lines = [long_tokens, long_tokens[:5], long_tokens[100:400]]
    (tmp_path / "in.txt").write_text("".join(" ".join(t) + "\n" for t in lines), encoding="utf8")
    out = tmp_path / "out.hdf5"
    result = runner.invoke(
        app, ["embed", str(tmp_path / "in.txt"), str(out), "-w", str(fixture_bilm_dir), "--state-mode", mode]
    )
    assert result.exit_code == 0, result.output
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"max_length": 256, "bilm": {"weights": str(fixture_bilm_dir), "state_mode": mode}}})
    nlp.initialize()
    with h5py.File(out, "r") as f:
        for index, tokens in enumerate(lines):
            got = f[str(index)][...]
            assert got.shape == (3, len(tokens), 32) and got.dtype == numpy.float32
            want = nlp(Doc(nlp.vocab, words=tokens))._.elmo_layers
            numpy.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    # the chunks restart: token 256 starts a sequence of its own
    with h5py.File(out, "r") as f:
        first = f["0"][:, 256:512]
    alone = nlp(Doc(nlp.vocab, words=long_tokens[256:512]))._.elmo_layers
    numpy.testing.assert_allclose(first, alone, rtol=0, atol=2e-6)


def test_max_length_0_runs_the_line_whole(tmp_path, fixture_bilm_dir, long_tokens):
    (tmp_path / "in.txt").write_text(" ".join(long_tokens) + "\n", encoding="utf8")
    bilm = load_for_cli(str(fixture_bilm_dir), None, None, -1)
    settings = EmbedSettings(max_length=0, mode="reset")
    embed_file(tmp_path / "in.txt", tmp_path / "out.hdf5", bilm, settings, progress=False)
    whole, _ = bilm.embed_sentences([long_tokens], mode="reset")
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        got = f["0"][...]
    assert got.shape == (3, 700, 32)
    assert torch.equal(torch.from_numpy(got), whole[0])
    cut = EmbedSettings(mode="reset")  # 256 by default: other numbers past the first chunk's context
    embed_file(tmp_path / "in.txt", tmp_path / "cut.hdf5", bilm, cut, progress=False)
    with h5py.File(tmp_path / "cut.hdf5", "r") as f:
        assert not numpy.allclose(f["0"][...], got, atol=1e-3)


@pytest.mark.parametrize("output", ["top", "average"])
def test_long_line_top_and_average_match_all(tmp_path, fixture_bilm_dir, long_tokens, output):
    (tmp_path / "in.txt").write_text(" ".join(long_tokens) + "\nshort line\n", encoding="utf8")
    bilm = load_for_cli(str(fixture_bilm_dir), None, None, -1)
    embed_file(tmp_path / "in.txt", tmp_path / "all.hdf5", bilm, EmbedSettings(), progress=False)
    embed_file(tmp_path / "in.txt", tmp_path / "x.hdf5", bilm, EmbedSettings(output=output), progress=False)
    with h5py.File(tmp_path / "all.hdf5", "r") as a, h5py.File(tmp_path / "x.hdf5", "r") as x:
        for key in ("0", "1"):
            layers = a[key][...]
            want = layers[-1] if output == "top" else layers.mean(axis=0)
            numpy.testing.assert_array_equal(x[key][...], want)
