"""The task-specific scalar mix of the ELMo layers (Peters et al. 2018, eq. 1):

    ELMo_task = gamma * sum_k softmax(W)_k * h_k

a thinc layer with the parameters `W` (one weight per layer) and `gamma` that
trained pipelines hold (read them with `model.get_param("W")`).

AllenNLP's ScalarMix can also layer-normalise each layer first
(`do_layer_norm`). That is left out: its statistics are taken over the whole
batch, so a token's vector would depend on which Docs share its batch
(`nlp.pipe` with another batch_size would give other outputs), and the paper
calls it helpful only "in some cases".
"""
from typing import Callable, List, Optional, Tuple, cast

from thinc.api import Model
from thinc.types import Floats1d, Floats2d, Floats3d


def build_scalar_mix(l2: float) -> Model[List[Floats3d], List[Floats2d]]:
    """softmax(W)-weighted sum of the layers times gamma, with an L2 penalty
    `l2 * W` added to W's gradient (the paper used 0.001), i.e. the gradient
    of the task loss + l2 / 2 * ||W||^2. W starts at zeros (an even average),
    gamma at 1; the number of layers `nL` comes from the first input.

    l2 (float): weight of the L2 penalty on W.
    RETURNS (Model[List[Floats3d], List[Floats2d]]): per Doc
        (nL, n_tokens, dim) -> (n_tokens, dim).
    """
    return Model(
        "elmo_scalar_mix",
        scalar_mix_forward,
        init=scalar_mix_init,
        dims={"nL": None},
        params={"W": None, "gamma": None},
        attrs={"l2": l2},
    )


def scalar_mix_init(model: Model, X: Optional[List[Floats3d]] = None, Y=None) -> None:
    if X is not None and not model.has_dim("nL"):  # None: declared, unset
        model.set_dim("nL", X[0].shape[0])
    n = model.get_dim("nL")
    model.set_param("W", model.ops.alloc1f(n))
    model.set_param("gamma", model.ops.asarray1f([1.0]))


def scalar_mix_forward(
    model: Model, X: List[Floats3d], is_train: bool
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], List[Floats3d]]]:
    """Works in the dtype of the parameters and inputs (float32 in pipelines;
    float64 in the gradient test)."""
    W = cast(Floats1d, model.get_param("W"))
    gamma = cast(Floats1d, model.get_param("gamma"))
    xp = model.ops.xp
    e = xp.exp(W - W.max())
    s = e / e.sum()  # softmax(W), (nL,)
    g = float(gamma[0])
    outputs = [g * xp.tensordot(s, x, axes=1) for x in X]  # each (n_tokens, dim)

    def backprop(dY: List[Floats2d]) -> List[Floats3d]:
        # a_k = sum over Docs of <X_k, dY> (Frobenius); dgamma = sum_k s_k a_k;
        # dW_k = gamma * s_k * (a_k - sum_j s_j a_j) (the softmax Jacobian) + l2 * W_k
        a = xp.zeros(s.shape, dtype=s.dtype)
        for x, dy in zip(X, dY):
            a += xp.tensordot(x, dy, axes=([1, 2], [0, 1]))
        weighted = float((s * a).sum())
        model.inc_grad("gamma", xp.asarray([weighted], dtype=gamma.dtype))
        model.inc_grad("W", g * s * (a - weighted) + model.attrs["l2"] * W)
        return [g * s.reshape(-1, 1, 1) * dy for dy in dY]  # each (nL, n_tokens, dim)

    return outputs, backprop
