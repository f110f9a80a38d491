"""The output layer: its activation, its loss and the loss's gradient, fused into one pass
over a block of rows.

Four outputs, each with the loss scikit-learn pairs with it: softmax with the
cross-entropy (labels), logistic with the binary cross-entropy summed over outputs
(binary or multilabel 0/1 targets), identity with half the squared error averaged over
outputs, exp with the Poisson deviance summed over outputs (counts). For each, the
gradient of the loss with respect to the output's pre-activation z is
activation(z) - target. Rows are weighted by per-row sample weights (none: all 1), and
the gradient is scaled by inv_norm = 1 / (sum of the weights). The output is a runtime
code (`fastnn.families`); the targets' type (labels or numbers) picks the softmax or the
elementwise outputs when a kernel compiles. Twin:
`fastnn.reference.output_loss` and `fastnn.reference.output_delta`.

loss_range = (low, high) clips each row's cross-entropy (softmax) or each output's binary
cross-entropy (logistic) into [low, high] before it is weighted and summed: (-inf, inf)
gives the exact loss; `clipped_loss_range` gives scikit-learn's, which computes the loss
from probabilities clipped to [eps, 1 - eps]. The gradient is never clipped (scikit-learn's
is activation(z) - target too). The squared error and the Poisson deviance are not clipped.

Losses are computed stably for any finite z: the log-softmax subtracts the row maximum,
the binary cross-entropy is max(z, 0) - t z + log1p(exp(-|z|)) (never log 0), and the
Poisson deviance uses log(exp(z)) = z.
"""

import numpy as np
from numba import types

from .compile import cast_like, dispatch, kernel, one_like
from .elementary import fast_exp

SOFTMAX, LOGISTIC, IDENTITY, EXP = 0, 1, 2, 3  # `fastnn.families.OUTPUTS` names them


def clipped_loss_range(dtype):
    """(low, high): the cross-entropies of probabilities 1 - eps and eps, eps the dtype's machine epsilon.

    A probability clipped to [eps, 1 - eps] (scikit-learn's `log_loss`) has a
    cross-entropy -log(p) in exactly this range.
    """
    eps = float(np.finfo(dtype).eps)
    return -np.log1p(-eps), -np.log(eps)


EXACT_LOSS_RANGE = (-np.inf, np.inf)  # clips nothing


@kernel
def _softmax_rows(logits, b_out, targets, row_weights, inv_norm, loss_range, d_b_out_partial, output):
    """logits (before b_out) -> G = w (softmax - onehot) inv_norm in place; adds G's rows into d_b_out_partial.

    targets (rows, 1) holds the labels; output (SOFTMAX) is unused. Returns (the rows'
    cross-entropies times their weights, summed in float64; True if a logit was NaN or
    inf).
    """
    dtype = logits.dtype.type
    k = logits.shape[1]
    weighted = row_weights.size > 0
    loss = 0.0
    non_finite = False
    for i in range(logits.shape[0]):
        row = logits[i]
        label = targets[i, 0]
        weight = np.float64(row_weights[i]) if weighted else 1.0
        top = row[0] + b_out[0]
        for c in range(k):
            z = row[c] + b_out[c]
            non_finite |= z - z != 0
            top = max(top, z)
            row[c] = z
        shifted_target = row[label] - top
        total = dtype(0)
        for c in range(k):
            row[c] = np.exp(row[c] - top)
            total += row[c]
        log_total = np.log(total)
        row_loss = np.float64(log_total) - shifted_target
        loss += weight * min(max(row_loss, loss_range[0]), loss_range[1])
        row_scale = dtype(inv_norm * weight)
        scale = row_scale / total
        for c in range(k):
            row[c] *= scale
        # At the target p - 1 = expm1(log p), which keeps its digits when p is close to 1.
        row[label] = np.expm1(shifted_target - log_total) * row_scale
        for c in range(k):
            d_b_out_partial[c] += row[c]
    return loss, non_finite


@kernel
def _binary_cross_entropy(z, t):
    """(loss in float64, sigmoid(z) - t), with one C-library call (log1p): e^-|z| is `fast_exp`'s."""
    one = one_like(z)
    e = fast_exp(-abs(z))  # in (0, 1]
    sigmoid = one / (one + e) if z >= 0 else e / (one + e)
    x, y = np.float64(z), np.float64(t)
    return max(x, 0.0) - y * x + np.log1p(np.float64(e)), sigmoid - t


@kernel
def _half_squared_error(z, t):
    """(loss in float64, z - t)."""
    residual = np.float64(z) - np.float64(t)
    return 0.5 * residual * residual, z - t


@kernel
def _poisson_deviance(z, t):
    """(loss in float64, exp(z) - t): t log(t / exp(z)) - t + exp(z), with 0 log 0 = 0.

    exp(z) once, in float64: rounded to z's dtype it overflows to inf where that dtype's
    exp would, which flags it.
    """
    x, y = np.float64(z), np.float64(t)
    e = np.exp(x)
    y_log_y = y * np.log(y) if y > 0 else 0.0
    return y_log_y - y * x - y + e, cast_like(z, e) - t


@kernel
def _loss_and_residual(z, t, output):
    """(loss in float64, activation(z) - t) of one output of the elementwise kinds."""
    if output == LOGISTIC:
        return _binary_cross_entropy(z, t)
    if output == IDENTITY:
        return _half_squared_error(z, t)
    return _poisson_deviance(z, t)


@kernel
def _elementwise_rows(logits, b_out, targets, row_weights, inv_norm, loss_range, d_b_out_partial, output):
    """`_softmax_rows` for outputs applied to each column on its own (logistic, identity, exp).

    targets (rows, k) holds the targets in the logits' dtype. The squared error is
    averaged over the k outputs, the other losses summed over them.
    """
    dtype = logits.dtype.type
    k = logits.shape[1]
    per_output = 1.0 / k if output == IDENTITY else 1.0
    weighted = row_weights.size > 0
    loss = 0.0
    non_finite = False
    for i in range(logits.shape[0]):
        row = logits[i]
        weight = np.float64(row_weights[i]) if weighted else 1.0
        scale = dtype(inv_norm * per_output * weight)
        row_loss = 0.0
        for c in range(k):
            z = row[c] + b_out[c]
            element_loss, residual = _loss_and_residual(z, targets[i, c], output)
            non_finite |= (z - z != 0) | (residual - residual != 0)
            if output == LOGISTIC:
                element_loss = min(max(element_loss, loss_range[0]), loss_range[1])
            row_loss += element_loss
            g = residual * scale
            row[c] = g
            d_b_out_partial[c] += g
        loss += weight * per_output * row_loss
    return loss, non_finite


_output_rows = dispatch(
    "_output_rows", lambda logits, b_out, targets, *rest: (
        _softmax_rows if isinstance(targets.dtype, types.Integer) else _elementwise_rows),
    _elementwise_rows, inline=True)
_output_rows.__doc__ = """The output layer on a block of rows: `_softmax_rows` for integer labels (the softmax
output), else `_elementwise_rows` (logistic, identity and exp, by the output's code)."""
