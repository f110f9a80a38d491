"""Numba kernels of the two-layer network: one forward-backward pass over a batch.

The two products with the input dimension d (X W1 and X^T dZ1) go to BLAS (`_gemm`).
Everything between them, including the three small products with k columns, is one
pass over the rows (`_rows_forward_backward`), each row staying in L1 from its ReLU to
its gradient. The pass runs over fixed blocks of rows; reductions give each block its
own partial and add the partials in block order, so the result is the same whether the
blocks run serially or in parallel, on any number of threads.
"""

import numpy as np
from numba import njit, prange

from ._blas import _gemm
from ._config import PARALLEL, ROW_BLOCK, SERIAL

# Status codes returned by the kernels.
OK = 0
NON_FINITE = 1  # a parameter, a pre-activation or a logit was NaN or inf


@njit(**SERIAL)
def _n_blocks(n_rows):
    return (n_rows + ROW_BLOCK - 1) // ROW_BLOCK


# ---------------------------------------------------------------- rows of a batch


@njit(**SERIAL)
def _rows_forward_backward(hidden, y, b1, W2, W2T, b2, inv_n, start, stop,
                           d_w2T_partial, d_b1_partial, d_b2_partial):
    """Everything between the two large products, for rows start..stop of one block.

    On entry hidden[i] holds X[i] W1; on exit it holds dZ1[i] = (G[i] W2^T) * [Z1[i] > 0].
    Each row stays in L1 from its ReLU to its gradient, with G[i] = (softmax - onehot) / n.
    Adds the block's contributions to d_w2^T, d_b1 and d_b2 into the partial buffers.
    Returns (sum of the rows' cross-entropies in float64, True if a pre-activation or a
    logit was NaN or inf).
    """
    h, k = W2.shape
    dtype = hidden.dtype.type
    logits = np.empty(k, hidden.dtype)
    d_row = np.empty(h, hidden.dtype)
    loss = 0.0
    non_finite = False
    for i in range(start, stop):
        a = hidden[i]
        for j in range(h):  # A1 = relu(Z1), in place
            z = a[j] + b1[j]
            non_finite |= z - z != 0  # z - z is NaN exactly when z is NaN or inf
            a[j] = z if z > 0 else 0
        for c in range(k):  # logits = A1 W2 + b2
            w = W2T[c]
            z = b2[c]
            for j in range(h):
                z += a[j] * w[j]
            logits[c] = z
        top = logits[0]
        for c in range(k):
            non_finite |= logits[c] - logits[c] != 0
            top = max(top, logits[c])
        shifted_target = logits[y[i]] - top
        total = dtype(0)
        for c in range(k):  # stable log-softmax: shift by the row maximum
            logits[c] = np.exp(logits[c] - top)
            total += logits[c]
        loss += np.log(np.float64(total)) - shifted_target
        scale = dtype(inv_n) / total
        for c in range(k):  # G = (softmax - onehot) / n, into logits
            logits[c] *= scale
        logits[y[i]] -= dtype(inv_n)
        d_row[:] = 0
        for c in range(k):
            g = logits[c]
            d_b2_partial[c] += g
            for j in range(h):
                d_w2T_partial[c, j] += g * a[j]
                d_row[j] += g * W2T[c, j]
        for j in range(h):  # ReLU derivative, 0 at the kink
            g = d_row[j] if a[j] > 0 else dtype(0)
            a[j] = g
            d_b1_partial[j] += g
    return loss, non_finite


@njit(**SERIAL)
def _row_partials(n_rows, W2):
    """Zeroed per-block partials (d_w2^T, d_b1, d_b2), per-block losses and flags, and W2^T."""
    n_blocks = _n_blocks(n_rows)
    h, k = W2.shape
    return (
        np.zeros((n_blocks, k, h), W2.dtype),
        np.zeros((n_blocks, h), W2.dtype),
        np.zeros((n_blocks, k), W2.dtype),
        np.zeros(n_blocks),
        np.zeros(n_blocks, np.bool_),
        np.ascontiguousarray(W2.T),
    )


@njit(**SERIAL)
def _reduce_row_partials(d_w2T_partial, d_b1_partial, d_b2_partial, losses, flags, d_w2, d_b1, d_b2):
    """Add the block partials in block order into d_w2, d_b1, d_b2; return (loss sum, any flag)."""
    _sum_blocks_into(d_w2T_partial, d_w2.T)
    _sum_blocks_into(d_b1_partial, d_b1)
    _sum_blocks_into(d_b2_partial, d_b2)
    loss = 0.0
    for blk in range(losses.shape[0]):
        loss += losses[blk]
    return loss, flags.any()


@njit(**SERIAL)
def _batch_rows(hidden, y, b1, W2, b2, inv_n, d_w2, d_b1, d_b2):
    """Run `_rows_forward_backward` over fixed row blocks, one after another.

    Writes d_w2 (without weight decay), d_b1 and d_b2; returns (sum of cross-entropies,
    True if anything was NaN or inf).
    """
    n = hidden.shape[0]
    d_w2T_partial, d_b1_partial, d_b2_partial, losses, flags, W2T = _row_partials(n, W2)
    for blk in range(losses.shape[0]):
        start = blk * ROW_BLOCK
        losses[blk], flags[blk] = _rows_forward_backward(
            hidden, y, b1, W2, W2T, b2, inv_n, start, min(start + ROW_BLOCK, n),
            d_w2T_partial[blk], d_b1_partial[blk], d_b2_partial[blk])
    return _reduce_row_partials(d_w2T_partial, d_b1_partial, d_b2_partial, losses, flags, d_w2, d_b1, d_b2)


@njit(**PARALLEL)
def _batch_rows_parallel(hidden, y, b1, W2, b2, inv_n, d_w2, d_b1, d_b2):
    """`_batch_rows` with the blocks spread over Numba's threads; the same bits."""
    n = hidden.shape[0]
    d_w2T_partial, d_b1_partial, d_b2_partial, losses, flags, W2T = _row_partials(n, W2)
    for blk in prange(losses.shape[0]):
        start = blk * ROW_BLOCK
        losses[blk], flags[blk] = _rows_forward_backward(
            hidden, y, b1, W2, W2T, b2, inv_n, start, min(start + ROW_BLOCK, n),
            d_w2T_partial[blk], d_b1_partial[blk], d_b2_partial[blk])
    return _reduce_row_partials(d_w2T_partial, d_b1_partial, d_b2_partial, losses, flags, d_w2, d_b1, d_b2)


# ---------------------------------------------------------------- weight decay


@njit(**SERIAL)
def _decay_into(w, scale, out):
    """out = scale * w for C-contiguous arrays; returns sum(w ** 2), accumulated in float64.

    One pass: the memory traffic, not the arithmetic, is the cost (a W1 of 784 x 256).
    """
    scale = w.dtype.type(scale)
    flat, flat_out = w.ravel(), out.ravel()
    total = 0.0
    for i in range(flat.size):
        v = flat[i]
        flat_out[i] = scale * v
        total += np.float64(v) * v
    return total


@njit(**SERIAL)
def _sum_blocks_into(partial, out):
    """out = partial[0] + partial[1] + ..., added in block order."""
    out[...] = 0
    for blk in range(partial.shape[0]):
        out += partial[blk]


@njit(**SERIAL)
def _all_finite(a):
    for v in a.ravel():
        if v - v != 0:
            return False
    return True


# ---------------------------------------------------------------- one batch


@njit(**SERIAL)
def _forward_backward(X, y, W1, b1, W2, b2, c, parallel, d_w1, d_b1, d_w2, d_b2, hidden):
    """Cost and gradients of the two-layer network on one batch, into preallocated arrays.

    X (n, d), y (n,) int64, W1 (d, h), b1 (h,), W2 (h, k), b2 (k,), all C-contiguous and
    of one float dtype; hidden (n, h) is a work buffer. Two products go to BLAS
    (X W1 and X^T dZ1); the rest is one fused pass over the rows, `_batch_rows` or,
    if `parallel`, `_batch_rows_parallel`.
    Returns (cost, status): status is OK or names the first stage that met NaN or inf
    (the outputs are then meaningless).
    """
    n = X.shape[0]
    # The row pass skips the ReLU's zeros, so NaN in W2 would not always reach the logits.
    if not (_all_finite(W2) and _all_finite(b1) and _all_finite(b2)):
        return np.nan, NON_FINITE
    _gemm(False, False, 1.0, X, W1, 0.0, hidden)
    if parallel:
        loss, non_finite = _batch_rows_parallel(hidden, y, b1, W2, b2, 1.0 / n, d_w2, d_b1, d_b2)
    else:
        loss, non_finite = _batch_rows(hidden, y, b1, W2, b2, 1.0 / n, d_w2, d_b1, d_b2)
    if non_finite:
        return np.nan, NON_FINITE
    squares = 0.0
    beta = 0.0
    if c > 0:  # weight decay: d_w1 starts at (c/n) W1 and the product adds onto it
        decay_w2 = np.empty_like(W2)
        squares = _decay_into(W1, c / n, d_w1) + _decay_into(W2, c / n, decay_w2)
        d_w2 += decay_w2
        beta = 1.0
    _gemm(True, False, 1.0, X, hidden, beta, d_w1)
    return loss / n + c / (2 * n) * squares, OK
