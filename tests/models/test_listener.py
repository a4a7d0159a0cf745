"""ELMo under downstream components: listener, scalar mix, frozen/fine-tuned."""
import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.vectors import Vectors
from thinc.api import Config

from spacy_elmo.errors import ElmoError
from spacy_elmo.models.bilm import get_bilm

from helpers import BILM_BLOCK, LISTENER_TAGGER_CFG, TAGGER_BLOCK

# the tiny AllenNLP fixture biLM: these tests are about the listener, not the model
TAGGER_CFG = LISTENER_TAGGER_CFG

SELF_CONTAINED_CFG = """
[nlp]
lang = "en"
pipeline = ["tagger"]

[components]
""" + TAGGER_BLOCK + """
[components.tagger.model.tok2vec]
@architectures = "spacy-elmo.ElmoTok2Vec.v1"
width = 24

[components.tagger.model.tok2vec.encoder]
@architectures = "spacy-elmo.ElmoEncoder.v1"

[components.tagger.model.tok2vec.encoder.bilm]""" + BILM_BLOCK

ELMO_DIM = 32

DATA = [
    ("I like green eggs", ["PRON", "VERB", "ADJ", "NOUN"]),
    ("Eat blue ham", ["VERB", "ADJ", "NOUN"]),
    ("The bank closed early today", ["DET", "NOUN", "VERB", "ADV", "NOUN"]),
]


def make(cfg: str, fine_tune: bool):
    nlp = spacy.util.load_model_from_config(Config().from_str(cfg.format(fine_tune=str(fine_tune).lower())), auto_fill=True, validate=True)
    examples = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in DATA]
    optimizer = nlp.initialize(lambda: examples)
    return nlp, examples, optimizer


def bilm_of(nlp):
    for _, pipe in nlp.pipeline:
        for node in pipe.model.walk():
            if node.name == "elmo_bilm" and node.shims[0]._model is not None:
                return get_bilm(node)


def train(nlp, examples, optimizer, steps=3):
    losses = []
    for _ in range(steps):
        result = {}
        nlp.update(examples, sgd=optimizer, losses=result)
        losses.append(result["tagger"])
    return losses


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("cfg", [TAGGER_CFG, SELF_CONTAINED_CFG], ids=["listener", "self-contained"])
@pytest.mark.parametrize("fine_tune", [False, True])
def test_update_frozen_vs_fine_tuned(cfg, fine_tune):
    nlp, examples, optimizer = make(cfg, fine_tune)
    before = snapshot(bilm_of(nlp))
    losses = train(nlp, examples, optimizer, steps=4)
    assert losses[-1] < losses[0]
    after = snapshot(bilm_of(nlp))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    if fine_tune:
        assert any(k.startswith("lstm.layers") for k in changed)
        assert any(k.startswith("char_cnn") for k in changed)
    else:
        assert changed == []
    # the task-specific mix weights learned something
    mix = [n for n in nlp.get_pipe("tagger").model.walk() if n.name == "elmo_scalar_mix"][0]
    assert not numpy.allclose(mix.get_param("W"), 0.0)


def test_frozen_builds_no_graph():
    nlp, examples, optimizer = make(TAGGER_CFG, False)
    train(nlp, examples, optimizer, steps=1)
    bilm = bilm_of(nlp)
    assert all(p.grad is None for p in bilm.parameters())


def test_listener_round_trip_and_replace_listeners(tmp_path):
    nlp, examples, optimizer = make(TAGGER_CFG, False)
    train(nlp, examples, optimizer, steps=3)
    cfg = round_trip_and_replace(nlp, tmp_path)
    assert cfg["@architectures"] == "spacy-elmo.ElmoTok2Vec.v1"


def round_trip_and_replace(nlp, tmp_path):
    """Trained tagger pipeline: to_disk/spacy.load gives the same tags;
    replace_listeners keeps the tagger's outputs, and the pipeline without the
    elmo component saves and loads with the same tags. Returns the new tok2vec config."""
    texts = [t for t, _ in DATA]
    expected = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [[t.tag_ for t in d] for d in loaded.pipe(texts)] == expected
    assert loaded.get_pipe("elmo").listening_components == ["tagger"]  # reconnected after load
    tagger = nlp.get_pipe("tagger")
    before = tagger.model.predict([nlp.get_pipe("elmo")(nlp.make_doc(t)) for t in texts])
    nlp.replace_listeners("elmo", "tagger", ["model.tok2vec"])
    assert nlp.get_pipe("elmo").listening_components == []
    after = tagger.model.predict([nlp.make_doc(t) for t in texts])
    for a, b in zip(before, after):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    nlp.remove_pipe("elmo")
    nlp.to_disk(tmp_path / "q")
    assert [[t.tag_ for t in d] for d in spacy.load(tmp_path / "q").pipe(texts)] == expected
    return nlp.config["components"]["tagger"]["model"]["tok2vec"]


def test_listener_without_elmo_annotation_gives_zeros():
    """As spaCy's Tok2VecListener: a Doc the elmo component did not process
    (e.g. the component is disabled) gets zero features of the right width."""
    nlp, _, _ = make(TAGGER_CFG, False)
    tok2vec = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    (out,) = tok2vec.predict([nlp.make_doc("no elmo ran")])
    assert out.shape == (3, 24) and not out.any()


EXTRA_CFG = TAGGER_CFG + """
[components.tagger.model.tok2vec.static_vectors]
@layers = "spacy.StaticVectors.v2"
nO = 8
nM = null
dropout = null
key_attr = "ORTH"

[components.tagger.model.tok2vec.static_vectors.init_W]
@initializers = "glorot_uniform_init.v1"

[components.tagger.model.tok2vec.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[components.tagger.model.tok2vec.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 8
attrs = ["NORM", "SHAPE"]
rows = [100, 50]
include_static_vectors = false

[components.tagger.model.tok2vec.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 8
depth = 1
window_size = 1
maxout_pieces = 2
"""


def make_with_vectors(cfg: str, fine_tune: bool):
    config = Config().from_str(cfg.format(fine_tune=str(fine_tune).lower()))
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    words = "I like green eggs Eat blue ham The bank closed early today".split()
    data = numpy.random.default_rng(0).standard_normal((len(words), 6)).astype("float32")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=[nlp.vocab.strings.add(w) for w in words])
    examples = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in DATA]
    optimizer = nlp.initialize(lambda: examples)
    return nlp, examples, optimizer


def test_listener_with_static_vectors_and_tok2vec(tmp_path):
    """The listener concatenates static vectors and a small tok2vec to the
    mixed ELMo vectors; all of it trains, saves, loads and survives
    replace_listeners."""
    nlp, examples, optimizer = make_with_vectors(EXTRA_CFG, False)
    listener = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    assert len(listener.layers) == 3  # mix, projection, extra features
    def extra_params():
        return {(n.id, k): n.get_param(k).copy() for n in listener.layers[2].walk() for k in n.param_names if n.has_param(k)}

    extra_before = extra_params()
    assert {n.name for n in listener.layers[2].walk()} >= {"static_vectors", "maxout"}
    losses = train(nlp, examples, optimizer, steps=5)
    assert losses[-1] < losses[0]
    extra_after = extra_params()
    assert extra_after.keys() == extra_before.keys() and len(extra_after) >= 3
    changed = [k for k in extra_before if not numpy.array_equal(extra_before[k], extra_after[k])]
    assert len(changed) >= 2  # the static-vector projection and the tok2vec both learned
    # the projection sees ELMo (2 * 16) + static vectors (8) + tok2vec (8)
    proj_in = [n.get_dim("nI") for n in listener.layers[1].walk() if n.has_dim("nI")]
    assert proj_in == [ELMO_DIM + 8 + 8]
    cfg = round_trip_and_replace(nlp, tmp_path)
    assert cfg["static_vectors"]["@layers"] == "spacy.StaticVectors.v2"


def test_fine_tune_learn_rate_scale():
    """learn_rate_scale makes the biLM's updates that fraction of the
    optimizer's: with plain SGD, one step moves every parameter by exactly
    scale x the unscaled step."""
    from thinc.api import SGD

    deltas = {}
    for scale in (1.0, 0.25):
        spacy.util.fix_random_seed(0)  # same dropout masks in the biLM in both runs
        cfg = TAGGER_CFG.replace("fine_tune = {fine_tune}", "fine_tune = true\nlearn_rate_scale = %s" % scale)
        nlp = spacy.util.load_model_from_config(Config().from_str(cfg), auto_fill=True, validate=True)
        examples = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in DATA]
        nlp.initialize(lambda: examples)
        # spaCy's tagger starts with a zero output layer, so the first step
        # sends no gradient into the biLM, and spaCy applies an upstream
        # component's gradient at the next step's finish_update (as for its
        # own tok2vec): the third update applies the second's gradient, which
        # both runs compute from identical weights.
        sgd = SGD(0.1)
        for _ in range(2):
            nlp.update(examples, sgd=sgd, losses={}, drop=0.0)
        before = snapshot(bilm_of(nlp))
        nlp.update(examples, sgd=sgd, losses={}, drop=0.0)
        after = snapshot(bilm_of(nlp))
        deltas[scale] = {k: after[k] - before[k] for k in before if after[k].is_floating_point()}
    moved = [k for k, d in deltas[1.0].items() if d.abs().max() > 0]
    assert any(k.startswith("lstm.layers") for k in moved)
    assert max(float(deltas[1.0][k].abs().max()) for k in moved) > 1e-3
    for k in moved:  # atol: one float32 ulp of the weights (the deltas are differences of weights)
        torch.testing.assert_close(deltas[0.25][k], 0.25 * deltas[1.0][k], rtol=1e-4, atol=5e-7)


def test_bad_learn_rate_scale():
    from spacy_elmo.errors import ElmoError
    from spacy_elmo.models.bilm import build_elmo_bilm_v1

    with pytest.raises(ElmoError, match="learn_rate_scale"):
        build_elmo_bilm_v1(fine_tune=True, learn_rate_scale=-1.0)


ENCODE_CFG = TAGGER_CFG.replace("spacy-elmo.ElmoListener.v1", "spacy-elmo.ElmoListener.v2") + """
[components.tagger.model.tok2vec.tok2vec]
@architectures = "spacy.MultiHashEmbed.v2"
width = 8
attrs = ["NORM", "SHAPE"]
rows = [100, 50]
include_static_vectors = false

[components.tagger.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 24
depth = 2
window_size = 1
maxout_pieces = 2
"""


def test_listener_v2_feeds_elmo_into_an_encoder(tmp_path):
    """ElmoListener.v2's `encode`: [ELMo mix; hash embeddings] -> projection ->
    a window CNN, so ELMo enters the encoder's input. Trains, saves, loads and
    becomes ElmoTok2Vec.v2 under replace_listeners with the same outputs."""
    nlp, examples, optimizer = make(ENCODE_CFG, False)
    listener = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    names = {n.name for n in listener.layers[1].walk()}
    assert "linear" in names and any("maxout" in n for n in names) and any("residual" in n for n in names)
    (out,) = listener.predict([nlp.get_pipe("elmo")(nlp.make_doc("I like green eggs"))])
    assert out.shape == (4, 24)
    # the projection sees ELMo (2 * 16) + the hash embeddings (8); the encoder keeps its width
    proj_in = [n.get_dim("nI") for n in listener.layers[1].walk() if n.name == "linear"]
    assert proj_in == [ELMO_DIM + 8]
    losses = train(nlp, examples, optimizer, steps=5)
    assert losses[-1] < losses[0]
    cfg = round_trip_and_replace(nlp, tmp_path)
    assert cfg["@architectures"] == "spacy-elmo.ElmoTok2Vec.v2"
    assert cfg["encode"]["@architectures"] == "spacy.MaxoutWindowEncoder.v2"


def test_v2_without_encode_is_v1():
    """ElmoListener.v2 with encode = null builds v1's layers: same outputs from the same seed."""
    outputs = []
    for cfg in (TAGGER_CFG, TAGGER_CFG.replace("spacy-elmo.ElmoListener.v1", "spacy-elmo.ElmoListener.v2")):
        spacy.util.fix_random_seed(0)
        nlp, examples, optimizer = make(cfg, False)
        train(nlp, examples, optimizer, steps=2)
        outputs.append([doc.tensor for doc in nlp.pipe([t for t, _ in DATA])])
    for a, b in zip(*outputs):
        numpy.testing.assert_array_equal(a, b)


def test_listener_without_upstream_update_names_the_settings():
    """E090: the elmo component did not run in training (here: excluded from the update)."""
    nlp, examples, _ = make(TAGGER_CFG, False)
    with pytest.raises(ElmoError, match="upstream 'elmo'.*no ELMo layers") as info:
        nlp.update(examples, exclude=["elmo"])
    message = str(info.value)
    assert "[nlp] pipeline" in message and "frozen_components" in message and "annotating_components" in message


def test_listener_given_another_batch():
    """E091: the layers the listener received belong to another batch."""
    nlp, examples, _ = make(TAGGER_CFG, False)
    nlp.update(examples)  # the elmo component hands the listener this batch's layers
    listener = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    with pytest.raises(ElmoError, match="another batch") as info:
        listener.begin_update([nlp.make_doc("other words")])
    assert "process the same batch first" in str(info.value)
