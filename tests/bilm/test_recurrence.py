"""bilm/lstm.py's two execution plans (dynamic: finished rows drop out; static:
masks, what CUDA graphs capture) and bilm/cuda_graphs.py's buckets, padding and
fallback. CPU tests drive the graph runner with a stand-in for the capture;
the gpu-marked tests capture real CUDA graphs."""
import contextlib
import threading
import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from spacy_elmo.bilm import cuda_graphs
from spacy_elmo.bilm.config import BiLMConfig
from spacy_elmo.bilm.cuda_graphs import LstmGraphs, bucket_rows, bucket_steps, row_groups
from spacy_elmo.bilm.lstm import StepPlan
from spacy_elmo.bilm.packed import WindowRecurrence
from spacy_elmo.bilm.model import BiLM
from spacy_elmo.bilm.precision import precision_scope

from helpers import SHARED_DATA
from helpers import wikitext_sentences as _sentences


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    config = BiLMConfig(lstm_dim=48, projection_dim=24, filters=((1, 8), (2, 16)), n_highway=1, **overrides)
    bilm = BiLM(config)
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-0.3, 0.3)
    return bilm.eval()


def _batch(batch, seq, p, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    tokens = torch.randn(batch, seq, p, generator=g)
    tokens = tokens * (torch.arange(seq) < lengths[:, None]).unsqueeze(-1)
    return tokens, lengths


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("overrides", [{}, {"cell_clip": None, "proj_clip": None, "use_skip_connections": False}])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_static_plan_matches_the_dynamic_loop(with_state, overrides, precision):
    bilm = _model(**overrides)
    tokens, lengths = _batch(7, 13, 24)
    state = None
    if with_state:
        g = torch.Generator().manual_seed(5)
        state = (torch.randn(2, 2, 7, 24, generator=g), torch.randn(2, 2, 7, 48, generator=g))
    with torch.no_grad(), precision_scope(precision, "cpu"):
        dynamic, (h1, c1) = bilm.lstm(tokens, lengths, state)
        static, (h2, c2) = bilm.lstm(tokens, lengths, state, static=True)
    pairs = zip(dynamic + [h1, c1], static + [h2, c2])
    worst = max(float((a.float() - b.float()).abs().max()) for a, b in pairs)
    assert worst <= (1e-5 if precision == "fp32" else 1e-2), worst
    assert float(dynamic[-1].abs().max()) > 0.05
    for layer in static:  # zero at padding
        pad = torch.arange(13) >= lengths[:, None]
        assert not layer[pad].any()


def test_static_plan_through_embed_matches_on_real_text():
    bilm = _model()
    sentences = _sentences(12)
    ids = bilm.char_ids(sentences)
    with torch.inference_mode():
        tokens = bilm.token_embeddings(ids)
        lengths = (ids[:, :, 0] > 0).sum(1)
        dynamic, _ = bilm.lstm(tokens, lengths)
        static, _ = bilm.lstm(tokens, lengths, static=True)
    assert max(float((a - b).abs().max()) for a, b in zip(dynamic, static)) <= 1e-5


def test_training_plans_give_the_same_loss_and_gradients():
    """Pretraining's resets as a dense keep mask at every step (static) equal
    the resets applied only where they occur (dynamic), bit for bit."""
    bilm = _model()
    g = torch.Generator().manual_seed(3)
    inputs = torch.randn(2, 5, 9, 24, generator=g, requires_grad=True)
    resets = torch.rand(5, 9, generator=g) < 0.2
    resets[1, 4] = True
    state = (torch.randn(2, 2, 5, 24, generator=g), torch.randn(2, 2, 5, 48, generator=g))

    def loss_and_grads(plan):
        outs, (h, c) = bilm.lstm.run_layers(inputs, state[0], state[1], plan)
        loss = outs[-1].pow(2).sum() + h.sum() + c.sum()
        return loss.detach(), torch.autograd.grad(loss, [inputs, *bilm.lstm.parameters()])

    dynamic = loss_and_grads(StepPlan.full_length(resets, static=False))
    static = loss_and_grads(StepPlan.full_length(resets, static=True))
    assert StepPlan.full_length(resets, static=True).reset_steps is None
    assert torch.equal(dynamic[0], static[0])
    assert all(torch.equal(a, b) for a, b in zip(dynamic[1], static[1]))
    no_resets = loss_and_grads(StepPlan.full_length(None))
    assert abs(float(no_resets[0] - dynamic[0])) > 1e-3  # the resets do something


def test_buckets():
    assert [bucket_rows(n) for n in (1, 2, 3, 5, 16, 17, 33, 64, 65, 200, 256)] == [
        1, 2, 4, 8, 16, 32, 48, 64, 80, 208, 256]
    assert [bucket_steps(n) for n in (1, 9, 16, 17, 40, 64, 65, 128, 129, 300, 512, 513)] == [
        8, 12, 16, 20, 40, 64, 72, 128, 160, 320, 512, None]


class _FakeGraph:
    """Stands in for a CUDA graph on the CPU: replay() recomputes the captured
    function into the same output tensors, as a graph writes its static outputs."""

    def __init__(self, step):
        self.step = step
        self.result = step()

    def replay(self):
        outputs, (h, c) = self.step()
        for static, new in zip(self.result[0] + list(self.result[1]), outputs + [h, c]):
            static.copy_(new)


def _fake_record(self, step, device):
    graph = _FakeGraph(step)
    return graph, graph.result


def test_graph_runner_pads_reuses_and_copies_out(monkeypatch):
    monkeypatch.setattr(LstmGraphs, "_record", _fake_record)
    bilm = _model()
    runner = LstmGraphs(bilm.lstm)
    expected_captures = 0
    with torch.inference_mode():
        for k, (batch, seq) in enumerate([(5, 13), (7, 16), (6, 14), (8, 15), (3, 30), (9, 16)]):
            tokens, lengths = _batch(batch, seq, 24, seed=k)
            g = torch.Generator().manual_seed(k)
            state = None if k % 2 else (torch.randn(2, 2, batch, 24, generator=g), torch.randn(2, 2, batch, 48, generator=g))
            got, (h, c) = runner.run(tokens, lengths, state, "fp32")
            want, (h2, c2) = bilm.lstm(tokens, lengths, state)
            assert [o.shape for o in got] == [o.shape for o in want]
            assert max(float((a - b).abs().max()) for a, b in zip(got + [h, c], want + [h2, c2])) <= 1e-5
    # (5, 13), (7, 16), (6, 14), (8, 15) share the bucket (8, 16); (3, 30) -> (4, 32); (9, 16) -> (16, 16)
    assert runner.captures == 3 and runner.replays == 6
    assert sorted(runner.graphs) == [(4, 32, "fp32"), (8, 16, "fp32"), (16, 16, "fp32")]


def test_graph_runner_recaptures_when_parameters_move(monkeypatch):
    monkeypatch.setattr(LstmGraphs, "_record", _fake_record)
    bilm = _model()
    runner = LstmGraphs(bilm.lstm)
    tokens, lengths = _batch(4, 10, 24)
    with torch.inference_mode():
        runner.run(tokens, lengths, None, "fp32")
        runner.run(tokens, lengths, None, "fp32")
    assert runner.captures == 1
    layer = bilm.lstm.layers[0]
    layer.weight_hh.data = layer.weight_hh.data * 0.5  # new storage: old graphs would read freed memory
    with torch.inference_mode():
        got, _ = runner.run(tokens, lengths, None, "fp32")
        want, _ = bilm.lstm(tokens, lengths)
    assert runner.captures == 2
    assert max(float((a - b).abs().max()) for a, b in zip(got, want)) <= 1e-5


def test_capture_failure_warns_once_and_falls_back(monkeypatch):
    def broken(self, step, device):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(LstmGraphs, "_record", broken)
    runner = LstmGraphs(_model().lstm)
    tokens, lengths = _batch(4, 10, 24)
    with pytest.warns(UserWarning, match="CUDA graphs for the biLSTM are off .*not permitted"):
        assert runner.run(tokens, lengths, None, "fp32") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runner.run(tokens, lengths, None, "fp32") is None  # no second warning
    assert runner.disabled.startswith("RuntimeError")


class _FakeCuda:
    """Stand-ins for torch.cuda's capture API that record what is called."""

    def __init__(self):
        self.calls = []
        self.current = None
        fake = self

        class Device:
            def __init__(self, device):
                self.device = device

            def __enter__(self):
                fake.calls.append(("device", str(self.device)))
                fake.current = self.device

            def __exit__(self, *exc):
                fake.current = None

        class Stream:
            def __init__(self, device=None):
                fake.calls.append(("stream on", str(device), str(fake.current)))

            def wait_stream(self, other):
                pass

        class Graph:
            def reset(self):
                fake.calls.append("reset")

            def pool(self):
                return "pool"

        class Capture:
            def __init__(self, graph, pool=None):
                pass

            def __enter__(self):
                fake.calls.append(("begin capture", str(fake.current)))

            def __exit__(self, *exc):
                fake.calls.append("end capture")

        self.device, self.Stream, self.CUDAGraph, self.graph = Device, Stream, Graph, Capture
        self.stream = lambda s: contextlib.nullcontext()
        self.current_stream = lambda device=None: Stream(device)

    def install(self, monkeypatch):
        for name in ("device", "Stream", "CUDAGraph", "graph", "stream", "current_stream"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))


def test_capture_runs_on_the_tensors_device(monkeypatch):
    """Capture on a device other than the current one would record nothing
    (the ops run outside the capture): the runner makes it current first."""
    fake = _FakeCuda()
    fake.install(monkeypatch)
    runner = LstmGraphs(_model().lstm)
    graph, result = runner._record(lambda: "out", torch.device("cuda", 1))
    assert result == "out" and runner._pool == "pool"
    assert fake.calls[0] == ("device", "cuda:1")
    assert ("begin capture", "cuda:1") in fake.calls


def test_failed_capture_is_ended_freed_and_turns_graphs_off(monkeypatch):
    fake = _FakeCuda()
    fake.install(monkeypatch)
    runner = LstmGraphs(_model().lstm)

    def step():  # fails inside the capture, as an op that may not be captured does
        if any(call[0] == "begin capture" for call in fake.calls if isinstance(call, tuple)):
            raise RuntimeError("operation not permitted when stream is capturing")

    with pytest.raises(RuntimeError):
        runner._record(step, torch.device("cuda", 0))
    assert fake.calls[-2:] == ["end capture", "reset"] and runner._pool is None
    # Through run(): the captured graphs so far are freed too and graphs are off.
    monkeypatch.setattr(LstmGraphs, "_record", _fake_record)
    tokens, lengths = _batch(4, 10, 24)
    runner.run(tokens, lengths, None, "fp32")
    kept = list(runner.graphs.values())
    freed = []
    for captured in kept:
        captured.graph.reset = lambda: freed.append(True)

    def broken(self, step, device):
        raise RuntimeError("capture failed")

    monkeypatch.setattr(LstmGraphs, "_record", broken)
    with pytest.warns(UserWarning, match="capture failed"):
        assert runner.run(*_batch(20, 40, 24), None, "fp32") is None
    assert freed == [True] and not runner.graphs and runner._pool is None and runner.disabled


def test_too_long_batches_run_eagerly(monkeypatch):
    monkeypatch.setattr(LstmGraphs, "_record", _fake_record)
    runner = LstmGraphs(_model().lstm)
    tokens, lengths = _batch(2, cuda_graphs.MAX_STEPS + 1, 24)
    assert runner.run(tokens, lengths, None, "fp32") is None and runner.captures == 0


def test_set_cuda_graphs():
    bilm = _model()
    assert bilm.cuda_graphs is not None
    bilm.set_cuda_graphs(False)
    assert bilm.cuda_graphs is None
    bilm.embed_sentences(_sentences(2))  # CPU: the eager loop either way


# -- CUDA --------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graphs_match_eager_and_are_reused(precision):
    bilm = _model().to("cuda")
    sentences = _sentences(64)
    batches = [sentences[i : i + 8] for i in range(0, 64, 8)]
    bilm.set_cuda_graphs(False)
    eager = [bilm.embed_sentences(b, mode="warm", precision=precision)[0] for b in batches]
    bilm.set_cuda_graphs(True)
    graphed = [bilm.embed_sentences(b, mode="warm", precision=precision)[0] for b in batches]
    graphs = bilm.cuda_graphs
    assert graphs.disabled is None and graphs.replays == len(batches)
    steps = {bucket_steps(max(len(s) for s in b) + 2) for b in batches}
    assert graphs.captures == len(steps)  # one per length bucket, reused across batches
    tolerance = 1e-5 if precision == "fp32" else 0.1  # bf16 rounding compounds over steps
    worst = max(float((a - b).abs().max()) for a, b in zip(eager, graphed))
    assert worst <= tolerance, worst
    again = [bilm.embed_sentences(b, mode="warm", precision=precision)[0] for b in batches]
    assert graphs.captures == len(steps)
    assert all(torch.equal(a, b) for a, b in zip(again, graphed))  # replays are deterministic


@pytest.mark.gpu
def test_cuda_graphs_carry_mode_and_exact_vs_cpu():
    cpu = _model()
    gpu = _model().to("cuda")
    sentences = _sentences(24)
    for model in (cpu, gpu):
        model.reset_carry()
    for start in range(0, 24, 6):
        a, _ = cpu.embed_sentences(sentences[start : start + 6], mode="carry")
        b, _ = gpu.embed_sentences(sentences[start : start + 6], mode="carry")
        assert float((a - b.cpu()).abs().max()) <= 2e-5
    assert gpu.cuda_graphs.replays == 4 and gpu.cuda_graphs.disabled is None


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_packed_loop_matches_the_autograd_loop(with_state, threads):
    """Inference (no autograd) runs the packed per-direction loop, the two
    directions in two threads; training runs the batched autograd loop. Same
    outputs and final states; torch's thread count is left as it was."""
    bilm = _model()
    tokens, lengths = _batch(9, 11, 24, seed=4)
    lengths[3] = 1
    state = None
    if with_state:
        g = torch.Generator().manual_seed(6)
        state = (torch.randn(2, 2, 9, 24, generator=g), torch.randn(2, 2, 9, 48, generator=g))
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            packed, (h1, c1) = bilm.lstm(tokens, lengths, state)
        assert torch.get_num_threads() == threads
        seen = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert seen == [threads]  # a thread started later inherits the caller's count
    finally:
        torch.set_num_threads(saved)
    reference, (h2, c2) = bilm.lstm(tokens, lengths, state)  # grad enabled: the autograd loop
    assert reference[0].requires_grad and not packed[0].requires_grad
    worst = max(float((a - b).abs().max()) for a, b in zip(packed + [h1, c1], reference + [h2, c2]))
    assert worst <= 1e-6, worst
    for layer in packed:
        assert not layer[torch.arange(11) >= lengths[:, None]].any()


def _casts_of(weights, fn):
    """How many times `fn` casts one of `weights` (a view of its storage) to
    bfloat16: every aten cast, autocast's included."""
    storages = {w.untyped_storage().data_ptr() for w in weights}
    count = [0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in (torch.ops.aten._to_copy.default, torch.ops.aten.to.dtype,
                        torch.ops.aten.to.dtype_layout, torch.ops.aten.copy_.default):
                copy = func is torch.ops.aten.copy_.default
                src = args[1] if copy else args[0]
                dtype = args[0].dtype if copy else (args[1] if func is torch.ops.aten.to.dtype else kwargs.get("dtype"))
                if dtype == torch.bfloat16 and src.dtype == torch.float32 and \
                        src.untyped_storage().data_ptr() in storages:
                    count[0] += 1
            return func(*args, **kwargs)

    with Count():
        fn()
    return count[0]


def test_bf16_weights_are_cast_once_not_at_every_step(one_thread):
    """(One thread: dispatch modes see the caller's thread only.)"""
    bilm = _model()
    weights = [p[d] for layer in bilm.lstm.layers for p in (layer.weight_ih, layer.weight_hh, layer.weight_proj)
               for d in (0, 1)]
    sentences = _sentences(6)
    n = 3 * len(bilm.lstm.layers)  # W_ih, W_hh, W_proj of each layer (both directions at once)
    first = _casts_of(weights, lambda: bilm.embed_sentences(sentences, mode="reset", precision="bf16"))
    assert first == n
    assert _casts_of(weights, lambda: bilm.embed_sentences(sentences, mode="reset", precision="bf16")) == 0
    with torch.no_grad():
        bilm.lstm.layers[0].weight_hh.mul_(0.5)  # an update: the casts are refreshed, in place
    assert _casts_of(weights, lambda: bilm.embed_sentences(sentences, mode="reset", precision="bf16")) == 3
    with torch.no_grad(), precision_scope("bf16", "cpu"):  # the static plan (CUDA graphs) uses the same casts
        tokens, lengths = _batch(3, 5, 24)
        assert _casts_of(weights, lambda: bilm.lstm(tokens, lengths, static=True)) == 0
    # With autograd (fine-tuning, pretraining): once per forward, not per step.
    ids = bilm.char_ids(sentences)
    with precision_scope("bf16", "cpu"):
        assert _casts_of(weights, lambda: bilm(ids)) == n


def test_window_recurrence_gradcheck():
    g = torch.Generator().manual_seed(0)
    batch, steps, n_in, p, d = 3, 4, 5, 4, 6

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_()

    args = (rand(steps * batch, n_in), rand(batch, p), rand(batch, d), rand(n_in, 4 * d, scale=0.5),
            rand(p, 4 * d, scale=0.5), rand(4 * d), rand(d, p, scale=0.5))
    keep = (torch.rand(steps, batch, 1, generator=g) > 0.3).double()
    for clips in ((None, None), (0.8, 0.5)):
        for k in (keep, None):
            assert torch.autograd.gradcheck(lambda *a: WindowRecurrence.apply(*a, k, *clips), args)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_window_backward_equals_the_autograd_loop(dropout):
    """Pretraining's layers through WindowRecurrence give the loss and every
    gradient of the batched autograd loop (the same dropout draws too)."""
    bilm = _model()
    lstm = bilm.lstm
    lstm.dropout = dropout
    lstm.train()
    g = torch.Generator().manual_seed(3)
    inputs = torch.randn(2, 5, 9, 24, generator=g, requires_grad=True)
    resets = torch.rand(5, 9, generator=g) < 0.2
    state = (torch.randn(2, 2, 5, 24, generator=g), torch.randn(2, 2, 5, 48, generator=g))

    def loss_and_grads(windows):
        lstm.window_backward = windows
        torch.manual_seed(11)
        outs, (h, c) = lstm.run_layers(inputs, state[0], state[1], StepPlan.full_length(resets))
        loss = outs[-1].pow(2).sum() + outs[0].sum() + h.sum() + c.sum()
        return loss.detach(), torch.autograd.grad(loss, [inputs, *lstm.parameters()])

    window, reference = loss_and_grads(True), loss_and_grads(False)
    assert abs(float(window[0] - reference[0])) <= 1e-6 * max(1.0, abs(float(reference[0])))
    for a, b in zip(window[1], reference[1]):
        assert float((a - b).abs().max()) <= 1e-6 * max(1.0, float(b.abs().max())), (a - b).abs().max()


def _wikitext_test_sentences(n_tokens):
    """WikiText-2 test paragraphs split after ' . ' (as bench_embed reads them),
    until `n_tokens` tokens."""
    sentences, total = [], 0
    for line in (SHARED_DATA / "wikitext-2" / "test.txt").read_text(encoding="utf8").splitlines():
        words = line.split()
        if not words or words[0] == "=":
            continue
        current = []
        for word in words + [None]:
            if word is not None:
                current.append(word)
            if current and (word is None or (word == "." and len(current) > 1)):
                sentences.append(current)
                total += len(current)
                current = []
        if total >= n_tokens:
            return sentences
    return sentences


@pytest.mark.parametrize("batch_size,most", [(64, 1.11), (256, 1.15)])
def test_row_groups_pad_little_on_real_text(batch_size, most):
    """Issue 21's target: the graphs run at most 1.15x the real row-steps on
    80k WikiText-2 test tokens in length-sorted batches (one graph per batch:
    1.14x at 64, 1.40x at 256)."""
    lengths = sorted((len(s) + 2 for s in _wikitext_test_sentences(80_000)), reverse=True)
    real = padded = one_graph = 0
    for i in range(0, len(lengths), batch_size):
        batch = lengths[i : i + batch_size]
        real += sum(batch)
        one_graph += bucket_rows(len(batch)) * bucket_steps(batch[0])
        groups = row_groups(batch)
        assert sorted(r for rows in groups for r in rows) == list(range(len(batch)))
        padded += sum(bucket_rows(len(rows)) * bucket_steps(max(batch[r] for r in rows)) for rows in groups)
    assert padded / real <= most
    assert padded < one_graph


def test_row_groups_keep_a_uniform_batch_whole():
    assert row_groups([20] * 64) == [list(range(64))]
    assert row_groups([5, 9, 7]) == [[0, 1, 2]]
    assert row_groups([]) == []


def test_graph_runner_splits_a_wide_batch_into_row_groups(monkeypatch):
    monkeypatch.setattr(LstmGraphs, "_record", _fake_record)
    bilm = _model()
    runner = LstmGraphs(bilm.lstm)
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([60, 4, 58, 3] + [5] * 60)  # two long rows among short ones, unsorted
    tokens = torch.randn(64, 60, 24, generator=g) * (torch.arange(60) < lengths[:, None]).unsqueeze(-1)
    assert len(row_groups(lengths.tolist())) > 1
    for state in (None, (torch.randn(2, 2, 64, 24, generator=g), torch.randn(2, 2, 64, 48, generator=g))):
        with torch.inference_mode():
            got, (h, c) = runner.run(tokens, lengths, state, "fp32")
            want, (h2, c2) = bilm.lstm(tokens, lengths, state)
        assert [o.shape for o in got] == [o.shape for o in want]
        assert max(float((a - b).abs().max()) for a, b in zip(got + [h, c], want + [h2, c2])) <= 1e-5
    assert runner.replays == 2 * len(row_groups(lengths.tolist())) and runner.captures == len(runner.graphs)
