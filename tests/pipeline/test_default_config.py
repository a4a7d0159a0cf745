"""The elmo component's whole default config is DEFAULT_CONFIG_STR."""
import spacy
from thinc.api import Config

from spacy_elmo.pipeline.elmo import DEFAULT_CONFIG_STR


def test_default_config_str_is_the_whole_default_config():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    filled = dict(nlp.config["components"]["elmo"])
    assert filled.pop("factory") == "elmo"
    default = Config().from_str(DEFAULT_CONFIG_STR)
    assert list(default) == ["elmo"]
    assert filled == default["elmo"]
    assert {"mix", "gamma", "set_doc_tensor", "set_vector_hooks", "model"} <= set(filled)
