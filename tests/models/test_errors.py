"""Errors a user can trigger in models/: each names what to fix."""
import pytest
import spacy
from spacy.training import Example
from thinc.api import Config

from conftest import fixture_bilm_path
from spacy_elmo.errors import ElmoError

CFG = """
[nlp]
lang = "en"
pipeline = ["elmo","tagger"]

[components]

[components.elmo]
factory = "elmo"

[components.elmo.model]
@architectures = "spacy-elmo.ElmoEncoder.v1"

[components.elmo.model.bilm]
@architectures = "spacy-elmo.ElmoBiLM.v2"
weights = "%s"

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 8
upstream = "elmo"
""" % fixture_bilm_path()


@pytest.fixture
def nlp_examples():
    nlp = spacy.util.load_model_from_config(Config().from_str(CFG), auto_fill=True, validate=True)
    examples = [Example.from_dict(nlp.make_doc("green eggs"), {"tags": ["ADJ", "NOUN"]})]
    nlp.initialize(lambda: examples)
    return nlp, examples


def test_listener_without_upstream_update_names_the_settings(nlp_examples):
    """E090: the elmo component did not run in training (here: excluded from the update)."""
    nlp, examples = nlp_examples
    with pytest.raises(ElmoError, match="upstream 'elmo'.*no ELMo layers") as info:
        nlp.update(examples, exclude=["elmo"])
    message = str(info.value)
    assert "[nlp] pipeline" in message and "frozen_components" in message and "annotating_components" in message


def test_listener_given_another_batch(nlp_examples):
    """E091: the layers the listener received belong to another batch."""
    nlp, examples = nlp_examples
    nlp.update(examples)  # the elmo component hands the listener this batch's layers
    listener = nlp.get_pipe("tagger").model.get_ref("tok2vec")
    with pytest.raises(ElmoError, match="another batch") as info:
        listener.begin_update([nlp.make_doc("other words")])
    assert "process the same batch first" in str(info.value)


def test_encoder_settings_name_the_key():
    """E093: each bad setting is named with its config section."""
    from spacy_elmo.models.bilm import build_elmo_bilm_v2
    from spacy_elmo.models.encoder import build_elmo_encoder_v1

    bilm = build_elmo_bilm_v2(weights=None)
    for key in ("max_length", "token_budget"):
        with pytest.raises(ElmoError, match=rf"{key} must be a positive integer, not 0.*\[components.elmo.model\] {key}"):
            build_elmo_encoder_v1(bilm=bilm, **{key: 0})
    with pytest.raises(TypeError):  # registered builders take keyword arguments only
        build_elmo_encoder_v1(bilm)
