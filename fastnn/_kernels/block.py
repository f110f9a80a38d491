"""The block pass around the output layer: from the last hidden layer's pre-activation to
its gradient, 64 rows at a time, so a block stays in cache while the three small products
with the k columns of the output layer run.

Twin: the output-layer part of `fastnn.reference.cost_grad`. Each block reduces into its
own partial buffers and the partials are added in block order, so the serial and the
parallel pass give the same bits, on any number of threads.
"""

import numpy as np
from numba import prange

from .._config import ROW_BLOCK
from .blas import _gemm
from .compile import kernel


@kernel
def _n_blocks(n_rows):
    return (n_rows + ROW_BLOCK - 1) // ROW_BLOCK


# ---------------------------------------------------------------- one block of rows


@kernel
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


@kernel
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


@kernel
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


@kernel
def _one_block(hidden, y, b_hidden, W_out, b_out, inv_n,
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


@kernel
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


@kernel
def _block_pass(hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out, d_b_hidden, d_b_out, workspace):
    """Run `_one_block` over fixed row blocks, one after another.

    Writes d_w_out (without weight decay), d_b_hidden and d_b_out; returns (sum of
    cross-entropies, True if anything was NaN or inf). workspace comes from
    `fastnn._engine.block_workspace` for at least as many rows as hidden has; nothing is
    allocated here.
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    d_w_out_partial, d_b_hidden_partial, d_b_out_partial, losses, flags, logits, d_hidden = workspace
    d_b_hidden_partial[:n_blocks] = 0
    d_b_out_partial[:n_blocks] = 0
    for blk in range(n_blocks):
        rows = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _one_block(
            hidden[rows], y[rows], b_hidden, W_out, b_out, inv_n,
            d_w_out_partial[blk], d_b_hidden_partial[blk], d_b_out_partial[blk], logits, d_hidden)
    return _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out)


@kernel
def _block_with_own_buffers(hidden, y, b_hidden, W_out, b_out, inv_n,
                            d_w_out_partial, d_b_hidden_partial, d_b_out_partial):
    """`_one_block` with work buffers of its own.

    Allocated here, not in the prange body: Numba hoists an np.empty it sees there out of
    the loop, and the threads would then share one buffer.
    """
    rows, h = hidden.shape
    return _one_block(
        hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out_partial, d_b_hidden_partial, d_b_out_partial,
        np.empty((rows, W_out.shape[1]), hidden.dtype), np.empty((rows, h), hidden.dtype))


@kernel(parallel=True)
def _block_pass_parallel(hidden, y, b_hidden, W_out, b_out, inv_n, d_w_out, d_b_hidden, d_b_out):
    """`_block_pass` with the blocks spread over Numba's threads; the same bits.

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


@kernel
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
