"""The public, compiled cost_grad: validate, call the engine, name the results."""

import numpy as np

from . import _engine
from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args, raise_non_finite


def cost_grad(X, y, params, c=0.0):
    """Average cross-entropy with L2 weight decay, and its gradients (compiled).

    For L >= 2 layers: A0 = X, A_l = relu(A_{l-1} W_l + b_l) for l < L, logits
    Z_L = A_{L-1} W_L + b_L, and cost = -(1/n) sum_i log softmax(Z_L_i)[y_i] +
    c/(2n) sum_l ||W_l||^2. Same signature, returns and errors as
    `fastnn.reference.cost_grad`, and equal to it within the tolerances the tests state.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Real-valued data (any layout, integers allowed); cast to the parameters' dtype.
    y : array_like of int, shape (n,)
        Labels in [0, k); integer-valued floats are accepted.
    params : dict
        W1 (d, h1), b1, ..., WL (h_{L-1}, k), bL; each bias (width,) or (1, width); all
        float32 or all float64. The parameters' dtype is the dtype of the computation.
        Two layers (W1, b1, W2, b2) is the hand-in's network.
    c : float, default 0.0
        Weight decay, finite and >= 0. Biases are not regularised.

    Returns
    -------
    cost : float
    grads : dict
        d_w1, d_b1, ..., d_wL, d_bL, each a new array with the shape and dtype of its
        parameter.

    Raises
    ------
    TypeError
        params not a dict; a non-real X; parameters not all float32 or all float64.
    ValueError
        Missing or unexpected keys, shapes that do not chain, bad labels, NaN or inf in
        X or params, c < 0.
    FloatingPointError
        The inputs are finite but a pre-activation or a logit overflows.
    """
    X_given = X
    X, y, (weights, biases), c = check_cost_grad_args(X, y, params, c, check_finite=False)
    status, cost, d_W, d_b = _engine.cost_grad(X, y, weights, biases, c)
    if status != _engine.OK:
        # The kernels flag non-finite intermediates for free; find out why only now.
        raise_non_finite(X, weights, biases, X_given)
        raise FloatingPointError(OVERFLOW_MESSAGE)
    grads = {}
    for layer, (d_w, d_bias) in enumerate(zip(d_W, d_b), 1):
        grads[f"d_w{layer}"] = d_w
        grads[f"d_b{layer}"] = d_bias.reshape(np.shape(params[f"b{layer}"]))
    return float(cost), grads
