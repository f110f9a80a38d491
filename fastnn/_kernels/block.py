"""The block pass around the output layer: from the last hidden layer's pre-activation to
its gradient, 64 rows at a time, so a block stays in cache while the three small products
with the k columns of the output layer run. The hidden activation (`activations`) and the
output and its loss (`outputs`) are fused into it, chosen by runtime codes.

Twin: the output-layer part of `fastnn.reference.cost_grad`. Each block reduces into its
own partial buffers and the partials are added in block order, so the serial and the
parallel pass give the same bits, on any number of threads.
"""

import numpy as np
from numba import prange

from .._config import ROW_BLOCK
from .activations import _activate_rows, _backward_rows
from .blas import _gemm
from .compile import kernel
from .outputs import _output_rows
from .workspaces import BlockWorkspace


@kernel(inline=True)
def _n_blocks(n_rows):
    return (n_rows + ROW_BLOCK - 1) // ROW_BLOCK


# ---------------------------------------------------------------- one block of rows


@kernel(inline=True)
def _one_block(hidden, targets, row_weights, b_hidden, W_out, b_out, inv_norm, loss_range,
               d_w_out_partial, d_b_hidden_partial, d_b_out_partial, logits, d_hidden, activation, output):
    """From the last hidden layer's pre-activation to its gradient, for one block of rows.

    On entry hidden (rows, h) holds the block's Z - b_hidden of the last hidden layer
    (X W1 for two layers); on exit it holds dZ = (G W_out^T) * activation'(Z), with G
    the output's gradient (`outputs`: w (activation(Z_out) - target) inv_norm). The
    block's rows stay in cache throughout; the three products with the k columns of
    W_out go to BLAS. Writes the block's A^T G into d_w_out_partial and adds its bias
    gradients into d_b_hidden_partial and d_b_out_partial. targets and row_weights are
    the block's rows (row_weights empty: unweighted). Returns (the rows' weighted losses summed
    in float64, True if a pre-activation or a logit was NaN or inf). logits (>= rows, k)
    and d_hidden (>= rows, h) are work buffers.
    """
    rows = hidden.shape[0]
    logits, d_hidden = logits[:rows], d_hidden[:rows]
    non_finite = _activate_rows(hidden, b_hidden, activation)
    _gemm(False, False, 1.0, hidden, W_out, 0.0, logits)
    loss, bad_logits = _output_rows(logits, b_out, targets, row_weights, inv_norm, loss_range, d_b_out_partial, output)
    _gemm(True, False, 1.0, hidden, logits, 0.0, d_w_out_partial)
    _gemm(False, True, 1.0, logits, W_out, 0.0, d_hidden)
    _backward_rows(d_hidden, hidden, d_b_hidden_partial, activation)
    return loss, non_finite or bad_logits


# ---------------------------------------------------------------- all blocks of a batch


@kernel(inline=True)
def _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out):
    """Add the first n_blocks partials of a BlockWorkspace in block order into the gradients; return (loss sum,
    any flag)."""
    _sum_blocks_into(workspace.d_w_out_partial[:n_blocks].reshape((n_blocks, -1)), d_w_out.ravel())
    _sum_blocks_into(workspace.d_b_hidden_partial[:n_blocks], d_b_hidden)
    _sum_blocks_into(workspace.d_b_out_partial[:n_blocks], d_b_out)
    loss = 0.0
    any_flag = False
    for blk in range(n_blocks):
        loss += workspace.losses[blk]
        any_flag |= workspace.flags[blk]
    return loss, any_flag


@kernel
def _block_pass(hidden, targets, row_weights, b_hidden, W_out, b_out, inv_norm, loss_range, d_w_out, d_b_hidden,
                d_b_out, workspace, activation, output):
    """Run `_one_block` over fixed row blocks, one after another.

    targets and row_weights: the batch's (`workspaces.Rows`). Writes d_w_out (without
    weight decay), d_b_hidden and d_b_out; returns (the rows' weighted losses
    summed, True if anything was NaN or inf). workspace: a `BlockWorkspace` from
    `fastnn._buffers.block_workspace` for at least as many rows as hidden has; nothing is
    allocated here.
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    workspace.d_b_hidden_partial[:n_blocks] = 0
    workspace.d_b_out_partial[:n_blocks] = 0
    for blk in range(n_blocks):
        block = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        workspace.losses[blk], workspace.flags[blk] = _one_block(
            hidden[block], targets[block], row_weights[block], b_hidden, W_out, b_out, inv_norm,
            loss_range, workspace.d_w_out_partial[blk], workspace.d_b_hidden_partial[blk],
            workspace.d_b_out_partial[blk], workspace.logits, workspace.d_hidden, activation, output)
    return _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out)


@kernel
def _block_with_own_buffers(hidden, targets, row_weights, b_hidden, W_out, b_out, inv_norm, loss_range,
                            d_w_out_partial, d_b_hidden_partial, d_b_out_partial, activation, output):
    """`_one_block` with work buffers of its own.

    Allocated here, not in the prange body: Numba hoists an np.empty it sees there out of
    the loop, and the threads would then share one buffer.
    """
    rows, h = hidden.shape
    return _one_block(
        hidden, targets, row_weights, b_hidden, W_out, b_out, inv_norm, loss_range, d_w_out_partial, d_b_hidden_partial,
        d_b_out_partial, np.empty((rows, W_out.shape[1]), hidden.dtype), np.empty((rows, h), hidden.dtype), activation,
        output)


@kernel(parallel=True)
def _block_pass_parallel(hidden, targets, row_weights, b_hidden, W_out, b_out, inv_norm, loss_range, d_w_out,
                         d_b_hidden, d_b_out, activation, output):
    """`_block_pass` with the blocks spread over Numba's threads; the same bits.

    Allocates its own partials, and each block its own work buffers
    (`_block_with_own_buffers`).
    """
    n = hidden.shape[0]
    n_blocks = _n_blocks(n)
    h, k = W_out.shape
    dtype = W_out.dtype
    d_w_out_partial = np.empty((n_blocks, h, k), dtype)
    d_b_hidden_partial = np.zeros((n_blocks, h), dtype)
    d_b_out_partial = np.zeros((n_blocks, k), dtype)
    losses = np.empty(n_blocks)
    flags = np.empty(n_blocks, np.bool_)
    for blk in prange(n_blocks):
        block = slice(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n))
        losses[blk], flags[blk] = _block_with_own_buffers(
            hidden[block], targets[block], row_weights[block], b_hidden, W_out, b_out, inv_norm, loss_range,
            d_w_out_partial[blk], d_b_hidden_partial[blk], d_b_out_partial[blk], activation, output)
    # the blocks' own work buffers were theirs: none here
    workspace = BlockWorkspace(d_w_out_partial, d_b_hidden_partial, d_b_out_partial, losses, flags,
                               np.empty((0, k), dtype), np.empty((0, h), dtype))
    return _reduce_block_partials(n_blocks, workspace, d_w_out, d_b_hidden, d_b_out)


@kernel
def _sum_blocks_into(partial, out):
    """out = partial[0] + partial[1] + ..., added in block order: partial (blocks, size), out (size,), C-contiguous.

    Explicit loops: an array expression here compiled for seconds. Flat arrays only, so
    that one compilation serves the weight and the bias gradients.
    """
    size = out.size
    for i in range(size):
        out[i] = 0
    for blk in range(partial.shape[0]):
        for i in range(size):
            out[i] += partial[blk, i]

