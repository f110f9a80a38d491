"""Numba kernels of the two-layer network: the forward-backward pass over a batch, the
training epoch built on it, and the chunked forward pass for prediction.

The two products with the input dimension d (X W1 and X^T dZ1) run over the whole
batch. Everything between them runs block by block (`_block_forward_backward`): a block
of rows stays in cache from its ReLU to its gradient, the small products with the k
columns of W2 included. All matrix products go to BLAS (`_gemm`). Reductions give each
block its own partial and add the partials in block order, so the result is the same
whether the blocks run serially or in parallel, on any number of threads.
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


# ---------------------------------------------------------------- one block of rows


@njit(**SERIAL)
def _relu_rows(hidden, b1):
    """hidden = relu(hidden + b1) in place; True if a pre-activation was NaN or inf."""
    non_finite = False
    for i in range(hidden.shape[0]):
        row = hidden[i]
        for j in range(row.shape[0]):
            z = row[j] + b1[j]
            non_finite |= z - z != 0  # z - z is NaN exactly when z is NaN or inf
            row[j] = z if z > 0 else 0
    return non_finite


@njit(**SERIAL)
def _softmax_xent_rows(logits, b2, y, inv_n, d_b2_partial):
    """logits (before b2) -> G = (softmax - onehot) * inv_n in place, adding G's rows into d_b2_partial.

    Returns (sum of the rows' cross-entropies in float64, True if a logit was NaN or inf).
    The log-softmax subtracts the row maximum, so it is stable for any finite logits.
    """
    dtype = logits.dtype.type
    k = logits.shape[1]
    loss = 0.0
    non_finite = False
    for i in range(logits.shape[0]):
        row = logits[i]
        top = row[0] + b2[0]
        for c in range(k):
            z = row[c] + b2[c]
            non_finite |= z - z != 0
            top = max(top, z)
            row[c] = z
        shifted_target = row[y[i]] - top
        total = dtype(0)
        for c in range(k):
            row[c] = np.exp(row[c] - top)
            total += row[c]
        log_total = np.log(total)
        loss += np.float64(log_total) - shifted_target
        scale = dtype(inv_n) / total
        for c in range(k):
            row[c] *= scale
        # At the target p - 1 = expm1(log p), which keeps its digits when p is close to 1.
        row[y[i]] = np.expm1(shifted_target - log_total) * dtype(inv_n)
        for c in range(k):
            d_b2_partial[c] += row[c]
    return loss, non_finite


@njit(**SERIAL)
def _relu_grad_rows(d_hidden, hidden, d_b1_partial):
    """hidden = d_hidden * [hidden > 0] in place (the ReLU derivative, 0 at the kink), adding its rows into d_b1_partial."""
    for i in range(hidden.shape[0]):
        row, d_row = hidden[i], d_hidden[i]
        for j in range(row.shape[0]):
            g = d_row[j] if row[j] > 0 else 0
            row[j] = g
            d_b1_partial[j] += g


@njit(**SERIAL)
def _block_forward_backward(hidden, y, b1, W2, b2, inv_n, d_w2_partial, d_b1_partial, d_b2_partial,
                            logits, d_hidden):
    """Everything between the two large products, for one block of rows.

    On entry hidden (rows, h) holds X W1 for the block; on exit it holds
    dZ1 = (G W2^T) * [Z1 > 0], with G = (softmax - onehot) / n. The block's rows stay in
    cache throughout; the three products with the k columns of W2 go to BLAS. Writes the
    block's d_w2 = A1^T G into d_w2_partial and adds its d_b1, d_b2 into the partials.
    Returns (sum of the rows' cross-entropies in float64, True if a pre-activation or a
    logit was NaN or inf). logits (>= rows, k) and d_hidden (>= rows, h) are work buffers.
    """
    rows = hidden.shape[0]
    logits, d_hidden = logits[:rows], d_hidden[:rows]
    non_finite = _relu_rows(hidden, b1)
    _gemm(False, False, 1.0, hidden, W2, 0.0, logits)
    loss, bad_logits = _softmax_xent_rows(logits, b2, y, inv_n, d_b2_partial)
    _gemm(True, False, 1.0, hidden, logits, 0.0, d_w2_partial)
    _gemm(False, True, 1.0, logits, W2, 0.0, d_hidden)
    _relu_grad_rows(d_hidden, hidden, d_b1_partial)
    return loss, non_finite or bad_logits


# ---------------------------------------------------------------- all blocks of a batch


@njit(**SERIAL)
def _block_workspace(n_rows, W2):
    """Work arrays for `_batch_rows` on up to n_rows rows, allocated once and reused.

    Per-block partials of d_w2, d_b1 and d_b2, per-block losses and flags, and one
    block's logits and d_hidden.
    """
    n_blocks = _n_blocks(n_rows)
    h, k = W2.shape
    return (
        np.empty((n_blocks, h, k), W2.dtype),
        np.empty((n_blocks, h), W2.dtype),
        np.empty((n_blocks, k), W2.dtype),
        np.empty(n_blocks),
        np.empty(n_blocks, np.bool_),
        np.empty((ROW_BLOCK, k), W2.dtype),
        np.empty((ROW_BLOCK, h), W2.dtype),
    )


@njit(**SERIAL)
def _reduce_block_partials(n_blocks, workspace, d_w2, d_b1, d_b2):
    """Add the first n_blocks partials in block order into d_w2, d_b1, d_b2; return (loss sum, any flag)."""
    d_w2_partial, d_b1_partial, d_b2_partial, losses, flags = workspace[:5]
    _sum_blocks_into(d_w2_partial[:n_blocks], d_w2)
    _sum_blocks_into(d_b1_partial[:n_blocks], d_b1)
    _sum_blocks_into(d_b2_partial[:n_blocks], d_b2)
    loss = 0.0
    for blk in range(n_blocks):
        loss += losses[blk]
    return loss, flags[:n_blocks].any()


@njit(**SERIAL)
def _batch_rows(hidden, y, b1, W2, b2, inv_n, d_w2, d_b1, d_b2, workspace):
    """Run `_block_forward_backward` over fixed row blocks, one after another.

    Writes d_w2 (without weight decay), d_b1 and d_b2; returns (sum of cross-entropies,
    True if anything was NaN or inf). workspace comes from `_block_workspace` for at
    least as many rows as hidden has; nothing is allocated here.
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    d_w2_partial, d_b1_partial, d_b2_partial, losses, flags, logits, d_hidden = workspace
    d_b1_partial[:n_blocks] = 0
    d_b2_partial[:n_blocks] = 0
    for blk in range(n_blocks):
        rows = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _block_forward_backward(
            hidden[rows], y[rows], b1, W2, b2, inv_n, d_w2_partial[blk], d_b1_partial[blk], d_b2_partial[blk],
            logits, d_hidden)
    return _reduce_block_partials(n_blocks, workspace, d_w2, d_b1, d_b2)


@njit(**SERIAL)
def _block_with_own_buffers(hidden, y, b1, W2, b2, inv_n, d_w2_partial, d_b1_partial, d_b2_partial):
    """`_block_forward_backward` with work buffers of its own.

    Allocated here, not in the prange body: Numba hoists an np.empty it sees there out of
    the loop, and the threads would then share one buffer.
    """
    rows, h = hidden.shape
    return _block_forward_backward(
        hidden, y, b1, W2, b2, inv_n, d_w2_partial, d_b1_partial, d_b2_partial,
        np.empty((rows, W2.shape[1]), hidden.dtype), np.empty((rows, h), hidden.dtype))


@njit(**PARALLEL)
def _batch_rows_parallel(hidden, y, b1, W2, b2, inv_n, d_w2, d_b1, d_b2):
    """`_batch_rows` with the blocks spread over Numba's threads; the same bits.

    Allocates its own partials, and each block its own work buffers
    (`_block_with_own_buffers`).
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    h, k = W2.shape
    d_w2_partial = np.empty((n_blocks, h, k), W2.dtype)
    d_b1_partial = np.zeros((n_blocks, h), W2.dtype)
    d_b2_partial = np.zeros((n_blocks, k), W2.dtype)
    losses = np.empty(n_blocks)
    flags = np.empty(n_blocks, np.bool_)
    for blk in prange(n_blocks):
        rows = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _block_with_own_buffers(
            hidden[rows], y[rows], b1, W2, b2, inv_n, d_w2_partial[blk], d_b1_partial[blk], d_b2_partial[blk])
    workspace = (d_w2_partial, d_b1_partial, d_b2_partial, losses, flags)
    return _reduce_block_partials(n_blocks, workspace, d_w2, d_b1, d_b2)


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
    _gemm(False, False, 1.0, X, W1, 0.0, hidden)
    if parallel:
        loss, non_finite = _batch_rows_parallel(hidden, y, b1, W2, b2, 1.0 / n, d_w2, d_b1, d_b2)
    else:
        loss, non_finite = _batch_rows(hidden, y, b1, W2, b2, 1.0 / n, d_w2, d_b1, d_b2, _block_workspace(n, W2))
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


# ---------------------------------------------------------------- training

# Optimizer codes (fastnn.optim maps names to these).
SGD, MOMENTUM, NESTEROV, ADAM = 0, 1, 2, 3


@njit(**SERIAL)
def _update(w, grad, decay, lr, optimizer, hyper, velocity, second, step):
    """One optimizer step on w, in place, along g = grad + decay * w.

    sgd: w -= lr g. momentum: v = mu v - lr g; w += v. nesterov: v = mu v - lr g;
    w += mu v - lr g. adam: m = b1 m + (1 - b1) g, s = b2 s + (1 - b2) g^2,
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s) + eps). hyper = (mu, b1, b2, eps);
    velocity holds v or m, second holds s (both unused by sgd); step is t >= 1.
    """
    dtype = w.dtype.type
    momentum, beta1, beta2, eps = dtype(hyper[0]), dtype(hyper[1]), dtype(hyper[2]), dtype(hyper[3])
    if optimizer == ADAM:
        lr = lr * np.sqrt(1 - hyper[2] ** step) / (1 - hyper[1] ** step)
    lr, decay = dtype(lr), dtype(decay)
    w, grad = w.ravel(), grad.ravel()
    if optimizer == SGD:
        for i in range(w.size):
            w[i] -= lr * (grad[i] + decay * w[i])
        return
    velocity, second = velocity.ravel(), second.ravel()
    for i in range(w.size):
        g = grad[i] + decay * w[i]
        if optimizer == MOMENTUM:
            velocity[i] = momentum * velocity[i] - lr * g
            w[i] += velocity[i]
        elif optimizer == NESTEROV:
            velocity[i] = momentum * velocity[i] - lr * g
            w[i] += momentum * velocity[i] - lr * g
        else:
            velocity[i] = beta1 * velocity[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g * g
            w[i] -= lr * velocity[i] / (np.sqrt(second[i]) + eps)


@njit(**SERIAL)
def _train_step(X, y, W1, b1, W2, b2, c, lr, optimizer, hyper, state, step, buffers):
    """Forward, backward and update on one batch, in place; returns (mean loss, non-finite flag).

    Weight decay c/n is folded into the update; with plain SGD the W1 update is the
    product itself: W1 <- (1 - lr c/n) W1 - lr X^T dZ1, with no gradient array.
    """
    hidden, d_w1, d_w2, d_b1, d_b2, workspace = buffers
    n = X.shape[0]
    hidden = hidden[:n]
    _gemm(False, False, 1.0, X, W1, 0.0, hidden)
    loss, non_finite = _batch_rows(hidden, y, b1, W2, b2, 1.0 / n, d_w2, d_b1, d_b2, workspace)
    if non_finite:
        return np.nan, True
    decay = c / n
    v_w1, s_w1, v_b1, s_b1, v_w2, s_w2, v_b2, s_b2 = state
    _update(W2, d_w2, decay, lr, optimizer, hyper, v_w2, s_w2, step)
    _update(b1, d_b1, 0.0, lr, optimizer, hyper, v_b1, s_b1, step)
    _update(b2, d_b2, 0.0, lr, optimizer, hyper, v_b2, s_b2, step)
    if optimizer == SGD:
        _gemm(True, False, -lr, X, hidden, 1.0 - lr * decay, W1)
    else:
        _gemm(True, False, 1.0, X, hidden, 0.0, d_w1)
        _update(W1, d_w1, decay, lr, optimizer, hyper, v_w1, s_w1, step)
    return loss / n, False


@njit(**SERIAL)
def _train_epoch(X, y, order, batch_size, W1, b1, W2, b2, c, lr, optimizer, hyper, state, step,
                 X_batch, y_batch, buffers):
    """One epoch of mini-batch training over the rows of X in `order`, in place.

    Each batch is gathered into X_batch/y_batch (reused; X itself is never copied); the
    last batch may be smaller. Returns (optimizer steps taken so far, status): status is
    NON_FINITE if a batch met NaN or inf, and training should stop.
    """
    n = order.shape[0]
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        X_b, y_b = X_batch[:m], y_batch[:m]
        for i in range(m):
            X_b[i] = X[order[start + i]]
            y_b[i] = y[order[start + i]]
        step += 1
        _, non_finite = _train_step(X_b, y_b, W1, b1, W2, b2, c, lr, optimizer, hyper, state, step, buffers)
        if non_finite:
            return step, NON_FINITE
    return step, OK


# ---------------------------------------------------------------- prediction


@njit(**SERIAL)
def _logits_into(X, W1, b1, W2, b2, chunk, out):
    """out = relu(X W1 + b1) W2 + b2, chunk rows at a time (memory: chunk x h).

    Returns True if a pre-activation or a logit was NaN or inf.
    """
    n, h = X.shape[0], W1.shape[1]
    hidden = np.empty((min(n, chunk), h), X.dtype)
    non_finite = False
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        part = hidden[: stop - start]
        _gemm(False, False, 1.0, X[start:stop], W1, 0.0, part)
        non_finite |= _relu_rows(part, b1)
        logits = out[start:stop]
        _gemm(False, False, 1.0, part, W2, 0.0, logits)
        for i in range(logits.shape[0]):
            for c in range(logits.shape[1]):
                logits[i, c] += b2[c]
                non_finite |= logits[i, c] - logits[i, c] != 0
    return non_finite


@njit(**SERIAL)
def _loss_and_accuracy(logits, y):
    """Mean cross-entropy (float64, stable log-softmax) and the fraction of rows whose argmax is y."""
    n, k = logits.shape
    loss = 0.0
    hits = 0
    for i in range(n):
        row = logits[i]
        best = 0
        for c in range(1, k):
            if row[c] > row[best]:
                best = c
        top = np.float64(row[best])
        total = 0.0
        for c in range(k):
            total += np.exp(np.float64(row[c]) - top)
        loss += np.log(total) - (np.float64(row[y[i]]) - top)
        hits += best == y[i]
    return loss / n, hits / n
