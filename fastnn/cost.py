"""The public, compiled cost_grad: validate, call the engine, name the results."""

import numpy as np

from . import _engine, _inputs
from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args, is_sparse, raise_non_finite


def cost_grad(X, y, params, c=0.0, *, activation="relu", output="softmax", sample_weight=None):
    """Average loss with L2 weight decay, and its gradients (compiled).

    For L >= 1 layers: A0 = X, A_l = activation(A_{l-1} W_l + b_l) for l < L, the
    output's pre-activation Z_L = A_{L-1} W_L + b_L, and

        cost = sum_i s_i loss_i / sum_i s_i  +  c / (2 sum_i s_i) sum_l ||W_l||^2,

    loss_i the output's loss of row i and s the sample weights (all 1 by default). With
    the defaults, cost = -(1/n) sum_i log softmax(Z_L_i)[y_i] + c/(2n) sum_l ||W_l||^2,
    the hand-in's. Same signature, returns and errors as `fastnn.reference.cost_grad`,
    and equal to it within the tolerances the tests state.

    Parameters
    ----------
    X : array_like or scipy.sparse matrix, shape (n, d)
        Real-valued data (any layout, integers allowed); cast to the parameters' dtype.
        A sparse X (CSR or CSC) is never densified: its products visit its nonzeros.
    y : array_like
        softmax: integer labels (n,) in [0, k) (integer-valued floats are accepted).
        logistic: 0/1 targets, (n,) for one output column (binary), (n, k) for k
        (multilabel). identity: real targets, (n,) for one output or (n, k). exp:
        counts >= 0, (n,) or (n, k).
    params : dict
        W1 (d, h1), b1, ..., WL (h_{L-1}, k), bL; each bias (width,) or (1, width); all
        float32 or all float64. The parameters' dtype is the dtype of the computation.
        Two layers (W1, b1, W2, b2) is the hand-in's network.
    c : float, default 0.0
        Weight decay, finite and >= 0 (scikit-learn's alpha). Biases are not regularised.
    activation : {"relu", "tanh", "logistic", "identity"}, keyword-only
        The hidden layers' activation.
    output : {"softmax", "logistic", "identity", "exp"}, keyword-only
        The output layer's activation, which implies the loss, as in scikit-learn's
        MLPs: softmax with the cross-entropy; logistic with the binary cross-entropy,
        summed over outputs; identity with half the squared error, averaged over
        outputs; exp with the Poisson deviance, summed over outputs.
    sample_weight : array_like, shape (n,), optional, keyword-only
        Per-row weights: finite, >= 0 and not all 0. The loss is their weighted mean and
        the decay term c/(2 sum s) sum ||W||^2, as in scikit-learn.

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
        Missing or unexpected keys, shapes that do not chain, bad labels or targets
        (targets not 0/1 for logistic, negative for exp), bad sample weights, NaN or inf
        in X, y, params or sample_weight, c < 0, an unknown activation or output.
    FloatingPointError
        The inputs are finite but a pre-activation, an output or the loss overflows.
    """
    X_given, sparse = X, is_sparse(X)
    X, y, weights_s, (weights, biases), c = check_cost_grad_args(
        X, y, params, c, check_finite=False, activation=activation, output=output, sample_weight=sample_weight,
        accept_sparse=True)
    if sparse:
        X = _inputs.as_input(X, weights[0].dtype)  # its structure and values checked: the kernels index with it
    status, cost, d_W, d_b = _engine.cost_grad(X, y, weights, biases, c, activation=activation, output=output,
                                               sample_weight=weights_s)
    if status != _engine.OK:
        # The kernels flag non-finite intermediates for free; find out why only now.
        raise_non_finite(X.data.reshape(-1, 1) if sparse else X, weights, biases, None if sparse else X_given)
        raise FloatingPointError(OVERFLOW_MESSAGE)
    grads = {}
    for layer, (d_w, d_bias) in enumerate(zip(d_W, d_b), 1):
        grads[f"d_w{layer}"] = d_w
        grads[f"d_b{layer}"] = d_bias.reshape(np.shape(params[f"b{layer}"]))
    return float(cost), grads
