"""The training loop on real WikiText-2 slices: loss goes down, exports load
back identically, resume (also after Ctrl-C) equals an uninterrupted run, bad
configs and checkpoints fail with the key or file named."""
import json
import math
import os
import signal

import h5py
import numpy
import pytest
import torch

from spacy_elmo.bilm.chars import batch_to_ids
from spacy_elmo.errors import InputError, OptionsError
from spacy_elmo.io.weights import load_bilm
from spacy_elmo.training.checkpoint import CHECKPOINT, load_model
from spacy_elmo.training.evaluate import evaluate_lm
from spacy_elmo.training.lm import BiLanguageModel
from spacy_elmo.training.settings import load_config, parse_settings
from spacy_elmo.training.train import pretrain
from spacy_elmo.training.vocab import build_vocab

from helpers import TINY_CFG, settings, wikitext_slice

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wikitext")
    return wikitext_slice(tmp, "train", 300), wikitext_slice(tmp, "valid", 40, skip=0)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory, one_thread):
    """60 steps of the tiny config with two evaluations."""
    out = tmp_path_factory.mktemp("run")
    train, dev = corpus
    s = settings(train, dev, training__max_steps=60, training__eval_every=20, training__eval_max_windows=0)
    losses = []
    result = pretrain(s, out, on_step=lambda step, loss: losses.append(loss), show_progress=False)
    return out, result, losses, s


def test_loss_and_dev_perplexity_go_down(trained):
    out, result, losses, s = trained
    assert result["step"] == 60 and result["tokens"] == 60 * 8 * 20
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40, 60]
    assert set(rows[0]) == {"step", "tokens", "train_loss", "dev_ppl_forward", "dev_ppl_backward", "tokens_per_second"}
    n_vocab = len((out / "vocab.txt").read_text().splitlines())
    # random init predicts ~uniformly: log(V) nats; training beats that clearly
    assert abs(losses[0] - math.log(n_vocab)) < 1.0
    assert numpy.mean(losses[-10:]) < numpy.mean(losses[:10]) - 0.5
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    for key in ("dev_ppl_forward", "dev_ppl_backward"):
        assert rows[-1][key] < rows[0][key] < n_vocab
    assert rows[-1]["tokens_per_second"] > 0


def test_exported_model_loads_back_with_identical_outputs(trained):
    out, result, _, _ = trained
    payload = torch.load(out / CHECKPOINT, weights_only=False)
    reference = BiLanguageModel(load_bilm(out / "model-last" / "options.json", out / "model-last" / "weights.hdf5").config, payload["vocab_size"])
    reference.load_state_dict(payload["model"])
    loaded = load_bilm(out / "model-last" / "options.json", out / "model-last" / "weights.hdf5")
    for name, param in reference.bilm.state_dict().items():
        assert torch.equal(param, loaded.state_dict()[name]), name
    chars = batch_to_ids([["The", "game", "began", "."], ["Valkyria", "Chronicles", "III"]])
    a, _ = reference.bilm.embed(chars, mode="reset")
    b, _ = loaded.embed(chars, mode="reset")
    assert torch.equal(a, b) and float(a.abs().sum()) > 0
    with h5py.File(out / "model-last" / "weights.hdf5", "r") as handle:
        assert handle["softmax/W"].shape == (payload["vocab_size"], 32)
        assert "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0" in handle


def test_model_dir_perplexity_matches_training_metrics(trained, corpus):
    out, result, _, s = trained
    model, vocab = load_model(out / "model-last")
    ppl = evaluate_lm(model, vocab, [corpus[1]], batch_size=8, unroll=20)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isclose(ppl["forward"], last["dev_ppl_forward"], rel_tol=1e-5)
    assert math.isclose(ppl["backward"], last["dev_ppl_backward"], rel_tol=1e-5)
    assert ppl["tokens"] == sum(len(l.split()) + 1 for l in corpus[1].read_text().splitlines() if l.split())
    best = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert (out / "model-best" / "weights.hdf5").exists() and best["step"] == 60


def test_uniform_model_perplexity_is_vocab_size(corpus):
    lines = [l.split() for l in corpus[0].read_text().splitlines()]
    vocab = build_vocab(lines, max_size=500)
    s = parse_settings(load_config(TINY_CFG, {"paths.train": "x"}))
    model = BiLanguageModel(s.model, len(vocab))
    with torch.no_grad():
        model.softmax.weight.zero_()
        model.softmax.bias.zero_()
    ppl = evaluate_lm(model, vocab, [corpus[1]], batch_size=4, unroll=10)
    for key in ("forward", "backward", "mean"):
        assert math.isclose(ppl[key], len(vocab), rel_tol=1e-5)


def test_state_reset_mid_window_equals_a_fresh_start(corpus):
    """A reset before input t makes the outputs from t on (and the final
    state) exactly those of running the window's tail from the zero state,
    in both directions, while rows without a reset keep their carried state."""
    from spacy_elmo.training.data import WindowStream

    lines = [l.split() for l in corpus[0].read_text().splitlines()]
    vocab = build_vocab(lines, max_size=500)
    s = parse_settings(load_config(TINY_CFG, {"paths.train": "x"}))
    model = BiLanguageModel(s.model, len(vocab)).eval()
    batch = next(WindowStream([corpus[0]], vocab, batch_size=2, unroll=12, repeat=False))
    generator = torch.Generator().manual_seed(0)
    state = tuple(torch.randn(t.shape, generator=generator) * 0.5 for t in model.zero_state(2))
    t = 5
    batch.resets = torch.zeros(2, 12, dtype=torch.bool)
    batch.resets[0, t] = True
    with torch.no_grad():
        out, (h, c) = model.hidden(batch, state)
        batch.resets = None
        plain, (h_plain, c_plain) = model.hidden(batch, state)
        batch.index = batch.index[:, :, t:]
        tail, (h_tail, c_tail) = model.hidden(batch, model.zero_state(2))
    torch.testing.assert_close(out[:, 0, t:], tail[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(h[:, :, 0], h_tail[:, :, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(c[:, :, 0], c_tail[:, :, 0], rtol=0, atol=1e-6)
    assert torch.equal(out[:, 0, :t], plain[:, 0, :t])
    assert torch.equal(out[:, 1], plain[:, 1]) and torch.equal(h[:, :, 1], h_plain[:, :, 1])
    assert not torch.allclose(out[:, 0, t:], plain[:, 0, t:])


def _params(out):
    return torch.load(out / CHECKPOINT, weights_only=False)["model"]


def test_resume_after_ctrl_c_equals_uninterrupted_run(corpus, tmp_path):
    train, dev = corpus
    # sampled softmax and dropout: both random streams must be restored too
    kw = dict(training__max_steps=16, training__softmax="sampled", training__n_samples=300, training__dropout=0.2,
              training__checkpoint_every=5)
    full = pretrain(settings(train, dev, **kw), tmp_path / "a", show_progress=False)

    def interrupt(step, loss):
        if step == 7:
            os.kill(os.getpid(), signal.SIGINT)

    first = pretrain(settings(train, dev, **kw), tmp_path / "b", on_step=interrupt, show_progress=False)
    assert first["interrupted"] and first["step"] == 7
    assert torch.load(tmp_path / "b" / CHECKPOINT, weights_only=False)["step"] == 7
    assert (tmp_path / "b" / "model-last" / "weights.hdf5").exists()
    second = pretrain(settings(train, dev, **kw), tmp_path / "b", resume=True, show_progress=False)
    assert second["step"] == full["step"] == 16
    a, b = _params(tmp_path / "a"), _params(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["dev_ppl_forward"] for r in ra] == [r["dev_ppl_forward"] for r in rb]


def test_resume_with_a_different_shape_names_the_keys(trained, corpus):
    out, _, _, _ = trained
    s = settings(corpus[0], model__lstm_dim=64)
    with pytest.raises(InputError, match=r"different model.*lstm\.dim: checkpoint 128, config 64"):
        pretrain(s, out, resume=True, show_progress=False)


def test_resume_without_checkpoint_says_so(corpus, tmp_path):
    with pytest.raises(InputError, match="no checkpoint to resume from"):
        pretrain(settings(corpus[0]), tmp_path / "new", resume=True, show_progress=False)


def test_config_with_missing_key_names_it(tmp_path):
    text = TINY_CFG.read_text().replace("unroll_steps = 20\n", "")
    path = tmp_path / "broken.cfg"
    path.write_text(text)
    with pytest.raises(OptionsError, match=r"broken.cfg: config is missing the key 'training.unroll_steps'"):
        parse_settings(load_config(path, {"paths.train": "x"}), path=str(path))


def test_config_with_bad_value_names_it():
    with pytest.raises(OptionsError, match=r"'training.optimizer' has the invalid value 'sgd'"):
        parse_settings(load_config(TINY_CFG, {"paths.train": "x", "training.optimizer": "sgd"}))
    with pytest.raises(OptionsError, match=r"--max_steps: .*no section \[max_steps\]\. Did you mean --training\.max_steps\?"):
        load_config(TINY_CFG, {"max_steps": 1})
    with pytest.raises(OptionsError, match=r"'training.reset_state_prob' has the invalid value 1.5.*a probability in \[0, 1\]"):
        parse_settings(load_config(TINY_CFG, {"paths.train": "x", "training.reset_state_prob": 1.5}))


def test_adam_option_trains(corpus, tmp_path):
    s = settings(corpus[0], training__optimizer="adam", training__learning_rate=0.003, training__max_steps=5)
    losses = []
    pretrain(s, tmp_path, on_step=lambda step, loss: losses.append(loss), show_progress=False)
    assert len(losses) == 5 and losses[-1] < losses[0]
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)["optimizer"]["state"]
    assert "exp_avg" in next(iter(state.values()))


def test_init_model_starts_from_its_weights_and_vocab(trained, corpus, tmp_path):
    """Domain adaptation: training.init_model continues from a model directory
    (its weights and vocab.txt, a fresh optimizer at step 0) on other text."""
    out, _, _, _ = trained
    other = wikitext_slice(tmp_path, "train", 100, skip=1000)
    # a learning rate so small that no parameter moves: model-last is the start
    s = settings(other, corpus[1], training__init_model=str(out / "model-last"), training__max_steps=2,
                 training__learning_rate=1e-30, data__max_vocab_size=50)
    result = pretrain(s, tmp_path / "adapted", show_progress=False)
    assert result["step"] == 2
    assert (tmp_path / "adapted" / "vocab.txt").read_text() == (out / "model-last" / "vocab.txt").read_text()
    start, _ = load_model(out / "model-last")
    adapted, _ = load_model(tmp_path / "adapted" / "model-last")
    for name, param in start.state_dict().items():
        assert torch.allclose(param, adapted.state_dict()[name], rtol=0, atol=1e-20), name
    assert json.loads((tmp_path / "adapted" / "config.json").read_text())["training"]["init_model"] == str(out / "model-last")
    # with the config's learning rate it trains on from there: dev perplexity of
    # the start (60 steps) is far below a random init's, and the new text moves it
    s = settings(other, corpus[1], training__init_model=str(out / "model-last"), training__max_steps=5)
    pretrain(s, tmp_path / "moved", show_progress=False)
    moved, _ = load_model(tmp_path / "moved" / "model-last")
    assert not torch.equal(moved.softmax.weight, start.softmax.weight)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    first = json.loads((tmp_path / "moved" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["dev_ppl_forward"] < 1.5 * last["dev_ppl_forward"]


def test_init_model_errors_name_the_problem(trained, corpus, tmp_path):
    out, _, _, _ = trained
    s = settings(corpus[0], training__init_model=str(out / "model-last"), model__lstm_dim=64)
    with pytest.raises(InputError, match=r"training.init_model.*another shape.*lstm\.dim: init_model 128, config 64"):
        pretrain(s, tmp_path / "a", show_progress=False)
    assert not (tmp_path / "a").exists()  # nothing written
    with pytest.raises(OptionsError, match=r"'data.vocab'.*init_model brings its own vocab.txt"):
        settings(corpus[0], training__init_model=str(out / "model-last"), data__vocab=str(out / "vocab.txt"))
    from spacy_elmo.errors import WeightsError

    with pytest.raises(WeightsError, match=r"not a pretrained biLM with a softmax.*missing: options.json"):
        pretrain(settings(corpus[0], training__init_model=str(tmp_path)), tmp_path / "b", show_progress=False)
    assert not (tmp_path / "b").exists()
