"""The pure-NumPy reference: the hand-in's two-layer network, written to be obviously right.

This module is the oracle the compiled path is tested against. It favours clarity over
speed, but it is stable (log-softmax with the max subtracted) and dtype-preserving
(float32 in, float32 out).

    Z1 = X W1 + b1;  A1 = relu(Z1);  Z2 = A1 W2 + b2
    cost = -(1/n) sum_i log softmax(Z2_i)[y_i]  +  c/(2n) (||W1||^2 + ||W2||^2)
"""

import numpy as np

from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args


def one_in_k_encoding(y, k, dtype=np.float64):
    """One-hot encode labels.

    Parameters
    ----------
    y : array of int, shape (n,)
        Labels in [0, k).
    k : int
        Number of classes.
    dtype : numpy dtype, default float64
        Dtype of the result (pass the data's dtype to avoid upcasting float32 work).

    Returns
    -------
    ndarray, shape (n, k)
        Row i is 1 at column y[i] and 0 elsewhere.
    """
    y = np.asarray(y)
    encoded = np.zeros((y.shape[0], k), dtype=dtype)
    encoded[np.arange(y.shape[0]), y] = 1
    return encoded


def relu(x):
    """Elementwise max(x, 0); NaN stays NaN."""
    return np.maximum(x, 0)


def log_softmax(logits):
    """Row-wise log softmax, stable for any finite logits: z - max z - log sum exp(z - max z).

    Parameters
    ----------
    logits : ndarray, shape (n, k)

    Returns
    -------
    ndarray, shape (n, k), same dtype
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits):
    """Row-wise softmax of logits (n, k): exp(log_softmax(logits)), same dtype; rows sum to 1."""
    return np.exp(log_softmax(logits))


def cost_grad(X, y, params, c=0.0):
    """Average cross-entropy with L2 weight decay, and its gradients.

    cost = -(1/n) sum_i log softmax(Z2_i)[y_i] + c/(2n) (||W1||^2 + ||W2||^2),
    with Z2 = relu(X W1 + b1) W2 + b2. Biases are not regularised.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Real-valued data; cast to the parameters' dtype.
    y : array_like of int, shape (n,)
        Labels in [0, k).
    params : dict
        W1 (d, h), b1 (h,) or (1, h), W2 (h, k), b2 (k,) or (1, k): all float32 or all
        float64.
    c : float, default 0.0
        Weight decay, >= 0.

    Returns
    -------
    cost : float
    grads : dict
        d_w1, d_b1, d_w2, d_b2, each with the shape and dtype of its parameter.

    Raises
    ------
    TypeError, ValueError
        For inputs of the wrong type, shape or value (see `fastnn._validation`).
    FloatingPointError
        The inputs are finite but the pre-activations or the logits overflow.
    """
    X, y, (W1, b1, W2, b2), c = check_cost_grad_args(X, y, params, c)
    n, k = X.shape[0], W2.shape[1]

    Z1 = X @ W1 + b1
    A1 = relu(Z1)
    logits = A1 @ W2 + b2
    if not (np.all(np.isfinite(Z1)) and np.all(np.isfinite(logits))):
        raise FloatingPointError(OVERFLOW_MESSAGE)
    log_probs = log_softmax(logits)
    Y = one_in_k_encoding(y, k, dtype=X.dtype)
    cross_entropy = -np.sum(Y * log_probs, dtype=np.float64) / n
    decay = c / (2 * n) * (np.sum(W1 * W1, dtype=np.float64) + np.sum(W2 * W2, dtype=np.float64))
    cost = float(cross_entropy + decay)

    # dL/dZ2 = softmax - onehot, averaged. At the target, p - 1 = expm1(log p): computed
    # that way it keeps its digits when p is close to 1 (plain p - 1 cancels in float32).
    rows = np.arange(n)
    G = np.exp(log_probs)
    G[rows, y] = np.expm1(log_probs[rows, y])
    G /= X.dtype.type(n)
    dZ1 = (G @ W2.T) * (Z1 > 0)  # the ReLU derivative at 0 is taken as 0
    scale = X.dtype.type(c / n)
    grads = {
        "d_w1": X.T @ dZ1 + scale * W1,
        "d_b1": dZ1.sum(axis=0),
        "d_w2": A1.T @ G + scale * W2,
        "d_b2": G.sum(axis=0),
    }
    shapes = {"d_b1": np.shape(params["b1"]), "d_b2": np.shape(params["b2"])}
    for key, shape in shapes.items():
        grads[key] = grads[key].reshape(shape)
    return cost, grads
