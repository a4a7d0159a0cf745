"""bilm/token_cache.py: cached char-CNN vectors give bit-identical outputs, stay
bounded, and are dropped when the weights, the precision or the device change."""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Config

from spacy_elmo.bilm.chars import CharEncoder
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.model import CHUNK_ROWS, BiLM
from spacy_elmo.errors import ElmoError
from spacy_elmo.models.bilm import build_elmo_bilm_v1, build_elmo_bilm_v2, get_bilm

from helpers import LISTENER_TAGGER_CFG as LISTENER_CFG
from helpers import wikitext_sentences as _sentences


def _random_bilm(seed=0):
    """A char CNN wide enough that BLAS takes its blocked paths."""
    torch.manual_seed(seed)
    config = BiLMConfig(lstm_dim=64, projection_dim=32, char_dim=16,
                        filters=((1, 32), (2, 32), (3, 64), (4, 128)), n_highway=1)
    bilm = BiLM(config)
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-0.1, 0.1)
    return bilm.eval()


def _uncached(bilm, sentences, **kwargs):
    size = bilm.token_cache.size
    bilm.set_token_cache(0)
    try:
        return bilm.embed_sentences(sentences, **kwargs)[0]
    finally:
        bilm.set_token_cache(size)


@pytest.mark.parametrize("make", ["fixture", "random"])
def test_cached_equals_uncached_bit_for_bit(make, fixture_model):
    bilm = fixture_model if make == "fixture" else _random_bilm()
    first, second = _sentences(40), _sentences(40, skip=20)  # overlapping text
    bilm.set_token_cache(0)
    expected = bilm.embed_sentences(second, mode="reset")[0]
    bilm.set_token_cache(100_000)
    bilm.embed_sentences(first, mode="reset")
    hits_before = bilm.token_cache.hits
    got = bilm.embed_sentences(second, mode="reset")[0]
    assert bilm.token_cache.hits - hits_before > 200  # the cache was really used
    assert torch.equal(got, expected)
    again = bilm.embed_sentences(second, mode="reset")[0]  # every token a hit now
    assert torch.equal(again, expected)
    # and the same as the char-id path (torch.unique order, no cache)
    assert torch.equal(bilm.embed(bilm.char_ids(second), mode="reset")[0], expected)


def test_token_vectors_do_not_depend_on_the_batch():
    """The char CNN alone can round a row differently with another row count;
    token_vectors computes in fixed chunks, so a token's vector is the same in
    any batch and at any position."""
    bilm = _random_bilm()
    words = sorted({w for s in _sentences(200) for w in s})[: 3 * CHUNK_ROWS["cpu"] + 5]
    ids = torch.from_numpy(CharEncoder(50).encode(words))
    with torch.inference_mode():
        full = bilm.token_vectors(ids)
        for rows in ([0], [3, 1], list(range(7)), torch.randperm(len(words))[:100].tolist()):
            assert torch.equal(bilm.token_vectors(ids[rows]), full[rows])
        perm = torch.randperm(len(words))
        assert torch.equal(bilm.token_vectors(ids[perm]), full[perm])
        numpy.testing.assert_allclose(full.numpy(), bilm.char_cnn(ids).numpy(), atol=1e-6)


def test_store_is_allocated_once():
    """The store is allocated once (no copies, no freed blocks of many MiB
    in a long embed run) and keeps the last `size` tokens."""
    from spacy_elmo.bilm.token_cache import TokenCache

    cache = TokenCache(5000)
    cache.insert(["a", "b"], torch.ones(2, 8))
    store = cache.store
    assert tuple(store.shape) == (5000, 8)
    for start in range(0, 6000, 1000):
        words = [f"w{i}" for i in range(start, start + 1000)]
        cache.insert(words, torch.arange(8000.0).reshape(1000, 8) + start)
    assert cache.store.data_ptr() == store.data_ptr() and len(cache) == 5000
    _, rows, misses = cache.lookup(["w5999", "w1000", "a"])
    assert misses == [2] and cache.gather(rows, torch.device("cpu"))[:, 0].tolist() == [999 * 8.0 + 5000, 1000.0]


def test_cache_is_bounded_lru():
    bilm = _random_bilm()
    sentences = _sentences(30)
    expected = _uncached(bilm, sentences)
    bilm.set_token_cache(50)
    got = torch.cat([bilm.embed_sentences(sentences[i : i + 5])[0] for i in range(0, 30, 5)])
    assert len(bilm.token_cache) == 50 and bilm.token_cache.store.shape[0] <= 50
    n_layers = expected.shape[1]
    for k in range(0, 30, 5):  # batches are padded to their own longest row
        part = bilm.embed_sentences(sentences[k : k + 5])[0]
        width = part.shape[2]
        assert torch.equal(part, expected[k : k + 5, :, :width])
        assert not expected[k : k + 5, :, width:].any()
    assert got.shape[1] == n_layers
    # the most recently used tokens are kept (the last batch's last new token)
    assert sentences[-1][-1] in bilm.token_cache.slots


def _fill(bilm, sentences):
    bilm.set_token_cache(100_000)
    bilm.embed_sentences(sentences)
    assert len(bilm.token_cache) > 50


def _char_cnn_weight(bilm):
    return bilm.char_cnn.convs[0].weight


def test_optimizer_step_invalidates():
    bilm = _random_bilm()
    sentences = _sentences(10)
    _fill(bilm, sentences)
    before = bilm.embed_sentences(sentences)[0]
    optimizer = torch.optim.SGD(bilm.parameters(), lr=1.0)
    bilm.char_cnn(torch.from_numpy(CharEncoder(50).encode(["x", "yz"]))).sum().backward()
    optimizer.step()
    after = bilm.embed_sentences(sentences)[0]
    assert not torch.equal(after, before)
    assert torch.equal(after, _uncached(bilm, sentences))


@pytest.mark.parametrize("change", ["load_state_dict", "assign_data", "precision"])
def test_weight_and_precision_changes_invalidate(change):
    bilm = _random_bilm()
    other = _random_bilm(seed=1)
    sentences = _sentences(10)
    _fill(bilm, sentences)
    precision = "fp32"
    if change == "load_state_dict":
        bilm.load_state_dict(other.state_dict())
    elif change == "assign_data":
        weight = _char_cnn_weight(bilm)
        weight.data = _char_cnn_weight(other).data.clone()
    else:
        precision = "bf16"
    got = bilm.embed_sentences(sentences, precision=precision)[0]
    assert torch.equal(got, _uncached(bilm, sentences, precision=precision))
    if change == "precision":  # and back: fp32 is exact again
        assert torch.equal(bilm.embed_sentences(sentences)[0], _uncached(bilm, sentences))


def test_changes_outside_torch_need_clear():
    bilm = _random_bilm()
    sentences = _sentences(10)
    _fill(bilm, sentences)
    _char_cnn_weight(bilm).detach().numpy()[...] *= 0.5  # a numpy view: torch cannot see it
    bilm.clear_token_cache()
    assert len(bilm.token_cache) == 0
    assert torch.equal(bilm.embed_sentences(sentences)[0], _uncached(bilm, sentences))


def test_set_token_cache_validates_and_resizes():
    bilm = _random_bilm()
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ElmoError, match="token_cache_size: the token cache size must be an integer"):
            bilm.set_token_cache(bad)
    bilm.set_token_cache(7)
    assert bilm.token_cache.size == 7
    bilm.set_token_cache(0)
    bilm.embed_sentences(_sentences(3))
    assert len(bilm.token_cache) == 0 and bilm.token_cache.hits == 0


# test_listener's pipeline with the v2 biLM, fine-tuned, and a token cache size
TAGGER_CFG = LISTENER_CFG.replace('"spacy-elmo.ElmoBiLM.v1"', '"spacy-elmo.ElmoBiLM.v2"').replace(
    "fine_tune = {fine_tune}", 'fine_tune = true\nstate_mode = "reset"\ntoken_cache_size = 123'
)


def test_component_setting_and_fine_tuning_updates():
    with pytest.raises(ElmoError, match=r"\[components.elmo.model.bilm\] token_cache_size"):
        build_elmo_bilm_v2(weights=None, token_cache_size=-5)
    assert build_elmo_bilm_v1(weights=None).attrs["token_cache_size"] == 50_000
    assert "token_cache_size = 123" in TAGGER_CFG
    config = Config().from_str(TAGGER_CFG)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    words = _sentences(6)
    examples = [Example.from_dict(Doc(nlp.vocab, words=w), {"tags": ["N"] * len(w)}) for w in words]
    optimizer = nlp.initialize(lambda: examples)
    elmo = nlp.get_pipe("elmo")
    bilm = get_bilm(elmo.model)

    def run():
        return [d._.elmo_layers.copy() for d in elmo.pipe([Doc(nlp.vocab, words=w) for w in words])]

    before = run()
    assert bilm.token_cache.size == 123 and len(bilm.token_cache) > 0
    for _ in range(3):  # the tagger's zero-initialised output layer passes no gradient at first
        run()
        assert len(bilm.token_cache) > 0
        nlp.update(examples, sgd=optimizer)
        assert len(bilm.token_cache) == 0  # finish_update dropped it
    after = run()
    assert not numpy.array_equal(after[0], before[0])  # the weights did change
    expected = _uncached(bilm, words, mode="reset")
    for i, layers in enumerate(after):
        assert numpy.array_equal(layers, expected[i, :, : len(words[i])].numpy())


def test_encode_unique_matches_encode_batch():
    encoder = CharEncoder(50)
    sentences = [["a", "bé", "a"], [], ["<S>", "x"]]
    words, ids, index = encoder.encode_unique(sentences)
    assert words == ["<S>", "a", "bé", "</S>", "x"]
    assert index.tolist() == [[0, 1, 2, 1, 3], [0, 3, -1, -1, -1], [0, 0, 4, 3, -1]]
    batch = encoder.encode_batch(sentences)
    rebuilt = numpy.where(index[..., None] >= 0, ids[index], 0)
    assert numpy.array_equal(rebuilt, batch)


@pytest.mark.gpu
def test_moving_to_cuda_invalidates_and_matches_uncached():
    bilm = _random_bilm()
    sentences = _sentences(20)
    _fill(bilm, sentences)
    bilm.to("cuda")
    got = bilm.embed_sentences(sentences)[0]
    assert bilm.token_cache.store.device.type == "cuda"
    assert torch.equal(got, _uncached(bilm, sentences))
    again = bilm.embed_sentences(sentences)[0]  # from the cache
    assert torch.equal(again, got)
    words = sorted({w for s in _sentences(200) for w in s})[: CHUNK_ROWS["cuda"] + 5]
    ids = torch.from_numpy(CharEncoder(50).encode(words)).cuda()
    with torch.inference_mode():
        full = bilm.token_vectors(ids)
        perm = torch.randperm(len(words), device="cuda")
        assert torch.equal(bilm.token_vectors(ids[perm]), full[perm])
        assert torch.equal(bilm.token_vectors(ids[:3]), full[:3])
