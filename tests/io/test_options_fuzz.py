"""Property-based tests of options.json validation (`BiLMConfig.from_options`,
`read_options`): any JSON value at any key gives a config or an OptionsError
that names the key, never another exception and never a silently coerced value."""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.errors import OptionsError
from spacy_elmo.io.weights import read_options

VALID = {
    "lstm": {"dim": 64, "projection_dim": 16, "n_layers": 2, "cell_clip": 3, "proj_clip": 3,
             "use_skip_connections": True},
    "char_cnn": {"embedding": {"dim": 4}, "filters": [[1, 4], [2, 8], [3, 16]], "n_highway": 2,
                 "n_characters": 262, "max_characters_per_token": 50, "activation": "relu"},
}
KEYS = [
    "lstm", "lstm.dim", "lstm.projection_dim", "lstm.n_layers", "lstm.cell_clip", "lstm.proj_clip",
    "lstm.use_skip_connections", "char_cnn", "char_cnn.embedding", "char_cnn.embedding.dim",
    "char_cnn.filters", "char_cnn.n_highway", "char_cnn.n_characters",
    "char_cnn.max_characters_per_token", "char_cnn.activation",
]
MISSING = object()
# Every JSON value json.loads can return (it reads NaN and Infinity too).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Values close to valid ones, to reach the checks behind the type checks.
near_values = st.one_of(
    st.integers(-3, 300), st.floats(-2, 100), st.sampled_from(["relu", "tanh", "gelu", ""]),
    st.lists(st.lists(st.integers(-1, 60), max_size=3), max_size=4),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 9)).map(list), min_size=1, max_size=4),
)
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def put(options, key, value):
    *parents, last = key.split(".")
    node = options
    for part in parents:
        node = node[part]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value


def read_back(config, key):
    node = config.to_options()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def same_json(a, b) -> bool:
    """Equal as JSON values, with a bool never equal to a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def check(options, key):
    try:
        config = BiLMConfig.from_options(options, path="opts.json")
    except OptionsError as err:
        assert key.split(".")[0] in str(err) and "opts.json" in str(err), str(err)
        assert key in str(err) or any(k.startswith(key) and k in str(err) for k in KEYS), str(err)
        return
    # Accepted: the value is what the config holds (no silent coercion) and valid.
    assert BiLMConfig.from_options(config.to_options()) == config
    value = options
    for part in key.split("."):
        value = value[part] if isinstance(value, dict) and part in value else MISSING
    if value is None and key.endswith("_clip"):  # null is "no clipping", as when absent
        assert read_back(config, key) is MISSING
    elif value is not MISSING and not isinstance(value, dict):
        assert same_json(read_back(config, key), value), (key, value, read_back(config, key))


def fuzz(key, value):
    options = copy.deepcopy(VALID)
    put(options, key, value)
    check(options, key)


@PROFILE
@given(st.sampled_from(KEYS), json_values | st.just(MISSING))
def test_any_json_value_at_any_key(key, value):
    fuzz(key, value)


@PROFILE
@given(st.sampled_from(KEYS), near_values)
def test_near_valid_values(key, value):
    fuzz(key, value)


@PROFILE
@given(json_values)
def test_any_json_document(value):
    try:
        BiLMConfig.from_options(value, path="opts.json")
    except OptionsError as err:
        assert "opts.json" in str(err)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(KEYS), json_values | near_values | st.just(MISSING))
def test_any_value_at_any_key_many(key, value):
    fuzz(key, value)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"lstm": NaN}', "\ud800"])
def test_read_options_hostile_files(tmp_path, text):
    path = tmp_path / "options.json"
    path.write_text(text, encoding="utf8", errors="surrogatepass")
    with pytest.raises(OptionsError, match="options.json"):
        read_options(path)


@pytest.mark.parametrize("key", ["lstm.cell_clip", "lstm.proj_clip"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_clip_is_an_error(key, value):
    options = copy.deepcopy(VALID)
    put(options, key, value)
    with pytest.raises(OptionsError, match=key):
        BiLMConfig.from_options(json.loads(json.dumps(options)))


@pytest.mark.parametrize("key", ["lstm.cell_clip", "lstm.proj_clip"])
@pytest.mark.parametrize("value", [2**53 + 1, 10**400], ids=["2**53+1", "10**400"])
def test_clip_no_float_holds_exactly_is_an_error(key, value):
    """Found by test_any_json_value_at_any_key: 2**53 + 1 was read as
    9007199254740992.0 (silently coerced); 10**400 has no float at all."""
    options = copy.deepcopy(VALID)
    put(options, key, value)
    with pytest.raises(OptionsError, match=key):
        BiLMConfig.from_options(json.loads(json.dumps(options)))
    put(options, key, 2**53)  # the largest integer it accepts: exact as a float
    assert getattr(BiLMConfig.from_options(options), key.split(".")[1]) == 2**53
