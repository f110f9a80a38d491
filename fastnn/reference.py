"""The pure-NumPy reference: the hand-in's network, of any depth, written to be obviously right.

This module is the oracle the compiled path is tested against. It favours clarity over
speed, but it is stable (log-softmax with the max subtracted) and dtype-preserving
(float32 in, float32 out).

    Z1 = X W1 + b1;  A1 = relu(Z1);  Z2 = A1 W2 + b2   (two layers, the hand-in's net)
    cost = -(1/n) sum_i log softmax(Z2_i)[y_i]  +  c/(2n) (||W1||^2 + ||W2||^2)

and the same with more ReLU layers in between: params W1, b1, ..., WL, bL.
"""

import numpy as np

from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args, check_X
from .params import grad_key, grad_keys, to_layers


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

    For L layers: A0 = X, A_l = relu(A_{l-1} W_l + b_l) for l < L, logits
    Z_L = A_{L-1} W_L + b_L, and
    cost = -(1/n) sum_i log softmax(Z_L_i)[y_i] + c/(2n) sum_l ||W_l||^2.
    Biases are not regularised. L = 2 is the hand-in's network.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Real-valued data; cast to the parameters' dtype.
    y : array_like of int, shape (n,)
        Labels in [0, k).
    params : dict
        W1 (d, h1), b1, W2 (h1, h2), b2, ..., WL (h_{L-1}, k), bL, for L >= 2; each bias
        of shape (width,) or (1, width); all float32 or all float64.
    c : float, default 0.0
        Weight decay, >= 0.

    Returns
    -------
    cost : float
    grads : dict
        d_w1, d_b1, ..., d_wL, d_bL, each with the shape and dtype of its parameter.

    Raises
    ------
    TypeError, ValueError
        For inputs of the wrong type, shape or value (see `fastnn._validation`).
    FloatingPointError
        The inputs are finite but a pre-activation or a logit overflows.
    """
    X, y, (weights, biases), c = check_cost_grad_args(X, y, params, c)
    n, k = X.shape[0], weights[-1].shape[1]

    activations, pre_activations = [X], []
    for W, b in zip(weights[:-1], biases[:-1]):
        pre_activations.append(activations[-1] @ W + b)
        activations.append(relu(pre_activations[-1]))
    logits = activations[-1] @ weights[-1] + biases[-1]
    if not all(np.all(np.isfinite(Z)) for Z in [*pre_activations, logits]):
        raise FloatingPointError(OVERFLOW_MESSAGE)
    log_probs = log_softmax(logits)
    Y = one_in_k_encoding(y, k, dtype=X.dtype)
    cross_entropy = -np.sum(Y * log_probs, dtype=np.float64) / n
    # A huge c can overflow the decay term: detected below, and raised as FloatingPointError.
    with np.errstate(over="ignore"):
        squares = sum(np.sum(W * W, dtype=np.float64) for W in weights)
        cost = float(cross_entropy + c / (2 * n) * squares)

        # dL/dZ_L = softmax - onehot, averaged. At the target, p - 1 = expm1(log p): computed
        # that way it keeps its digits when p is close to 1 (plain p - 1 cancels in float32).
        rows = np.arange(n)
        dZ = np.exp(log_probs)
        dZ[rows, y] = np.expm1(log_probs[rows, y])
        dZ /= X.dtype.type(n)
        scale = X.dtype.type(c / n)
        grads = {}
        for layer in range(len(weights), 0, -1):
            W = weights[layer - 1]
            grads[f"d_w{layer}"] = activations[layer - 1].T @ dZ + scale * W
            grads[f"d_b{layer}"] = dZ.sum(axis=0).reshape(np.shape(params[f"b{layer}"]))
            if layer > 1:  # the ReLU derivative at 0 is taken as 0
                dZ = (dZ @ W.T) * (pre_activations[layer - 2] > 0)
    if not (np.isfinite(cost) and all(np.all(np.isfinite(g)) for g in grads.values())):
        raise FloatingPointError(OVERFLOW_MESSAGE)  # a huge c: the decay term overflowed
    return cost, {key: grads[key] for key in grad_keys(len(weights))}


# ---------------------------------------------------------------- twins of the other kernel families


def logits(X, params):
    """The network's output before the softmax: A0 = X, A_l = relu(A_{l-1} W_l + b_l), Z_L = A_{L-1} W_L + b_L.

    Twin of the compiled prediction pass. X (n, d) is cast to the parameters' dtype;
    returns (n, k) in that dtype.
    """
    weights, biases = to_layers(params)
    A = check_X(X, weights[0].shape[0], weights[0].dtype)
    for W, b in zip(weights[:-1], biases[:-1]):
        A = relu(A @ W + b)
    return A @ weights[-1] + biases[-1]


def predict(X, params):
    """The predicted class of each row: the argmax of `logits` (the first on ties)."""
    return np.argmax(logits(X, params), axis=1)


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def optimizer_step(params, grads, lr, optimizer="sgd", state=None, step=1, momentum=0.9, beta1=0.9,
                   beta2=0.999, eps=1e-8):
    """One optimizer step of every parameter along its gradient g (weight decay already in g).

    sgd: w -= lr g. momentum: v = mu v - lr g; w += v. nesterov: v = mu v - lr g;
    w += mu v - lr g. adam: m = b1 m + (1 - b1) g, s = b2 s + (1 - b2) g^2,
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s) + eps), with t = step >= 1.

    Parameters
    ----------
    params : dict
        W1, b1, ..., WL, bL.
    grads : dict
        d_w1, d_b1, ... as from `cost_grad`.
    lr : float
    optimizer : {"sgd", "momentum", "nesterov", "adam"}
    state : dict or None
        key -> (velocity or first moment, second moment), as returned by an earlier
        step; None starts from zeros.
    step : int
        The step's number t, counted from 1 (Adam's bias correction).

    Returns
    -------
    params : dict
        New arrays; the arguments are not modified.
    state : dict
        The new state.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    new_params, new_state = {}, {}
    for key, w in params.items():
        g = grads[grad_key(key)]
        v, s = state[key] if state is not None else (np.zeros_like(w), np.zeros_like(w))
        if optimizer == "sgd":
            w = w - lr * g
        elif optimizer == "momentum":
            v = momentum * v - lr * g
            w = w + v
        elif optimizer == "nesterov":
            v = momentum * v - lr * g
            w = w + momentum * v - lr * g
        else:
            v = beta1 * v + (1 - beta1) * g
            s = beta2 * s + (1 - beta2) * g * g
            w = w - lr * np.sqrt(1 - beta2**step) / (1 - beta1**step) * v / (np.sqrt(s) + eps)
        new_params[key], new_state[key] = w.astype(g.dtype, copy=False), (v, s)
    return new_params, new_state


def train_epoch(X, y, params, order, batch_size, lr, c=0.0, optimizer="sgd", state=None, step=0, **hyper):
    """One epoch of mini-batch training, the hand-in's way: `cost_grad` and `optimizer_step` per batch.

    Twin of the compiled epoch. The batches are the rows of X in `order`, batch_size at
    a time (the last may be smaller); each batch's weight decay is c/(2m) for its own m.

    Returns
    -------
    params : dict
        The parameters after the epoch (new arrays).
    state : dict
        The optimizer's state (see `optimizer_step`).
    step : int
        Steps taken so far (the `step` passed plus one per batch).
    loss : float
        The batches' mean cross-entropies before their updates, without the decay term,
        averaged over the epoch's rows.
    """
    order = np.asarray(order)
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        cost, grads = cost_grad(X[rows], y[rows], params, c)
        squares = sum(np.sum(np.square(params[f"W{l}"], dtype=np.float64)) for l in range(1, len(params) // 2 + 1))
        loss_sum += (cost - c / (2 * len(rows)) * squares) * len(rows)
        step += 1
        params, state = optimizer_step(params, grads, lr, optimizer, state, step, **hyper)
    return params, state, step, loss_sum / len(order)
