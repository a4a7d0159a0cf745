"""spacy-elmo.ElmoEncoder.v1's settings."""
import pytest

from spacy_elmo.errors import ElmoError
from spacy_elmo.models.bilm import build_elmo_bilm_v2
from spacy_elmo.models.encoder import build_elmo_encoder_v1


def test_encoder_settings_name_the_key():
    """E093: each bad setting is named with its config section."""
    bilm = build_elmo_bilm_v2(weights=None)
    for key, least in (("max_length", 0), ("token_budget", 1)):  # max_length 0: never cut
        with pytest.raises(ElmoError, match=rf"{key} must be an integer >= {least}, not -1.*\[components.elmo.model\] {key}"):
            build_elmo_encoder_v1(bilm=bilm, **{key: -1})
    with pytest.raises(TypeError):  # registered builders take keyword arguments only
        build_elmo_encoder_v1(bilm)
