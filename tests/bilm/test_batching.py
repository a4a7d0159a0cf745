"""The one batching policy (bilm/batching.py), and that the component and
`embed` both follow it."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc
from spacy.vocab import Vocab
from thinc.api import Model

from spacy_elmo.bilm.batching import budget_batches, chunks, longest_first, split_rows
from spacy_elmo.embed.plan import Window, window_batches
from spacy_elmo.models.encoder import build_elmo_encoder_v1


def test_chunks_cut_at_max_length():
    assert list(chunks(4, 0, 600, 256)) == [(4, 0, 256), (4, 256, 512), (4, 512, 600)]
    assert list(chunks(4, 0, 256, 256)) == [(4, 0, 256)]
    assert list(chunks(4, 0, 600, 0)) == [(4, 0, 600)]
    assert list(chunks(1, 10, 15, 2)) == [(1, 10, 12), (1, 12, 14), (1, 14, 15)]
    assert list(chunks(1, 3, 3, 0)) == list(chunks(1, 3, 3, 5)) == []


def test_longest_first_is_stable():
    segments = [(0, 0, 2), (1, 0, 5), (2, 0, 2), (3, 1, 6), (4, 0, 1)]
    assert longest_first(segments) == [(1, 0, 5), (3, 1, 6), (0, 0, 2), (2, 0, 2), (4, 0, 1)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), max_size=60), st.integers(1, 300))
def test_budget_batches_stay_within_the_budget(lengths, budget):
    segments = [(i, 0, n) for i, n in enumerate(lengths)]
    batches = list(budget_batches(segments, budget))
    assert [s for batch in batches for s in batch] == segments
    for batch in batches:
        assert batch
        longest = max(end - start for _, start, end in batch) + 2
        assert len(batch) == 1 or len(batch) * longest <= budget


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50), st.integers(1, 20))
def test_split_rows_in_equal_parts(n_rows, batch_size):
    batch = [(i, 0, 1) for i in range(n_rows)]
    parts = list(split_rows(batch, batch_size))
    assert [s for part in parts for s in part] == batch
    sizes = [len(part) for part in parts]
    assert max(sizes) <= batch_size and max(sizes) - min(sizes) <= 1
    assert len(parts) == -(-n_rows // batch_size)


class _RecordingBiLM:
    """Stands in for spacy-elmo.ElmoBiLM: records the rows of each batch."""

    def __init__(self, state_mode: str):
        self.batches = []
        config = type("Config", (), {"n_elmo_layers": 3, "output_dim": 2})
        torch_model = type("Bilm", (), {"config": config})
        self.model = Model("recording", self._forward, attrs={"state_mode": state_mode})
        self.model.shims.append(type("Shim", (), {"_model": torch_model})())

    def _forward(self, model, texts, is_train):
        self.batches.append([len(t) for t in texts])
        arrays = [model.ops.alloc3f(3, len(t), 2) for t in texts]
        return arrays, lambda d: []


@pytest.mark.parametrize("max_length,budget", [(256, 4096), (7, 50), (0, 100), (3, 1)])
def test_component_and_embed_batch_alike(max_length, budget):
    """The same sentences make the same batches in the component and in
    `embed` (a batch_size too large to split anything)."""
    lengths = [5, 1, 9, 2, 2, 30, 1, 12, 12, 4, 17, 3]
    lines = [[f"w{i}"] * n for i, n in enumerate(lengths)]
    recorder = _RecordingBiLM("warm")
    encoder = build_elmo_encoder_v1(bilm=recorder.model, max_length=max_length, token_budget=budget)
    docs = [Doc(Vocab(), words=words) for words in lines]
    encoder.predict(docs)
    window = Window(0, 0, lines)
    planned = window_batches(window, batch_size=10**6, token_budget=budget, max_length=max_length)
    assert recorder.batches == [[end - start for _, start, end in batch] for batch in planned]
