"""Numba kernels of the network, of any depth: the forward and backward passes over a batch
(`_gradients` for cost_grad, `_train_step` for training), the training epoch, and the
chunked forward pass for prediction.

The layers' products run over the whole batch, except around the output layer: from
the last hidden layer's ReLU to its gradient, the pass runs block by block
(`_block_forward_backward`), so a block of rows stays in cache while the three small
products with the k columns of the output layer run. For the hand-in's two layers that
leaves two whole-batch products, X W1 and X^T dZ1. All products go to BLAS (`_gemm`).
Reductions give each block its own partial and add the partials in block order, so the
result is the same whether the blocks run serially or in parallel, on any number of
threads.
"""

import numpy as np
from numba import njit, prange

from ._blas import _gemm
from ._config import PARALLEL, ROW_BLOCK, SERIAL
from ._numba_cache import make_race_free

# Status codes returned by the kernels.
OK = 0
NON_FINITE = 1  # a parameter, a pre-activation or a logit was NaN or inf


@njit(**SERIAL)
def _n_blocks(n_rows):
    return (n_rows + ROW_BLOCK - 1) // ROW_BLOCK


# ---------------------------------------------------------------- one block of rows


@njit(**SERIAL)
def _relu_rows(hidden, b_hidden):
    """hidden = relu(hidden + b_hidden) in place; True if a pre-activation was NaN or inf."""
    non_finite = False
    for i in range(hidden.shape[0]):
        row = hidden[i]
        for j in range(row.shape[0]):
            z = row[j] + b_hidden[j]
            non_finite |= z - z != 0  # z - z is NaN exactly when z is NaN or inf
            row[j] = z if z > 0 else 0
    return non_finite


@njit(**SERIAL)
def _softmax_xent_rows(logits, b_out, y, inv_n, d_b_out_partial):
    """logits (before b_out) -> G = (softmax - onehot) * inv_n in place; adds G's rows into d_b_out_partial.

    Returns (sum of the rows' cross-entropies in float64, True if a logit was NaN or inf).
    The log-softmax subtracts the row maximum, so it is stable for any finite logits.
    """
    dtype = logits.dtype.type
    k = logits.shape[1]
    loss = 0.0
    non_finite = False
    for i in range(logits.shape[0]):
        row = logits[i]
        top = row[0] + b_out[0]
        for c in range(k):
            z = row[c] + b_out[c]
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
            d_b_out_partial[c] += row[c]
    return loss, non_finite


@njit(**SERIAL)
def _relu_grad_rows(d_hidden, hidden, d_b_hidden_partial):
    """hidden = d_hidden * [hidden > 0] in place (the ReLU derivative, 0 at the kink).

    Adds the result's rows into d_b_hidden_partial.
    """
    for i in range(hidden.shape[0]):
        row, d_row = hidden[i], d_hidden[i]
        for j in range(row.shape[0]):
            g = d_row[j] if row[j] > 0 else 0
            row[j] = g
            d_b_hidden_partial[j] += g


@njit(**SERIAL)
def _block_forward_backward(hidden, y, b_hidden, W_out, b_out, inv_n,
                            d_w_out_partial, d_b_hidden_partial, d_b_out_partial, logits, d_hidden):
    """From the last hidden layer's pre-activation to its gradient, for one block of rows.

    On entry hidden (rows, h) holds the block's Z - b_hidden of the last hidden layer
    (X W1 for two layers); on exit it holds dZ = (G W_out^T) * [Z > 0], with
    G = (softmax - onehot) / n. The block's rows stay in cache throughout; the three
    products with the k columns of W_out go to BLAS. Writes the block's A^T G into
    d_w_out_partial and adds its bias gradients into d_b_hidden_partial and d_b_out_partial.
    Returns (sum of the rows' cross-entropies in float64, True if a pre-activation or a
    logit was NaN or inf). logits (>= rows, k) and d_hidden (>= rows, h) are work buffers.
    """
    rows = hidden.shape[0]
    logits, d_hidden = logits[:rows], d_hidden[:rows]
    non_finite = _relu_rows(hidden, b_hidden)
    _gemm(False, False, 1.0, hidden, W_out, 0.0, logits)
    loss, bad_logits = _softmax_xent_rows(logits, b_out, y, inv_n, d_b_out_partial)
    _gemm(True, False, 1.0, hidden, logits, 0.0, d_w_out_partial)
    _gemm(False, True, 1.0, logits, W_out, 0.0, d_hidden)
    _relu_grad_rows(d_hidden, hidden, d_b_hidden_partial)
    return loss, non_finite or bad_logits


# ---------------------------------------------------------------- all blocks of a batch


@njit(**SERIAL)
def _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out):
    """Add the first n_blocks partials in block order into the gradients; return (loss sum, any flag)."""
    d_w_out_partial, d_b_hidden_partial, d_b_out_partial, losses, flags = workspace[:5]
    _sum_blocks_into(d_w_out_partial[:n_blocks], d_w_out)
    _sum_blocks_into(d_b_hidden_partial[:n_blocks], d_b_hidden)
    _sum_blocks_into(d_b_out_partial[:n_blocks], d_b_out)
    loss = 0.0
    any_flag = False
    for blk in range(n_blocks):
        loss += losses[blk]
        any_flag |= flags[blk]
    return loss, any_flag


@njit(**SERIAL)
def _batch_rows(hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out, d_b_hidden, d_b_out, workspace):
    """Run `_block_forward_backward` over fixed row blocks, one after another.

    Writes d_w_out (without weight decay), d_b_hidden and d_b_out; returns (sum of
    cross-entropies, True if anything was NaN or inf). workspace comes from
    `fastnn.cost.block_workspace` for at least as many rows as hidden has; nothing is
    allocated here.
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    d_w_out_partial, d_b_hidden_partial, d_b_out_partial, losses, flags, logits, d_hidden = workspace
    d_b_hidden_partial[:n_blocks] = 0
    d_b_out_partial[:n_blocks] = 0
    for blk in range(n_blocks):
        rows = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _block_forward_backward(
            hidden[rows], y[rows], b_hidden, W_out, b_out, inv_n,
            d_w_out_partial[blk], d_b_hidden_partial[blk], d_b_out_partial[blk], logits, d_hidden)
    return _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out)


@njit(**SERIAL)
def _block_with_own_buffers(hidden, y, b_hidden, W_out, b_out, inv_n,
                            d_w_out_partial, d_b_hidden_partial, d_b_out_partial):
    """`_block_forward_backward` with work buffers of its own.

    Allocated here, not in the prange body: Numba hoists an np.empty it sees there out of
    the loop, and the threads would then share one buffer.
    """
    rows, h = hidden.shape
    return _block_forward_backward(
        hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out_partial, d_b_hidden_partial, d_b_out_partial,
        np.empty((rows, W_out.shape[1]), hidden.dtype), np.empty((rows, h), hidden.dtype))


@njit(**PARALLEL)
def _batch_rows_parallel(hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out, d_b_hidden, d_b_out):
    """`_batch_rows` with the blocks spread over Numba's threads; the same bits.

    Allocates its own partials, and each block its own work buffers
    (`_block_with_own_buffers`).
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    h, k = W_out.shape
    d_w_out_partial = np.empty((n_blocks, h, k), W_out.dtype)
    d_b_hidden_partial = np.zeros((n_blocks, h), W_out.dtype)
    d_b_out_partial = np.zeros((n_blocks, k), W_out.dtype)
    losses = np.empty(n_blocks)
    flags = np.empty(n_blocks, np.bool_)
    for blk in prange(n_blocks):
        rows = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _block_with_own_buffers(
            hidden[rows], y[rows], b_hidden, W_out, b_out, inv_n,
            d_w_out_partial[blk], d_b_hidden_partial[blk], d_b_out_partial[blk])
    workspace = (d_w_out_partial, d_b_hidden_partial, d_b_out_partial, losses, flags)
    return _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out)


# ---------------------------------------------------------------- weight decay


@njit(**SERIAL)
def _decay_into(w, scale, out, accumulate):
    """out = scale * w (or out += scale * w if accumulate), C-contiguous; returns sum(w ** 2) in float64.

    One pass: the memory traffic, not the arithmetic, is the cost (a W1 of 784 x 256).
    """
    scale = w.dtype.type(scale)
    flat, flat_out = w.ravel(), out.ravel()
    total = 0.0
    if accumulate:  # two loops, not a branch inside one: each must vectorise
        for i in range(flat.size):
            v = flat[i]
            flat_out[i] += scale * v
            total += np.float64(v) * v
    else:
        for i in range(flat.size):
            v = flat[i]
            flat_out[i] = scale * v
            total += np.float64(v) * v
    return total


@njit(**SERIAL)
def _sum_blocks_into(partial, out):
    """out = partial[0] + partial[1] + ..., added in block order (C-contiguous arrays).

    Explicit loops over flat views: an array expression here compiled for seconds.
    """
    flat, flat_out = partial.ravel(), out.ravel()
    size = flat_out.size
    for i in range(size):
        flat_out[i] = 0
    for blk in range(partial.shape[0]):
        base = blk * size
        for i in range(size):
            flat_out[i] += flat[base + i]


# ---------------------------------------------------------------- optimizer steps

# What `_backward` does with a gradient. GRADIENT keeps it, weight decay included, in the
# gradient arrays (cost_grad); the others update the parameters (fastnn.optim maps
# names to them).
GRADIENT, SGD, MOMENTUM, NESTEROV, ADAM = -1, 0, 1, 2, 3


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
    one = dtype(1)  # 1 - beta1 with a Python 1 would promote float32 work to float64
    if optimizer == ADAM:
        lr = lr * np.sqrt(1 - hyper[2] ** step) / (1 - hyper[1] ** step)
    lr, decay = dtype(lr), dtype(decay)
    w, grad = w.ravel(), grad.ravel()
    velocity, second = velocity.ravel(), second.ravel()
    # One loop per optimizer, with no branch inside, so that each loop vectorises.
    if optimizer == SGD:
        for i in range(w.size):
            w[i] -= lr * (grad[i] + decay * w[i])
    elif optimizer == MOMENTUM:
        for i in range(w.size):
            v = momentum * velocity[i] - lr * (grad[i] + decay * w[i])
            velocity[i] = v
            w[i] += v
    elif optimizer == NESTEROV:
        for i in range(w.size):
            g = grad[i] + decay * w[i]
            v = momentum * velocity[i] - lr * g
            velocity[i] = v
            w[i] += momentum * v - lr * g
    else:
        for i in range(w.size):
            g = grad[i] + decay * w[i]
            m = beta1 * velocity[i] + (one - beta1) * g
            s = beta2 * second[i] + (one - beta2) * g * g
            velocity[i] = m
            second[i] = s
            w[i] -= lr * m / (np.sqrt(s) + eps)


@njit(**SERIAL)
def _weight_grad(A, dZ, w, grad, decay, lr, optimizer, hyper, velocity, second, step):
    """The gradient A^T dZ of a weight matrix w, kept (GRADIENT) or applied; returns sum(w ** 2) for GRADIENT.

    GRADIENT: grad = A^T dZ + decay w, the decay written first and the product added
    through beta = 1. SGD: the update is the product itself, w <- (1 - lr decay) w -
    lr A^T dZ, with no gradient array. Other optimizers: grad = A^T dZ, then `_update`.
    """
    if optimizer == SGD:
        _gemm(True, False, -lr, A, dZ, 1.0 - lr * decay, w)
        return 0.0
    squares = 0.0
    beta = 0.0
    if optimizer == GRADIENT and decay > 0:
        squares = _decay_into(w, decay, grad, False)
        beta = 1.0
    _gemm(True, False, 1.0, A, dZ, beta, grad)
    if optimizer != GRADIENT:
        _update(w, grad, decay, lr, optimizer, hyper, velocity, second, step)
    return squares


# ---------------------------------------------------------------- one batch, any depth


@njit(**SERIAL)
def _dense_relu(A, W, b, out):
    """out = relu(A W + b); True if a pre-activation was NaN or inf."""
    _gemm(False, False, 1.0, A, W, 0.0, out)
    return _relu_rows(out, b)


@njit(**SERIAL)
def _rows_view(flat, rows, columns):
    """The first rows x columns entries of a 1-D work buffer, as a C-contiguous matrix."""
    return flat[: rows * columns].reshape((rows, columns))


@njit(**SERIAL)
def _forward(X, W, b, hidden):
    """Whole-batch forward pass into the hidden buffers, up to the last hidden layer.

    hidden[l] gets relu(A W + b) for every hidden layer but the last, which gets only
    its product A W: its bias and ReLU come in the block pass. Returns True if a
    pre-activation was NaN or inf.
    """
    n, last = X.shape[0], len(W) - 1
    non_finite = False
    for l in range(last):
        A = X if l == 0 else hidden[l - 1][:n]
        if l < last - 1:
            non_finite |= _dense_relu(A, W[l], b[l], hidden[l][:n])
        else:
            _gemm(False, False, 1.0, A, W[l], 0.0, hidden[l][:n])
    return non_finite


@njit(**SERIAL)
def _backward(X, W, b, c, optimizer, lr, hyper, state, step, buffers):
    """After the block pass: every layer's gradient, kept or applied at once.

    On entry d_W[L-1] and the last two bias gradients hold the block pass's sums, and
    the last hidden buffer holds its dZ. The other layers' gradients follow as
    whole-batch products, layer by layer. Each is then kept (optimizer GRADIENT: d_W
    and d_b hold it, weight decay c/n W included) or applied by the optimizer (state =
    (v_W, s_W, v_b, s_b), see `fastnn.optim`). Returns sum_l ||W_l||^2 for GRADIENT,
    else 0.
    """
    d_W, d_b, hidden, d_hidden, _ = buffers
    v_W, s_W, v_b, s_b = state
    n, last = X.shape[0], len(W) - 1
    decay = c / n
    squares = 0.0
    if optimizer == GRADIENT:
        squares += _decay_into(W[last], decay, d_W[last], True)
    else:
        _update(W[last], d_W[last], decay, lr, optimizer, hyper, v_W[last], s_W[last], step)
    for l in range(last - 1, -1, -1):  # hidden[l] holds dZ of layer l + 1
        dZ = hidden[l][:n]
        if l == 0:
            squares += _weight_grad(X, dZ, W[0], d_W[0], decay, lr, optimizer, hyper, v_W[0], s_W[0], step)
            break
        dA = _rows_view(d_hidden, n, W[l].shape[0])
        _gemm(False, True, 1.0, dZ, W[l], 0.0, dA)  # before W[l] changes
        squares += _weight_grad(hidden[l - 1][:n], dZ, W[l], d_W[l], decay, lr, optimizer, hyper,
                                v_W[l], s_W[l], step)
        d_b[l - 1][:] = 0
        _relu_grad_rows(dA, hidden[l - 1][:n], d_b[l - 1])
    if optimizer != GRADIENT:
        for l in range(last + 1):
            _update(b[l], d_b[l], 0.0, lr, optimizer, hyper, v_b[l], s_b[l], step)
    return squares


@njit(**SERIAL)
def _gradients(X, y, W, b, c, parallel, optimizer, hyper, state, buffers):
    """Cost and gradients of an L-layer network on one batch (cost_grad), into buffers.

    X (n, d), y (n,) int64; W and b are tuples of the L weight matrices and 1-D biases,
    all C-contiguous and of one float dtype. buffers (`fastnn.cost.step_buffers`, for n
    rows): gradients d_W, d_b; one (rows, h_l) buffer per hidden layer; a flat scratch;
    the workspace of `_batch_rows`. `_forward`, then the block pass around the output
    layer (`_batch_rows`, or `_batch_rows_parallel` if `parallel`), then `_backward`
    with optimizer GRADIENT (passed in, as are the unused hyper and state, so that
    `_backward` has one signature for training and cost_grad).

    Returns (mean cross-entropy + c/(2n) sum ||W_l||^2, True if a parameter, a
    pre-activation or a logit was NaN or inf).
    """
    d_W, d_b, hidden, _, workspace = buffers
    n, last = X.shape[0], len(W) - 1
    non_finite = _forward(X, W, b, hidden)
    head = hidden[last - 1][:n]
    if parallel:
        loss, bad = _batch_rows_parallel(
            head, y, b[last - 1], W[last], b[last], 1.0 / n, d_W[last], d_b[last - 1], d_b[last])
    else:
        loss, bad = _batch_rows(
            head, y, b[last - 1], W[last], b[last], 1.0 / n, d_W[last], d_b[last - 1], d_b[last], workspace)
    if non_finite or bad:
        return np.nan, True
    squares = _backward(X, W, b, c, optimizer, 0.0, hyper, state, 0, buffers)
    return loss / n + c / (2 * n) * squares, False


@njit(**SERIAL)
def _train_step(X, y, W, b, c, optimizer, lr, hyper, state, step, buffers):
    """Forward, backward and the optimizer's update on one batch, in place (serial block pass).

    Returns (mean cross-entropy before the update, True if a parameter, a pre-activation
    or a logit was NaN or inf; nothing is updated then).
    """
    d_W, d_b, hidden, _, workspace = buffers
    n, last = X.shape[0], len(W) - 1
    non_finite = _forward(X, W, b, hidden)
    loss, bad = _batch_rows(hidden[last - 1][:n], y, b[last - 1], W[last], b[last], 1.0 / n,
                            d_W[last], d_b[last - 1], d_b[last], workspace)
    if non_finite or bad:
        return np.nan, True
    _backward(X, W, b, c, optimizer, lr, hyper, state, step, buffers)
    return loss / n, False


# ---------------------------------------------------------------- training


@njit(**SERIAL)
def _train_epoch(X, y, order, batch_size, W, b, c, lr, optimizer, hyper, state, step,
                 X_batch, y_batch, buffers):
    """One epoch of mini-batch training over the rows of X in `order`, in place.

    Each batch is gathered into X_batch/y_batch (reused; X itself is never copied); the
    last batch may be smaller. Weight decay c/n uses each batch's own n. Returns
    (optimizer steps taken so far, status, the batches' mean cross-entropies averaged
    over the epoch's rows): status is NON_FINITE if a batch met NaN or inf, and
    training should stop.
    """
    n = order.shape[0]
    loss_sum = 0.0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        X_b, y_b = X_batch[:m], y_batch[:m]
        for i in range(m):
            row = order[start + i]
            y_b[i] = y[row]
            for j in range(X.shape[1]):  # not X_b[i] = X[row]: its shape check compiles
                X_b[i, j] = X[row, j]     # Numba's string formatting (3 s on a cold cache)
        step += 1
        loss, non_finite = _train_step(X_b, y_b, W, b, c, optimizer, lr, hyper, state, step, buffers)
        if non_finite:
            return step, NON_FINITE, np.nan
        loss_sum += loss * m
    return step, OK, loss_sum / n


# ---------------------------------------------------------------- prediction


@njit(**SERIAL)
def _logits_into(X, W, b, chunk, out):
    """out = the logits of X under layers W, b (tuples), chunk rows at a time (memory: 2 chunk x max h).

    Returns True if a pre-activation or a logit was NaN or inf.
    """
    n, last = X.shape[0], len(W) - 1
    widest = 0
    for l in range(last):
        widest = max(widest, W[l].shape[1])
    rows_max = min(n, chunk)
    buffers = (np.empty(rows_max * widest, X.dtype), np.empty(rows_max * widest, X.dtype))
    non_finite = False
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        A = X[start:stop]
        for l in range(last):
            Z = _rows_view(buffers[l % 2], stop - start, W[l].shape[1])
            non_finite |= _dense_relu(A, W[l], b[l], Z)
            A = Z
        logits = out[start:stop]
        _gemm(False, False, 1.0, A, W[last], 0.0, logits)
        for i in range(logits.shape[0]):
            for c in range(logits.shape[1]):
                logits[i, c] += b[last][c]
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


make_race_free(globals())  # safe on-disk cache when processes compile at once
