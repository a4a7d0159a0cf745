"""Full and sampled softmax, log-uniform candidates."""
import math

import torch

from spacy_elmo.training.softmax import LogUniformSampler, SharedSoftmax


def test_log_uniform_distribution_sums_to_one_and_is_zipfian():
    sampler = LogUniformSampler(1000, 10, torch.Generator().manual_seed(0))
    p = sampler.log_prob(torch.arange(1000)).exp()
    assert abs(float(p.sum()) - 1.0) < 1e-12
    assert math.isclose(float(p[0]), math.log(2) / math.log(1001), rel_tol=1e-12)
    assert bool((p[1:] < p[:-1]).all())


def test_sampler_draws_distinct_ids_with_empirical_frequencies():
    V, n = 50, 5
    sampler = LogUniformSampler(V, n, torch.Generator().manual_seed(0))
    hits = torch.zeros(V)
    expected = torch.zeros(V, dtype=torch.float64)
    for _ in range(4000):
        ids, n_tries = sampler.sample()
        assert len(ids) == n and len(torch.unique(ids)) == n and n_tries >= n
        hits[ids] += 1
    # the frequent ids are drawn nearly every time, the rare ones seldom
    assert hits[0] > hits[10] > hits[40]
    assert 0.45 < hits[0] / 4000 <= 1.0


def test_sampled_softmax_with_every_class_is_corrected_full_softmax():
    torch.manual_seed(0)
    V, dim = 12, 8
    head = SharedSoftmax(V, dim)
    hidden = torch.randn(30, dim)
    targets = torch.randint(0, V, (30,))
    targets[3] = -1  # ignored
    full = head.full_nll(hidden, targets)
    sampler = LogUniformSampler(V, V, torch.Generator().manual_seed(1))
    sampled = head.sampled_nll(hidden, targets, sampler)
    # every class is a candidate: the sampled loss is the exact softmax over
    # logits corrected by -log(expected count), the true class counted once
    replay = LogUniformSampler(V, V, torch.Generator().manual_seed(1))
    ids, n_tries = replay.sample()
    assert sorted(ids.tolist()) == list(range(V))
    log_q = replay.log_expected_count(torch.arange(V), n_tries).float()
    keep = targets >= 0
    corrected = hidden[keep] @ head.weight.T + head.bias - log_q
    expected = torch.nn.functional.cross_entropy(corrected, targets[keep], reduction="sum")
    assert torch.allclose(sampled, expected, rtol=1e-5)
    reference = torch.nn.functional.cross_entropy(
        hidden[targets >= 0] @ head.weight.T + head.bias, targets[targets >= 0], reduction="sum"
    )
    assert torch.allclose(full, reference, rtol=1e-6)


def test_sampled_softmax_gradient_reaches_only_sampled_and_true_rows():
    torch.manual_seed(0)
    V, dim = 1000, 4
    head = SharedSoftmax(V, dim)
    sampler = LogUniformSampler(V, 20, torch.Generator().manual_seed(2))
    targets = torch.tensor([5, 700])
    head.sampled_nll(torch.randn(2, dim), targets, sampler).backward()
    touched = (head.weight.grad.abs().sum(1) > 0).nonzero().flatten().tolist()
    assert 5 in touched and 700 in touched
    assert len(touched) <= 22

