"""The pure-NumPy reference: the hand-in's network, of any depth, written to be obviously right.

This module is the oracle the compiled path is tested against. It favours clarity over
speed, but it is stable (log-softmax with the max subtracted, the binary cross-entropy
through softplus, the Poisson deviance in log space) and dtype-preserving (float32 in,
float32 out).

    Z1 = X W1 + b1;  A1 = relu(Z1);  Z2 = A1 W2 + b2   (two layers, the hand-in's net)
    cost = -(1/n) sum_i log softmax(Z2_i)[y_i]  +  c/(2n) (||W1||^2 + ||W2||^2)

and the same with more hidden layers in between (params W1, b1, ..., WL, bL), other
hidden activations (identity, logistic, tanh), other outputs with their losses
(logistic, identity, exp) and per-row sample weights, as scikit-learn's MLPs define them.
"""

import numpy as np

from ._validation import (
    ACTIVATIONS,
    OVERFLOW_MESSAGE,
    check_choice,
    check_cost_grad_args,
    check_sparse_X,
    check_X,
    is_sparse,
)
from .families import OPTIMIZERS
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


def sigmoid(z):
    """Elementwise 1 / (1 + exp(-z)), finite for every z (exp may overflow to inf: the result is then 0)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def activate(Z, activation):
    """A hidden activation of pre-activations Z: "identity", "logistic", "tanh" or "relu"."""
    if activation == "relu":
        return relu(Z)
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "logistic":
        return sigmoid(Z)
    return Z


def backward_activation(dA, A, activation):
    """dZ from dA through a hidden activation, its derivative taken from the stored activation A.

    relu: [A > 0] (0 at the kink); tanh: 1 - A^2; logistic: A (1 - A); identity: 1.
    """
    if activation == "relu":
        return dA * (A > 0)
    if activation == "tanh":
        return dA * (1 - A * A)
    if activation == "logistic":
        return dA * A * (1 - A)
    return dA


def output_value(Z, output):
    """The network's output from the last layer's pre-activation Z (n, k).

    softmax: class probabilities; logistic: sigmoid(Z); identity: Z; exp: exp(Z).
    """
    if output == "softmax":
        return softmax(Z)
    if output == "logistic":
        return sigmoid(Z)
    if output == "exp":
        return np.exp(Z)
    return Z


def output_loss(Z, y, output, loss_range=None):
    """Each row's loss (n,) in float64, from the pre-activation Z (n, k) and the targets.

    softmax: -log softmax(Z)[y] for labels y (n,). logistic: binary cross-entropy summed
    over the outputs, max(z, 0) - y z + log(1 + exp(-|z|)), for 0/1 targets y (n, k).
    identity: half the squared error, averaged over the outputs. exp: Poisson deviance
    summed over the outputs, y log(y / exp(z)) - y + exp(z) with 0 log 0 = 0.
    loss_range: (low, high) clips each cross-entropy (softmax: the row's; logistic: each
    output's) into that range, as scikit-learn's loss from probabilities clipped to
    [eps, 1 - eps] is; None (the default) clips nothing.
    """
    low, high = (-np.inf, np.inf) if loss_range is None else loss_range
    if output == "softmax":  # in Z's dtype, as the compiled pass computes it
        return np.clip(-log_softmax(Z)[np.arange(Z.shape[0]), y].astype(np.float64), low, high)
    Z, T = Z.astype(np.float64), np.asarray(y, np.float64)
    if output == "logistic":
        return np.clip(np.maximum(Z, 0) - T * Z + np.log1p(np.exp(-np.abs(Z))), low, high).sum(axis=1)
    if output == "identity":
        return 0.5 * ((Z - T) ** 2).mean(axis=1)
    y_log_y = np.where(T > 0, T * np.log(np.where(T > 0, T, 1)), 0)
    with np.errstate(over="ignore"):
        return (y_log_y - T * Z - T + np.exp(Z)).sum(axis=1)


def output_delta(Z, y, output):
    """The gradient of `output_loss` with respect to Z, row by row, in Z's dtype.

    activation(Z) - target for every output, divided by k for identity (its loss
    averages over the outputs). For softmax, at the target, p - 1 = expm1(log p): computed
    that way it keeps its digits when p is close to 1 (plain p - 1 cancels in float32).
    """
    if output == "softmax":
        rows = np.arange(Z.shape[0])
        log_probs = log_softmax(Z)
        delta = np.exp(log_probs)
        delta[rows, y] = np.expm1(log_probs[rows, y])
        return delta
    with np.errstate(over="ignore"):
        delta = output_value(Z, output) - y
    return delta / Z.dtype.type(Z.shape[1]) if output == "identity" else delta


def cost_grad(X, y, params, c=0.0, *, activation="relu", output="softmax", sample_weight=None):
    """Average loss with L2 weight decay, and its gradients.

    For L layers: A0 = X, A_l = activation(A_{l-1} W_l + b_l) for l < L, the output's
    pre-activation Z_L = A_{L-1} W_L + b_L, and

        cost = sum_i s_i loss_i / sum_i s_i  +  c / (2 sum_i s_i) sum_l ||W_l||^2

    with loss_i the output's loss of row i (`output_loss`) and s the sample weights (all
    1 by default, so the decay term is c/(2n)). Biases are not regularised. L = 2 with
    the defaults is the hand-in's network: the cross-entropy of a softmax over ReLU
    units. The definitions are scikit-learn's (its alpha is c).

    Parameters
    ----------
    X : array_like or scipy.sparse matrix, shape (n, d)
        Real-valued data; cast to the parameters' dtype. A sparse X stays sparse: its
        products are scipy.sparse's.
    y : array_like
        softmax: integer labels (n,) in [0, k). logistic: 0/1 targets, (n,) for one
        output column (binary), (n, k) for k (multilabel). identity: real targets, (n,)
        for one output or (n, k). exp: counts >= 0, (n,) or (n, k).
    params : dict
        W1 (d, h1), b1, W2 (h1, h2), b2, ..., WL (h_{L-1}, k), bL, for L >= 1; each bias
        of shape (width,) or (1, width); all float32 or all float64.
    c : float, default 0.0
        Weight decay, >= 0.
    activation : {"relu", "tanh", "logistic", "identity"}, keyword-only
        The hidden layers' activation.
    output : {"softmax", "logistic", "identity", "exp"}, keyword-only
        The output layer's activation, which implies the loss: cross-entropy, binary
        cross-entropy (summed over outputs), half the squared error (averaged over
        outputs), Poisson deviance (summed over outputs).
    sample_weight : array_like, shape (n,), optional, keyword-only
        Per-row weights, finite, >= 0 and not all 0.

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
        The inputs are finite but a pre-activation, an output or the loss overflows.
    """
    X, y, s, (weights, biases), c = check_cost_grad_args(X, y, params, c, activation=activation, output=output,
                                                         sample_weight=sample_weight, accept_sparse=True)
    norm = X.shape[0] if s is None else float(np.sum(s, dtype=np.float64))

    activations, pre_activations = [X], []
    for W, b in zip(weights[:-1], biases[:-1]):
        pre_activations.append(activations[-1] @ W + b)
        activations.append(activate(pre_activations[-1], activation))
    Z = activations[-1] @ weights[-1] + biases[-1]
    if not all(np.all(np.isfinite(Z_l)) for Z_l in [*pre_activations, Z]):
        raise FloatingPointError(OVERFLOW_MESSAGE)
    # A huge c or output can overflow the loss, its gradient or the decay term: detected
    # below, and raised as FloatingPointError.
    with np.errstate(over="ignore", invalid="ignore"):
        row_losses = output_loss(Z, y, output)
        data_loss = (row_losses.sum() if s is None else np.dot(s.astype(np.float64), row_losses)) / norm
        squares = sum(np.sum(W * W, dtype=np.float64) for W in weights)
        cost = float(data_loss + c / (2 * norm) * squares)

        dZ = output_delta(Z, y, output)
        if s is None:
            dZ /= X.dtype.type(norm)
        else:
            dZ *= (s / X.dtype.type(norm))[:, None]
        scale = X.dtype.type(c / norm)
        grads = {}
        for layer in range(len(weights), 0, -1):
            W = weights[layer - 1]
            grads[f"d_w{layer}"] = np.asarray(activations[layer - 1].T @ dZ) + scale * W
            grads[f"d_b{layer}"] = dZ.sum(axis=0).reshape(np.shape(params[f"b{layer}"]))
            if layer > 1:
                dZ = backward_activation(dZ @ W.T, activations[layer - 1], activation)
    if not (np.isfinite(cost) and all(np.all(np.isfinite(g)) for g in grads.values())):
        raise FloatingPointError(OVERFLOW_MESSAGE)
    return cost, {key: grads[key] for key in grad_keys(len(weights))}


# ---------------------------------------------------------------- twins of the other kernel families


def logits(X, params, activation="relu"):
    """The output layer's pre-activation: A0 = X, A_l = activation(A_{l-1} W_l + b_l), Z_L = A_{L-1} W_L + b_L.

    Twin of the compiled prediction pass. X (n, d), dense or scipy.sparse, is cast to
    the parameters' dtype; returns (n, k) in that dtype.
    """
    check_choice("activation", activation, ACTIVATIONS)
    weights, biases = to_layers(params)
    if is_sparse(X):
        A = check_sparse_X(X, weights[0].shape[0], weights[0].dtype)
    else:
        A = check_X(X, weights[0].shape[0], weights[0].dtype)
    for W, b in zip(weights[:-1], biases[:-1]):
        A = activate(A @ W + b, activation)
    return A @ weights[-1] + biases[-1]


def predict(X, params):
    """The predicted class of each row: the argmax of `logits` (the first on ties)."""
    return np.argmax(logits(X, params), axis=1)




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
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {tuple(OPTIMIZERS)}")
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


def train_epoch(X, y, params, order, batch_size, lr, c=0.0, optimizer="sgd", state=None, step=0, *,
                activation="relu", output="softmax", sample_weight=None, **hyper):
    """One epoch of mini-batch training, the hand-in's way: `cost_grad` and `optimizer_step` per batch.

    Twin of the compiled epoch. The batches are the rows of X in `order`, batch_size at
    a time (the last may be smaller); each batch's weight decay is c/(2m) for its own
    weight sum m (its row count without sample weights). A batch whose sample weights
    are all 0 is skipped: no step, and its loss counts as 0.

    Returns
    -------
    params : dict
        The parameters after the epoch (new arrays).
    state : dict
        The optimizer's state (see `optimizer_step`).
    step : int
        Steps taken so far (the `step` passed plus one per batch trained on).
    loss : float
        The batches' weighted mean losses before their updates, without the decay term,
        each counted once per row and averaged over the epoch's rows (scikit-learn's
        loss_curve_ does the same).
    penalty : float
        The same average of each batch's sum_l ||W_l||^2 / (its weight sum), with the
        weights before its update; 0 if c is 0. scikit-learn's loss_curve_ adds c/2 times
        it to the loss.
    """
    order = np.asarray(order)
    X, y = np.asarray(X), np.asarray(y)
    loss_sum = penalty_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
        if weights is not None and not np.any(weights > 0):
            continue
        cost, grads = cost_grad(X[rows], y[rows], params, c, activation=activation, output=output,
                                sample_weight=weights)
        norm = len(rows) if weights is None else np.sum(weights.astype(params["W1"].dtype), dtype=np.float64)
        squares = sum(np.sum(np.square(params[f"W{l}"], dtype=np.float64)) for l in range(1, len(params) // 2 + 1))
        loss_sum += (cost - c / (2 * norm) * squares) * len(rows)
        if c > 0:
            penalty_sum += squares / norm * len(rows)
        step += 1
        params, state = optimizer_step(params, grads, lr, optimizer, state, step, **hyper)
    return params, state, step, loss_sum / len(order), penalty_sum / len(order)
