"""ELMo under downstream components: listener, scalar mix, frozen/fine-tuned."""
import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import Config

from spacy_elmo.models.bilm import get_bilm

TAGGER_CFG = """
[nlp]
lang = "en"
pipeline = ["elmo","tagger"]

[components]

[components.elmo]
factory = "elmo"

[components.elmo.model]
@architectures = "spacy-elmo.ElmoEncoder.v1"

[components.elmo.model.bilm]
@architectures = "spacy-elmo.ElmoBiLM.v1"
weights = "default"
fine_tune = {fine_tune}

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 24
upstream = "elmo"
mix_l2 = 0.001
"""

SELF_CONTAINED_CFG = """
[nlp]
lang = "en"
pipeline = ["tagger"]

[components]

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy-elmo.ElmoTok2Vec.v1"
width = 24

[components.tagger.model.tok2vec.encoder]
@architectures = "spacy-elmo.ElmoEncoder.v1"

[components.tagger.model.tok2vec.encoder.bilm]
@architectures = "spacy-elmo.ElmoBiLM.v1"
weights = "default"
fine_tune = {fine_tune}
"""

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
    texts = [t for t, _ in DATA]
    expected = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    scores = [doc.tensor for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [[t.tag_ for t in d] for d in loaded.pipe(texts)] == expected
    assert loaded.get_pipe("elmo").listening_components == ["tagger"]
    tagger = nlp.get_pipe("tagger")
    before = tagger.model.predict([nlp.get_pipe("elmo")(nlp.make_doc(t)) for t in texts])
    nlp.replace_listeners("elmo", "tagger", ["model.tok2vec"])
    assert nlp.get_pipe("elmo").listening_components == []
    assert nlp.config["components"]["tagger"]["model"]["tok2vec"]["@architectures"] == "spacy-elmo.ElmoTok2Vec.v1"
    after = tagger.model.predict([nlp.make_doc(t) for t in texts])
    for a, b in zip(before, after):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the replaced pipeline saves and loads without the elmo component
    nlp.remove_pipe("elmo")
    nlp.to_disk(tmp_path / "q")
    assert [[t.tag_ for t in d] for d in spacy.load(tmp_path / "q").pipe(texts)] == expected


def test_listener_without_elmo_annotation_gives_zeros():
    """As spaCy's Tok2VecListener: a Doc the elmo component did not process
    (e.g. the component is disabled) gets zero features of the right width."""
    nlp, _, _ = make(TAGGER_CFG, False)
    tok2vec = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    (out,) = tok2vec.predict([nlp.make_doc("no elmo ran")])
    assert out.shape == (3, 24) and not out.any()
