"""The listener's scalar mix (models/scalar_mix.py): forward values and a
finite-difference check of its hand-written backprop (W, gamma, inputs, with
the L2 term), in float64."""
import numpy
import pytest

from spacy_elmo.models.scalar_mix import build_scalar_mix

L2 = 0.05
# Central differences with h = 1e-6 in float64: truncation error ~h^2 and
# rounding error ~1e-16 / h = 1e-10 on values of order 1, so the analytic and
# numeric gradients agree to a relative 1e-6 (and absolutely to 1e-8 near 0).
H = 1e-6
RTOL, ATOL = 1e-6, 1e-8


def make_mix(W, gamma, n_layers):
    model = build_scalar_mix(L2)
    model.set_dim("nL", n_layers)
    model.initialize()
    model.set_param("W", numpy.asarray(W, dtype="float64"))
    model.set_param("gamma", numpy.asarray([gamma], dtype="float64"))
    return model


@pytest.fixture
def data():
    rng = numpy.random.default_rng(7)
    n_layers, dim = 3, 5
    X = [rng.standard_normal((n_layers, n, dim)) for n in (4, 1, 2)]  # three Docs, float64
    R = [rng.standard_normal((n, dim)) for n in (4, 1, 2)]  # upstream gradient dL/dY
    W = rng.standard_normal(n_layers)
    return X, R, W, 1.7


def loss(W, gamma, X, R):
    """L = sum over Docs <Y, R> + l2 / 2 * ||W||^2: the function whose gradient
    the backprop returns (the task loss is linear in Y with gradient R)."""
    model = make_mix(W, gamma, X[0].shape[0])
    Y, _ = model(X, is_train=False)
    return sum(float((y * r).sum()) for y, r in zip(Y, R)) + 0.5 * L2 * float((W**2).sum())


def numeric_grad(f, x):
    x = numpy.array(x, dtype="float64")
    grad = numpy.zeros_like(x)
    for i in numpy.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += H
        minus[i] -= H
        grad[i] = (f(plus) - f(minus)) / (2 * H)
    return grad


def test_forward_is_gamma_times_softmax_weighted_sum(data):
    X, _, W, gamma = data
    model = make_mix(W, gamma, 3)
    Y, _ = model(X, is_train=False)
    s = numpy.exp(W) / numpy.exp(W).sum()
    for x, y in zip(X, Y):
        expected = gamma * (s[0] * x[0] + s[1] * x[1] + s[2] * x[2])
        numpy.testing.assert_allclose(y, expected, rtol=1e-12, atol=0)
        assert y.dtype == numpy.float64


def test_initial_mix_is_an_average():
    model = build_scalar_mix(L2)
    X = [numpy.arange(24, dtype="float32").reshape(3, 2, 4)]
    model.initialize(X=X)
    assert model.get_dim("nL") == 3
    Y, _ = model(X, is_train=False)
    numpy.testing.assert_allclose(Y[0], X[0].mean(axis=0), rtol=1e-6)


def test_backprop_matches_finite_differences(data):
    X, R, W, gamma = data
    model = make_mix(W, gamma, 3)
    _, backprop = model.begin_update(X)
    dX = backprop(R)
    dW, dgamma = model.get_grad("W"), model.get_grad("gamma")
    assert dW.dtype == dgamma.dtype == numpy.float64

    numeric_dW = numeric_grad(lambda w: loss(w, gamma, X, R), W)
    numpy.testing.assert_allclose(dW, numeric_dW, rtol=RTOL, atol=ATOL)
    numeric_dgamma = numeric_grad(lambda g: loss(W, g[0], X, R), [gamma])
    numpy.testing.assert_allclose(dgamma, numeric_dgamma, rtol=RTOL, atol=ATOL)
    for i, x in enumerate(X):
        def loss_x(xi, i=i):
            return loss(W, gamma, X[:i] + [xi] + X[i + 1 :], R)

        numpy.testing.assert_allclose(dX[i], numeric_grad(loss_x, x), rtol=RTOL, atol=ATOL)
    # the gradients are not trivially small: the check compares real numbers
    assert numpy.abs(dW).max() > 0.1 and abs(float(dgamma[0])) > 0.1


def test_l2_term_alone(data):
    """With a zero task gradient, W's gradient is exactly l2 * W and gamma's is 0."""
    X, R, W, gamma = data
    model = make_mix(W, gamma, 3)
    _, backprop = model.begin_update(X)
    backprop([numpy.zeros_like(r) for r in R])
    numpy.testing.assert_array_equal(model.get_grad("W"), L2 * W)
    assert float(model.get_grad("gamma")[0]) == 0.0


def test_float32_stays_float32(data):
    """Pipelines run the mix in float32: no float64 creeps into outputs or
    gradients, and they agree with the float64 run to float32 precision."""
    X, R, W, gamma = data
    model = build_scalar_mix(L2)
    model.set_dim("nL", 3)
    model.initialize()
    model.set_param("W", W.astype("float32"))
    model.set_param("gamma", numpy.asarray([gamma], dtype="float32"))
    Y, backprop = model.begin_update([x.astype("float32") for x in X])
    dX = backprop([r.astype("float32") for r in R])
    assert {y.dtype for y in Y} == {d.dtype for d in dX} == {numpy.dtype("float32")}
    assert model.get_grad("W").dtype == model.get_grad("gamma").dtype == numpy.float32
    reference = make_mix(W, gamma, 3)
    Y64, backprop64 = reference.begin_update(X)
    backprop64(R)
    for y, y64 in zip(Y, Y64):
        numpy.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(model.get_grad("W"), reference.get_grad("W"), rtol=1e-4, atol=1e-6)
