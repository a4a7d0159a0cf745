"""training/step.py: the pretraining step, eager or with the biLSTM as CUDA
graphs; the static (dense keep-mask) recurrence equals the default one."""
import gzip
import itertools

import pytest
import torch

from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.lstm import StepPlan
from spacy_elmo.training import step as step_module
from spacy_elmo.training.data import WindowStream
from spacy_elmo.training.lm import BiLanguageModel, Recurrence
from spacy_elmo.training.softmax import LogUniformSampler
from spacy_elmo.training.step import TrainStep
from spacy_elmo.training.vocab import build_vocab

from helpers import SHARED_DATA

TRAIN = SHARED_DATA / "wikitext-2" / "train.txt.gz"
CONFIG = BiLMConfig(lstm_dim=32, projection_dim=8, filters=((1, 4), (2, 8)), n_highway=1)


@pytest.fixture(scope="module")
def vocab():
    with gzip.open(TRAIN, "rt", encoding="utf8") as handle:
        lines = [line.split() for line in itertools.islice(handle, 400) if line.split()]
    return build_vocab(lines, 1, 2000)


def _model(vocab, dropout=0.1):
    model = BiLanguageModel(CONFIG, len(vocab), dropout=dropout)
    model.init_like_bilm_tf(torch.Generator().manual_seed(0))
    return model.train()


def _batches(vocab, n, batch_size=4):
    stream = WindowStream([TRAIN], vocab, batch_size, 10, 50, reset_prob=0.9, seed=1)
    batches = [next(stream) for _ in range(n)]
    assert any(b.resets.any() for b in batches)
    return batches


def test_static_recurrence_gives_the_same_loss_and_gradients(vocab):
    batches = _batches(vocab, 3)
    results = []
    for static in (False, True):
        model = _model(vocab)
        recurrence = Recurrence(model.bilm.lstm) if static else None
        state = model.zero_state(4)
        torch.manual_seed(7)  # dropout
        trace = []
        for batch in batches:
            loss, sums, n, state = model(batch, state, None, recurrence)
            grads = torch.autograd.grad(loss, list(model.parameters()))
            trace.append((loss.detach(), sums, state[0].detach(), grads))
            state = (state[0].detach(), state[1].detach())
        results.append(trace)
    for (l1, s1, h1, g1), (l2, s2, h2, g2) in zip(*results):
        assert torch.equal(l1, l2) and torch.equal(s1, s2) and torch.equal(h1, h2)
        assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def _train(vocab, batches, cuda_graphs, device="cpu", precision="fp32", sampled=True, dropout=0.1):
    model = _model(vocab, dropout).to(device)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.2, initial_accumulator_value=1.0)
    sampler = LogUniformSampler(len(vocab), 50, torch.Generator().manual_seed(0)) if sampled else None
    train_step = TrainStep(model, optimizer, precision, 10.0, sampler, cuda_graphs=cuda_graphs)
    state = model.zero_state(4)
    torch.manual_seed(7)
    losses = []
    for batch in batches:
        loss, sums, n, state = train_step(batch, state)
        losses.append(float(loss))
        assert float(n.sum()) > 0 and float(sums.sum()) > 0
    return losses, model, train_step


def test_graph_plumbing_with_a_stand_in_capture(vocab, monkeypatch):
    """On the CPU, make_graphed_callables is replaced by the identity: the
    step then runs the Recurrence module it would have captured."""
    batches = _batches(vocab, 4)
    eager, eager_model, _ = _train(vocab, batches, cuda_graphs=False)
    captured = []

    def fake_make_graphed_callables(module, sample_args):
        inputs, h0, c0, keep = sample_args
        assert inputs.requires_grad and not h0.requires_grad and keep.shape == (10, 1, 4, 1)
        captured.append(module)
        return module

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", fake_make_graphed_callables)
    monkeypatch.setattr(TrainStep, "__init__", _force_graphs(TrainStep.__init__))
    graphed, graphed_model, train_step = _train(vocab, batches, cuda_graphs=True)
    assert len(captured) == 1 and train_step.recurrence is captured[0]
    assert graphed == eager
    for a, b in zip(eager_model.parameters(), graphed_model.parameters()):
        assert torch.equal(a, b)


def _force_graphs(init):
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.graphs_wanted = True

    return patched


def test_capture_failure_warns_and_trains_eagerly(vocab, monkeypatch):
    def broken(module, sample_args):
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", broken)
    monkeypatch.setattr(TrainStep, "__init__", _force_graphs(TrainStep.__init__))
    batches = _batches(vocab, 2)
    with pytest.warns(UserWarning, match="CUDA graphs for the pretraining step are off"):
        losses, _, train_step = _train(vocab, batches, cuda_graphs=True)
    assert train_step.recurrence is None and "not permitted" in train_step.disabled
    monkeypatch.undo()
    assert losses == _train(vocab, batches, cuda_graphs=False)[0]


def test_no_graphs_under_ddp_or_on_cpu(vocab):
    model = _model(vocab)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert not TrainStep(model, optimizer, "fp32", 1.0).graphs_wanted  # CPU
    assert step_module.TrainStep(model, optimizer, "fp32", 1.0, net=torch.nn.Identity()).net is not model


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph_step_matches_the_eager_step(vocab, precision):
    batches = _batches(vocab, 6)
    # no dropout: graphs and eager code draw different random numbers
    eager, eager_model, _ = _train(vocab, batches, False, "cuda", precision, dropout=0.0)
    graphed, graphed_model, train_step = _train(vocab, batches, True, "cuda", precision, dropout=0.0)
    assert train_step.disabled is None and train_step.recurrence is not None
    tolerance = 1e-5 if precision == "fp32" else 2e-2
    assert max(abs(a - b) / abs(a) for a, b in zip(eager, graphed)) <= tolerance, (eager, graphed)
    worst = max(float((a - b).abs().max()) for a, b in zip(eager_model.parameters(), graphed_model.parameters()))
    assert worst <= (1e-4 if precision == "fp32" else 5e-2), worst


@pytest.mark.gpu
def test_cuda_graph_step_with_dropout_trains(vocab):
    batches = _batches(vocab, 12)
    losses, _, train_step = _train(vocab, batches, True, "cuda", "bf16", sampled=False, dropout=0.1)
    assert train_step.recurrence is not None
    assert sum(losses[-3:]) < sum(losses[:3])  # it learns


def test_batches_carry_their_reset_steps_to_the_device(vocab, monkeypatch):
    """The steps with a reset are read on the host where the batch is made and
    travel with `Batch.to`, so a step on a GPU never syncs to find them."""
    batches = _batches(vocab, 3)
    for batch in batches:
        assert batch.reset_steps == set(batch.resets.any(0).nonzero().flatten().tolist())
        assert batch.to(torch.device("cpu")).reset_steps is batch.reset_steps
    seen = []
    full_length = StepPlan.full_length.__func__

    def recording(cls, resets=None, static=False, reset_steps=None):
        seen.append(reset_steps)
        return full_length(cls, resets, static, reset_steps)

    monkeypatch.setattr(StepPlan, "full_length", classmethod(recording))
    model = _model(vocab, dropout=0.0)
    model(batches[0], model.zero_state(4), None, None)
    assert seen == [batches[0].reset_steps]
