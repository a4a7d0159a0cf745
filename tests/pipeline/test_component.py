"""The `elmo` pipeline component."""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin

from helpers import DEFAULT_DIM
from spacy_elmo.models.bilm import get_bilm

TEXT = "The bank of the river was steep. I deposited cash at the bank. Then I went home."


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    nlp.initialize()
    return nlp


def sentencizer_nlp(**config):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("elmo", config=config)
    nlp.initialize()
    return nlp


def test_add_pipe_works_on_first_use_without_initialize():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    doc = nlp("Hello world")
    assert doc._.elmo_layers.shape == (3, 2, DEFAULT_DIM)


def test_extensions(nlp):
    doc = nlp(TEXT)
    layers = doc._.elmo_layers
    assert layers.shape == (3, len(doc), DEFAULT_DIM) and layers.dtype == numpy.float32
    token = doc[1]
    numpy.testing.assert_allclose(token._.elmo, layers[:, 1].mean(axis=0), rtol=1e-6, atol=1e-7)
    numpy.testing.assert_array_equal(token._.elmo_layers, layers[:, 1])
    span = doc[0:4]
    numpy.testing.assert_allclose(
        span._.elmo, numpy.mean([t._.elmo for t in span], axis=0), rtol=1e-5, atol=1e-6
    )
    numpy.testing.assert_allclose(
        doc._.elmo, numpy.mean([t._.elmo for t in doc], axis=0), rtol=1e-5, atol=1e-6
    )
    # layer 0 is context-free: both "bank"s share it; the LSTM layers differ.
    banks = [t for t in doc if t.text == "bank"]
    numpy.testing.assert_allclose(banks[0]._.elmo_layers[0], banks[1]._.elmo_layers[0], atol=1e-6)
    assert not numpy.allclose(banks[0]._.elmo_layers[2], banks[1]._.elmo_layers[2], atol=1e-3)


def test_sentences_run_independently():
    nlp = sentencizer_nlp()
    doc = nlp(TEXT)
    for sent in doc.sents:
        alone = nlp(sent.text)
        assert len(alone) == len(sent)
        numpy.testing.assert_allclose(sent._.elmo_layers, alone._.elmo_layers, rtol=2e-6, atol=2e-6)


def test_token_budget_and_max_length_do_not_change_vectors():
    big = sentencizer_nlp(model={"token_budget": 4096})
    small = sentencizer_nlp(model={"token_budget": 7})  # one sentence per batch
    texts = [TEXT, "Short one.", "A b c d e f g h i j k l m n o p q r s t u v w x y z."]
    for a, b in zip(big.pipe(texts), small.pipe(texts, batch_size=1)):
        numpy.testing.assert_allclose(a._.elmo_layers, b._.elmo_layers, rtol=2e-6, atol=2e-6)


def test_long_doc_without_sentences_is_chunked():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"max_length": 100, "token_budget": 2000}})
    words = ("the quick brown fox jumps over the lazy dog".split() * 2300)[:20000]
    doc = nlp(Doc(nlp.vocab, words=words))
    layers = doc._.elmo_layers
    assert layers.shape == (3, 20000, DEFAULT_DIM)
    assert numpy.isfinite(layers).all()
    assert numpy.abs(layers[1:, -1]).sum() > 0  # the last chunk ran
    # chunk boundaries restart the state: token 100 starts a chunk like token 0
    chunk = nlp(Doc(nlp.vocab, words=words[100:200]))
    numpy.testing.assert_allclose(layers[:, 100:200], chunk._.elmo_layers, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize(
    "words",
    [
        [],
        [" ", "\t", "\n"],
        ["x" * 500, "y"],
        ["🙂", "👩‍👩‍👧", "\x00", "\x1b[31m", "\u202e", "naïve", "日本語"],
    ],
)
def test_odd_input_never_crashes(nlp, words):
    doc = nlp(Doc(nlp.vocab, words=words))
    assert doc._.elmo_layers.shape == (3, len(words), DEFAULT_DIM)
    assert numpy.isfinite(doc._.elmo_layers).all()
    assert doc._.elmo.shape == (DEFAULT_DIM,)


def test_mix_options():
    nlp = spacy.blank("en")
    for mix, check in [
        ("top", lambda t: numpy.testing.assert_array_equal(t._.elmo, t._.elmo_layers[-1] * 2)),
        ("concat", lambda t: numpy.testing.assert_array_equal(t._.elmo, t._.elmo_layers.reshape(-1) * 1)),
        ([0.0, 0.25, 0.75], lambda t: numpy.testing.assert_allclose(
            t._.elmo, 2 * (0.25 * t._.elmo_layers[1] + 0.75 * t._.elmo_layers[2]), rtol=1e-6)),
    ]:
        name = f"elmo_{len(nlp.pipe_names)}"
        gamma = 1.0 if mix == "concat" else 2.0
        nlp.add_pipe("elmo", name=name, config={"mix": mix, "gamma": gamma})
        doc = nlp.get_pipe(name)(nlp.make_doc("Contextual vectors ."))
        for token in doc:
            check(token)


def test_bad_mix():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="Unknown mix"):
        nlp.add_pipe("elmo", config={"mix": "max"})
    nlp.add_pipe("elmo", config={"mix": [1.0, 0.0]})
    with pytest.raises(ValueError, match="3 weights"):
        nlp("two weights for three layers")


def test_doc_tensor_and_vector_hooks():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"set_doc_tensor": True, "set_vector_hooks": True})
    doc = nlp("I sat by the river bank. The bank closed at noon.")
    numpy.testing.assert_array_equal(doc.tensor, numpy.stack([t._.elmo for t in doc]))
    numpy.testing.assert_array_equal(doc[4].vector, doc[4]._.elmo)
    assert doc[4].has_vector
    a, b = doc[4], doc[7]
    expected = float(numpy.dot(a._.elmo, b._.elmo) / numpy.linalg.norm(a._.elmo) / numpy.linalg.norm(b._.elmo))
    assert a.similarity(b) == pytest.approx(expected)
    assert doc[0:3].similarity(doc[0:3]) == pytest.approx(1.0)


def test_to_disk_and_spacy_load_are_bit_identical(nlp, tmp_path):
    doc = nlp(TEXT)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    a, b = get_bilm(nlp.get_pipe("elmo").model), get_bilm(loaded.get_pipe("elmo").model)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    numpy.testing.assert_array_equal(doc._.elmo_layers, loaded(TEXT)._.elmo_layers)
    # to_bytes / from_bytes too, into a pipeline that never saw the weights
    fresh = spacy.blank("en")
    fresh.add_pipe("elmo", config={"model": {"bilm": {"weights": "does-not-exist"}}})
    fresh.from_bytes(nlp.to_bytes())
    numpy.testing.assert_array_equal(doc._.elmo_layers, fresh(TEXT)._.elmo_layers)


def test_saved_pipeline_needs_no_original_files(fixtures_dir, tmp_path):
    import shutil

    src = tmp_path / "weights"
    src.mkdir()
    shutil.copy(fixtures_dir / "options.json", src / "options.json")
    shutil.copy(fixtures_dir / "lm_weights.hdf5", src / "lm_weights.hdf5")
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "elmo",
        config={"model": {"bilm": {"weights": None, "options_file": str(src / "options.json"),
                                   "weight_file": str(src / "lm_weights.hdf5")}}},
    )
    nlp.initialize()
    expected = nlp(TEXT)._.elmo_layers
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(src)
    numpy.testing.assert_array_equal(spacy.load(tmp_path / "pipeline")(TEXT)._.elmo_layers, expected)


def test_docbin_and_doc_bytes_keep_the_vectors(nlp):
    doc = nlp(TEXT)
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    numpy.testing.assert_array_equal(restored._.elmo_layers, doc._.elmo_layers)
    numpy.testing.assert_array_equal(restored[3]._.elmo, doc[3]._.elmo)
    docbin = DocBin(store_user_data=True, docs=[doc])
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab)
    numpy.testing.assert_array_equal(back._.elmo_layers, doc._.elmo_layers)


def test_pipe_batches_and_processes_agree(nlp):
    texts = [TEXT, "One more .", "And a third, longer text about banks and rivers."] * 4
    single = [nlp(t)._.elmo_layers for t in texts]
    batched = [d._.elmo_layers for d in nlp.pipe(texts, batch_size=5)]
    multi = [d._.elmo_layers for d in nlp.pipe(texts, batch_size=3, n_process=2)]
    for a, b, c in zip(single, batched, multi):
        numpy.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6)
        numpy.testing.assert_allclose(a, c, rtol=2e-6, atol=2e-6)


def test_bad_settings():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"\[components.elmo.model\] max_length"):
        nlp.add_pipe("elmo", config={"model": {"max_length": -1}})
    with pytest.raises(ValueError, match=r"token_budget must be an integer >= 1, not -1"):
        nlp.add_pipe("elmo", config={"model": {"token_budget": -1}})
    with pytest.raises(NotImplementedError, match="listen to it"):
        nlp.add_pipe("elmo", name="e3").add_label("PER")
    with pytest.raises(ValueError, match="state mode"):
        nlp.add_pipe("elmo", name="e2", config={"model": {"bilm": {"state_mode": "sticky"}}})


def test_unknown_weights_name_is_clear():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"bilm": {"weights": "no-such-model"}}})
    with pytest.raises(ValueError, match="no-such-model"):
        nlp.initialize()


@pytest.mark.gpu
def test_gpu(fixtures_dir):
    pytest.importorskip("cupy", reason="spacy.require_gpu needs CuPy (spaCy's own GPU tests skip without it)")
    spacy.require_gpu()
    try:
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo")
        doc = nlp(TEXT)
        assert get_bilm(nlp.get_pipe("elmo").model).device.type == "cuda"
        assert isinstance(doc._.elmo_layers, numpy.ndarray)
    finally:
        spacy.require_cpu()
