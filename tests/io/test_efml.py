"""ELMoForManyLangs models: exact against EFML's own outputs (the fixture),
against a direct implementation of EFML_FORMAT.md for other shapes, in every
state mode, and the conversion into the bilm-tf-shaped modules."""
import json
import shutil

import numpy
import pytest
import torch

from spacy_elmo.bilm.efml import EfmlBiLM
from spacy_elmo.io.efml import architecture_path, load_efml_bilm, read_dic
from spacy_elmo.io.weights import _entries

from efml_helpers import Reference, fixture_reference, fixture_sentences, make_efml_model

EDGE = [
    ["Le", "chat", "sat", "."],
    ["日本語", "ß", "é", "\u3000", "", "<pad>", "<bos>", "x" * 30],
    ["the"],
    [],
    ["TAE", "théâtre", "cat", ",", "the", "a", "Le", "chat", "日本語"],
]


@pytest.fixture(scope="module")
def fixture_dir(shared_data):
    return shared_data / "efml-fixture"


@pytest.fixture(scope="module")
def fixture_model(fixture_dir):
    return load_efml_bilm(fixture_dir / "models" / "cnn_word_char")


@pytest.fixture(scope="module")
def sentences(fixture_dir):
    return fixture_sentences(fixture_dir)


@pytest.fixture(scope="module")
def reference(fixture_dir, sentences):
    return fixture_reference(fixture_dir, len(sentences))


def max_dev(ours, refs, sentences):
    """Max abs deviation per layer over all sentences."""
    worst = numpy.zeros(ours.shape[1])
    for i, sent in enumerate(sentences):
        got = ours[i, :, : len(sent)]
        assert got.shape == refs[i].shape
        if len(sent):
            worst = numpy.maximum(worst, numpy.abs(got - refs[i]).reshape(got.shape[0], -1).max(1))
    return worst


def test_fixture_matches_efml_on_every_layer(fixture_model, sentences, reference):
    layers, n = fixture_model.embed_sentences(sentences, mode="reset")
    assert n.tolist() == [len(s) for s in sentences]
    worst = max_dev(layers.numpy(), reference, sentences)
    assert worst.shape == (3,)
    assert (worst < 1e-5).all(), worst
    # the char-id path (fine-tuning, `embed`) computes the same numbers
    ids = fixture_model.char_ids(sentences)
    assert torch.equal(fixture_model.embed(ids, mode="reset")[0], layers)
    with torch.no_grad():
        diff, _, _ = fixture_model.eval().elmo_layers(ids)
    assert (max_dev(diff.numpy(), reference, sentences) < 1e-5).all()


def test_fixture_is_batch_independent_and_cached_exactly(fixture_model, sentences):
    batch = fixture_model.embed_sentences(sentences[:10], mode="reset")[0]
    for i in (0, 7):
        alone = fixture_model.embed_sentences([sentences[i]], mode="reset")[0]
        n = len(sentences[i])
        assert torch.equal(alone[0, 0, :n], batch[i, 0, :n])  # layer 0: the token alone
        torch.testing.assert_close(alone[0, :, :n], batch[i, :, :n], rtol=2e-6, atol=2e-6)
    fixture_model.set_token_cache(0)
    uncached = fixture_model.embed_sentences(sentences[:10], mode="reset")[0]
    fixture_model.set_token_cache(1000)
    fixture_model.embed_sentences(sentences[:10], mode="reset")
    cached = fixture_model.embed_sentences(sentences[:10], mode="reset")[0]
    assert fixture_model.token_cache.hits > 0
    assert torch.equal(uncached, batch) and torch.equal(cached, batch)


def test_direct_implementation_matches_fixture(fixture_dir, sentences, reference):
    """The test's own reading of EFML_FORMAT.md agrees with EFML's outputs,
    so it can check the shapes and modes the fixture does not cover."""
    model_dir = fixture_dir / "models" / "cnn_word_char"
    ref = Reference(model_dir, architecture_path(model_dir))
    for i in (0, 9, 25, len(sentences) - 1):
        out, _ = ref.sentence(sentences[i])
        assert numpy.abs(out - reference[i]).max() < 1e-5


def run_carry(model, ref, batches):
    """Our carry mode vs EFML's statefulness (row r's final state starts row r
    of the next batch; rows beyond a smaller batch keep theirs)."""
    model.reset_carry()
    states = {}
    worst = 0.0
    for batch in batches:
        ours = model.embed_sentences(batch, mode="carry")[0].numpy()
        for r, sent in enumerate(batch):
            out, states[r] = ref.sentence(sent, states.get(r))
            worst = max(worst, float(numpy.abs(ours[r, :, : len(sent)] - out).max()) if len(sent) else 0.0)
    model.reset_carry()
    return worst


def test_carry_reproduces_efml_stateful_batches(fixture_dir, fixture_model, sentences):
    model_dir = fixture_dir / "models" / "cnn_word_char"
    ref = Reference(model_dir, architecture_path(model_dir))
    batches = [sentences[0:3], sentences[3:5], sentences[5:9]]
    assert run_carry(fixture_model, ref, batches) < 1e-5
    # and the carried state matters: the second batch differs from reset
    fixture_model.embed_sentences(batches[0], mode="carry")
    carried = fixture_model.embed_sentences(batches[1], mode="carry")[0]
    fixture_model.reset_carry()
    assert (carried - fixture_model.embed_sentences(batches[1], mode="reset")[0]).abs().max() > 1e-2


VARIANTS = {
    "word+char": {},
    "char only": {"word_dim": 0},
    "word only": {"char_dim": 0},
    "tanh, 1 layer, no clipping, one filter": {
        "activation": "tanh", "n_layers": 1, "cell_clip": 0, "proj_clip": None,
        "filters": ((2, 3),), "n_highway": 0},
    "3 layers, 3 highway, wide": {"n_layers": 3, "n_highway": 3, "dim": 9, "projection_dim": 4, "max_chars": 9},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_match_direct_implementation(name, tmp_path):
    model_dir = make_efml_model(tmp_path / "m", **VARIANTS[name])
    model = load_efml_bilm(model_dir)
    assert isinstance(model, EfmlBiLM)
    ref = Reference(model_dir, model_dir / "tiny_arch.json")
    layers, n = model.embed_sentences(EDGE, mode="reset")
    for i, sent in enumerate(EDGE):
        out, _ = ref.sentence(sent)
        assert out.shape == (model.config.n_layers + 1, len(sent), 2 * model.config.projection_dim)
        if len(sent):
            per_layer = numpy.abs(layers[i, :, : len(sent)].numpy() - out).reshape(out.shape[0], -1).max(1)
            assert (per_layer < 1e-5).all(), (name, i, per_layer)
    assert run_carry(model, ref, [EDGE[:3], EDGE[3:4], EDGE]) < 1e-5


def test_conversion_fills_the_bilm_tf_modules(tmp_path):
    """Every bilm-tf tensor is loaded (no zero left where the converter
    missed one), the forget bias is the stored one minus bilm-tf's runtime
    1.0, and the highway carry gate is the negated EFML gate."""
    model_dir = make_efml_model(tmp_path / "m")
    model = load_efml_bilm(model_dir)
    token = torch.load(model_dir / "token_embedder.pkl", weights_only=True)
    encoder = torch.load(model_dir / "encoder.pkl", weights_only=True)
    for entry in _entries(model.config):
        if entry.name != "char_embed":
            assert numpy.abs(entry.get(model)).max() > 0, entry.name
    d, nf = model.config.lstm_dim, model.config.n_filters
    stored = encoder["backward_layer_1.state_linearity.bias"]
    bias = model.lstm.layers[1].bias[1]
    assert torch.allclose(bias[2 * d : 3 * d] + 1.0, stored[d : 2 * d])  # f
    assert torch.equal(bias[d : 2 * d], stored[2 * d : 3 * d])  # j = g
    carry = model.char_cnn.highway.carry[1]
    assert torch.equal(carry.weight, -token["highways._layers.1.weight"][nf:])
    assert torch.equal(carry.bias, -token["highways._layers.1.bias"][nf:])
    table = model.char_cnn.char_embed.weight
    assert torch.equal(table[0], torch.zeros_like(table[0]))
    assert torch.equal(table[1:], token["char_emb_layer.embedding.weight"])


def test_config_path_resolution(tmp_path, fixture_dir):
    model_dir = tmp_path / "m"
    shutil.copytree(fixture_dir / "models" / "cnn_word_char", model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    # the fixture's foreign absolute path: found by its basename in the directory
    assert architecture_path(model_dir) == model_dir / "cnn_8_16_32_64_sample.json"

    def set_path(value):
        config["config_path"] = value
        (model_dir / "config.json").write_text(json.dumps(config))

    (model_dir / "configs").mkdir()
    shutil.move(str(model_dir / "cnn_8_16_32_64_sample.json"), model_dir / "configs" / "arch.json")
    set_path("configs/arch.json")  # joined to the directory
    assert architecture_path(model_dir) == model_dir / "configs" / "arch.json"
    set_path(str(model_dir / "configs" / "arch.json"))  # absolute
    assert architecture_path(model_dir) == model_dir / "configs" / "arch.json"
    set_path("/users4/conll18st/elmo/configs/cnn_50_100_512_4096_sample.json")  # the shipped file
    shipped = architecture_path(model_dir)
    assert shipped.name == "cnn_50_100_512_4096_sample.json" and shipped.parent.name == "efml"
    spec = json.loads(shipped.read_text())
    assert spec["encoder"]["dim"] == 4096 and spec["token_embedder"]["word_dim"] == 100


def test_dic_parsing_is_efml_s(tmp_path):
    path = tmp_path / "x.dic"
    path.write_bytes("a\t0\n \t1\n\u3000\t2\nb\t3\x85c\t4\r\nb\t5\n".encode("utf8"))
    # ' ' and U+3000 both become U+3000 (the later wins); \x85 ends a line; duplicates overwrite
    assert read_dic(path) == {"a": 0, "\u3000": 2, "b": 5, "c": 4}


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _broken(tmp_path, change):
    model_dir = make_efml_model(tmp_path / "m")
    change(model_dir)
    return model_dir


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _arch(key, value):
    def change(d):
        section, name = key.split(".")
        if value is KeyError:
            del d[section][name]
        else:
            d[section][name] = value
    return lambda m: _edit_json(m / "tiny_arch.json", change)


def _state(name, change):
    def apply(m):
        state = torch.load(m / name, weights_only=True)
        change(state)
        torch.save(state, m / name)
    return apply


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda m: (m / "char.dic").unlink(), r"char\.dic.*char_dim is 4"),
        (lambda m: (m / "word.dic").unlink(), r"word\.dic"),
        (lambda m: (m / "encoder.pkl").unlink(), r"encoder\.pkl"),
        (lambda m: (m / "config.json").unlink(), r"no config\.json"),
        (lambda m: (m / "config.json").write_text("{"), r"not valid JSON"),
        (lambda m: (m / "config.json").write_text('{"gpu": 1}'), r"config_path"),
        (lambda m: (m / "tiny_arch.json").unlink(),
         r"tiny_arch\.json.*/elsewhere/configs/tiny_arch\.json, .*m/tiny_arch\.json \(spacy-elmo ships only"),
        (_arch("token_embedder.name", "lstm"), r"'lstm'.*crashes"),
        (_arch("token_embedder.name", "gru"), r"'gru': unknown"),
        (_arch("encoder.name", "lstm"), r"'lstm'.*one vector per token"),
        (_arch("encoder.cell_clip", KeyError), r"encoder\.cell_clip"),
        (_arch("token_embedder.activation", "gelu"), r"activation.*'gelu'"),
        (_arch("token_embedder.filters", [[20, 2]]), r"wider than max_characters_per_token \(12\)"),
        (_arch("token_embedder.n_highway", 1), r"token_embedder\.pkl.*not in the architecture 'highways\._layers\.1\.weight'"),
        (_arch("encoder.dim", 8), r"encoder\.pkl.*has shape \(28, 5\), the architecture implies \(32, 5\)"),
        (_state("encoder.pkl", lambda s: s.pop("forward_layer_1.state_projection.weight")),
         r"missing 'forward_layer_1\.state_projection\.weight'"),
        (_state("token_embedder.pkl", lambda s: s["projection.bias"].fill_(float("nan"))), r"projection\.bias"),
        (lambda m: (m / "word.dic").write_text("<oov>\t0\n<bos>\t1\n<eos>\t2\n"), r"word\.dic.*<pad>"),
        (lambda m: (m / "word.dic").write_text("<oov>\t0\n<bos>\t1\n<eos>\t2\n<pad>\t3\n"),
         r"word\.dic.*the word table.*13 rows.*4 entries"),
        (lambda m: (m / "char.dic").write_text("a\tb\tc\n"), r"char\.dic, line 1: 3 tab-separated fields"),
        (lambda m: (m / "char.dic").write_text("a\t0\nb\tx\n"), r"line 2: the id 'x'"),
        (lambda m: (m / "char.dic").write_bytes(b"a\t0\n\xff\t1\n"), r"line 2: not UTF-8"),
        (lambda m: (m / "encoder.pkl").write_bytes(b"not a pickle"), r"encoder\.pkl"),
        (lambda m: torch.save([1, 2], m / "encoder.pkl"), r"not a dict of tensors"),
    ],
)
def test_bad_models_are_clear_errors(tmp_path, change, match):
    model_dir = _broken(tmp_path, change)
    with pytest.raises(ValueError, match=match):
        load_efml_bilm(model_dir)


def test_pickles_are_never_executed(tmp_path, capsys):
    import pickle

    model_dir = make_efml_model(tmp_path / "m")
    with (model_dir / "encoder.pkl").open("wb") as out:
        pickle.dump({"x": Evil()}, out, protocol=2)
    with pytest.raises(ValueError, match=r"encoder\.pkl.*weights_only=True"):
        load_efml_bilm(model_dir)
    assert "must never run" not in capsys.readouterr().out


def test_legacy_cuda_tagged_pickles_load_on_cpu(fixture_dir):
    """The fixture's pickles are legacy (non-zip) files tagged cuda:3."""
    with (fixture_dir / "models" / "cnn_word_char" / "encoder.pkl").open("rb") as handle:
        assert handle.read(2) != b"PK"
    model = load_efml_bilm(fixture_dir / "models" / "cnn_word_char")
    assert model.device.type == "cpu"
