"""Exact float32 (no cuDNN TF32) on the paths outside `embed`'s precision
scope: the fine-tuning backward, `evaluate_lm` and `dump-token-embeddings`.
torch's default lets cuDNN run float32 convolutions and RNNs in TF32
(`torch.backends.cudnn.allow_tf32` is True); each path records the flag
where it computes."""
import numpy
import pytest
import torch

from spacy_elmo.models.bilm import build_elmo_bilm_v2, get_bilm
from spacy_elmo.training import evaluate, token_embeddings
from spacy_elmo.training.lm import BiLanguageModel
from spacy_elmo.training.vocab import Vocab

from helpers import fixture_bilm_path, load_fixture_bilm


@pytest.fixture(autouse=True)
def default_tf32(monkeypatch):
    """torch's default (cuDNN TF32 on), whatever an earlier test left."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)


def _recording(seen, fn):
    def run(*args, **kwargs):
        seen.append(torch.backends.cudnn.allow_tf32)
        return fn(*args, **kwargs)

    return run


def test_token_embeddings_run_exact(monkeypatch):
    bilm = load_fixture_bilm()
    seen = []
    monkeypatch.setattr(bilm, "token_vectors", _recording(seen, bilm.token_vectors))
    vectors = token_embeddings.token_embeddings(bilm, ["a", "b"])
    assert vectors.shape == (2, bilm.config.projection_dim) and seen == [False]
    assert torch.backends.cudnn.allow_tf32  # restored


def test_evaluate_lm_runs_exact(monkeypatch, tmp_path):
    text = tmp_path / "dev.txt"
    text.write_text("a b c\nb c a\n", encoding="utf8")
    vocab = Vocab(["<S>", "</S>", "<UNK>", "a", "b", "c"])
    model = BiLanguageModel(load_fixture_bilm().config, len(vocab))
    seen = []
    monkeypatch.setattr(model, "forward", _recording(seen, model.forward))
    result = evaluate.evaluate_lm(model, vocab, [text], batch_size=2, unroll=4)
    assert result["tokens"] > 0 and seen and not any(seen)


def test_fine_tuning_backward_runs_exact():
    model = build_elmo_bilm_v2(weights=fixture_bilm_path(), fine_tune=True, state_mode="reset")
    model.initialize()
    layers, backprop = model.begin_update([["a", "b"], ["c"]])
    seen = []
    param = next(p for p in get_bilm(model).parameters() if p.requires_grad)
    param.register_hook(lambda grad: seen.append(torch.backends.cudnn.allow_tf32))
    backprop([numpy.ones_like(x) for x in layers])
    assert seen == [False]
    assert torch.backends.cudnn.allow_tf32
