"""The network drivers, any depth: one batch's cost and gradients (cost_grad) and one
training epoch, for every hidden activation and output (runtime codes).

The layers' products run over the whole batch, except around the output layer, where
the block pass (`block`) runs. For the hand-in's two layers that leaves two whole-batch
products, X W1 and X^T dZ1. All products go to BLAS. Twins: `fastnn.reference.cost_grad`
and `fastnn.reference.train_epoch`. Every driver returns a status code first (`status`).
"""

import numpy as np

from .activations import _activate_rows, _backward_rows
from .blas import _gemm
from .block import _block_pass, _block_pass_parallel
from .compile import dispatch, kernel
from .inputs import _input_batch, _input_rows, _input_times
from .outputs import _output_rows
from .status import NON_FINITE, OK
from .updates import KEEP_GRADIENT, _all_finite, _decay_into, _keep_or_apply_weight_gradient, _optimizer_update
from .workspaces import Rows


@kernel(inline=True)
def _dense(A, W, b, out, activation):
    """out = activation(A W + b); True if a pre-activation was NaN or inf. A: dense, or the sparse X."""
    _input_times(A, W, out)
    return _activate_rows(out, b, activation)


@kernel(inline=True)
def _rows_view(flat, rows, columns):
    """The first rows x columns entries of a 1-D work buffer, as a C-contiguous matrix."""
    return flat[: rows * columns].reshape((rows, columns))


@kernel(inline=True)
def _forward(X, W, b, hidden, activation):
    """Whole-batch forward pass into the hidden buffers, up to the last hidden layer.

    hidden[l] gets activation(A W + b) for every hidden layer but the last, which gets
    only its product A W: its bias and activation come in the block pass. Returns True if a
    pre-activation was NaN or inf. X: dense or sparse (`fastnn._kernels.inputs`); the
    first layer is apart from the loop, whose A is always a dense hidden buffer.
    """
    n, last = _input_rows(X), len(W) - 1
    non_finite = False
    if last == 1:
        _input_times(X, W[0], hidden[0][:n])
    else:
        non_finite |= _dense(X, W[0], b[0], hidden[0][:n], activation)
    for l in range(1, last):
        A = hidden[l - 1][:n]
        if l < last - 1:
            non_finite |= _dense(A, W[l], b[l], hidden[l][:n], activation)
        else:
            _gemm(False, False, 1.0, A, W[l], 0.0, hidden[l][:n])
    return non_finite


@kernel
def _backward_keep_or_apply(X, W, b, decay, optimizer, lr, hyper, state, step, buffers, activation):
    """After the block pass: every layer's gradient, kept or applied at once.

    On entry buffers.d_W[L-1] and the last two bias gradients hold the block pass's
    sums, and the last hidden buffer holds its dZ. The other layers' gradients follow as
    whole-batch products, layer by layer. Each is then kept (optimizer KEEP_GRADIENT: d_W
    and d_b hold it, weight decay `decay` W included, decay = c / (sum of the row
    weights)) or applied by the optimizer (state = (v_W, s_W, v_b, s_b), see
    `fastnn.optim`). Returns (sum_l ||W_l||^2 of the weights before any update when
    decay > 0 (what the decay term needs), else 0; for KEEP_GRADIENT, whether every
    gradient but the decay term's share is finite, else True).
    """
    d_W, d_b, hidden = buffers.d_W, buffers.d_b, buffers.hidden
    v_W, s_W, v_b, s_b = state
    n, last = _input_rows(X), len(W) - 1
    squares = 0.0
    finite = True
    if optimizer == KEEP_GRADIENT:
        # np.bool_(...), not a literal True: Numba would compile _decay_into once per literal
        squares += _decay_into(W[last], decay, d_W[last], np.bool_(True))
        finite = _all_finite(d_W[last])  # (h, k): a small array
    else:
        squares += _optimizer_update(W[last].ravel(), d_W[last].ravel(), decay, lr, optimizer, hyper,
                                     v_W[last].ravel(), s_W[last].ravel(), step)
    for l in range(last - 1, -1, -1):  # hidden[l] holds dZ of layer l + 1
        dZ = hidden[l][:n]
        if l == 0:
            layer_squares, layer_finite = _keep_or_apply_weight_gradient(X, dZ, W[0], d_W[0], decay, lr, optimizer,
                                                                         hyper, v_W[0], s_W[0], step)
            squares += layer_squares
            finite &= layer_finite
            break
        dA = _rows_view(buffers.scratch, n, W[l].shape[0])
        _gemm(False, True, 1.0, dZ, W[l], 0.0, dA)  # before W[l] changes
        layer_squares, layer_finite = _keep_or_apply_weight_gradient(hidden[l - 1][:n], dZ, W[l], d_W[l], decay, lr,
                                                                     optimizer, hyper, v_W[l], s_W[l], step)
        squares += layer_squares
        finite &= layer_finite
        d_b[l - 1][:] = 0
        _backward_rows(dA, hidden[l - 1][:n], d_b[l - 1], activation)
    if optimizer != KEEP_GRADIENT:
        for l in range(last + 1):
            _optimizer_update(b[l], d_b[l], 0.0, lr, optimizer, hyper, v_b[l], s_b[l], step)
    else:
        for l in range(last + 1):  # the biases' gradients: sums of dZ, small arrays
            finite &= _all_finite(d_b[l])
    return (squares if decay > 0 else 0.0), finite


def _hidden_backward(X, W, b, decay, optimizer, lr, hyper, state, step, buffers, activation):
    # a call of the kernel, not its body: the training and cost_grad drivers share its compilation
    return _backward_keep_or_apply(X, W, b, decay, optimizer, lr, hyper, state, step, buffers, activation)


@kernel(inline=True)
def _linear_backward(X, W, b, decay, optimizer, lr, hyper, state, step, buffers, activation):
    """`_backward_keep_or_apply` of a network without hidden layers: W1's gradient X^T dZ kept or applied.

    dZ is in the flat scratch (`_linear_pass`); activation is unused. Returns (||W1||^2
    before the update when decay > 0, else 0; for KEEP_GRADIENT, whether the gradients
    but the decay term's share are finite, else True).
    """
    v_W, s_W, v_b, s_b = state
    dZ = _rows_view(buffers.scratch, _input_rows(X), W[0].shape[1])
    squares, finite = _keep_or_apply_weight_gradient(X, dZ, W[0], buffers.d_W[0], decay, lr, optimizer, hyper,
                                                     v_W[0], s_W[0], step)
    if optimizer != KEEP_GRADIENT:
        _optimizer_update(b[0], buffers.d_b[0], 0.0, lr, optimizer, hyper, v_b[0], s_b[0], step)
    else:
        finite &= _all_finite(buffers.d_b[0])
    return squares, finite


_backward = dispatch("_backward", lambda X, W, *rest: _linear_backward if W.count == 1 else _hidden_backward,
                     _backward_keep_or_apply, inline=True)
_backward.__doc__ = "`_backward_keep_or_apply`, or `_linear_backward` for a network without hidden layers."


@kernel(inline=True)
def _linear_pass(rows, norm, W, b, buffers, loss_range, activation, output):
    """`_batch_pass` of a network without hidden layers (L = 1, a linear or logistic model).

    The logits X W1 go into the flat scratch (`fastnn._buffers.step_buffers` sizes it for
    them), which the output pass turns into dZ in place; d_b1 gets its sums. activation
    is unused. Returns (the weighted mean loss, True if a logit or an output was NaN or
    inf). loss_range: see `outputs`.
    """
    n = rows.targets.shape[0]
    logits = _rows_view(buffers.scratch, n, W[0].shape[1])
    _input_times(rows.X, W[0], logits)
    buffers.d_b[0][:] = 0
    loss, bad = _output_rows(logits, b[0], rows.targets, rows.row_weights, 1.0 / norm, loss_range, buffers.d_b[0],
                             output)
    return loss / norm, bad


@kernel(inline=True)
def _batch_pass(rows, norm, W, b, buffers, loss_range, activation, output):
    """`_forward`, then the serial block pass around the output layer.

    rows: the batch (`workspaces.Rows`), norm the sum of its row weights. Returns (the
    weighted mean loss, True if a parameter, a pre-activation or an output was NaN or
    inf). loss_range: see `outputs`.
    """
    n, last = _input_rows(rows.X), len(W) - 1
    non_finite = _forward(rows.X, W, b, buffers.hidden, activation)
    loss, bad = _block_pass(buffers.hidden[last - 1][:n], rows.targets, rows.row_weights, b[last - 1], W[last],
                            b[last], 1.0 / norm, loss_range, buffers.d_W[last], buffers.d_b[last - 1],
                            buffers.d_b[last], buffers.block, activation, output)
    return loss / norm, non_finite or bad


_pass = dispatch("_pass", lambda rows, norm, W, *rest: _linear_pass if W.count == 1 else _batch_pass, _batch_pass,
                 inline=True)
_pass.__doc__ = "`_batch_pass`, or `_linear_pass` for a network without hidden layers."


@kernel(inline=True)
def _batch_pass_parallel(rows, norm, W, b, buffers, loss_range, activation, output):
    """`_batch_pass` with the block pass on Numba's threads (`_block_pass_parallel`): the same bits."""
    n, last = _input_rows(rows.X), len(W) - 1
    non_finite = _forward(rows.X, W, b, buffers.hidden, activation)
    loss, bad = _block_pass_parallel(buffers.hidden[last - 1][:n], rows.targets, rows.row_weights, b[last - 1],
                                     W[last], b[last], 1.0 / norm, loss_range, buffers.d_W[last],
                                     buffers.d_b[last - 1], buffers.d_b[last], activation, output)
    return loss / norm, non_finite or bad


# ---------------------------------------------------------------- the drivers


@kernel(inline=True)
def _cost_grad_after_pass(rows, norm, W, b, c, state, buffers, activation, loss, bad):
    """The backward pass of cost_grad after its forward pass gave (loss, bad): (status, loss, squares)."""
    if bad:
        return NON_FINITE, np.nan, np.nan
    squares, finite = _backward(rows.X, W, b, c / norm, np.int64(KEEP_GRADIENT), 0.0, (0.0, 0.0, 0.0, 0.0), state,
                                np.int64(0), buffers, activation)
    if not finite:
        return NON_FINITE, np.nan, np.nan
    return OK, loss, squares


@kernel
def _cost_grad(rows, norm, W, b, c, loss_range, state, buffers, activation, output):
    """Cost and gradients of an L-layer network on one batch, into buffers.

    rows (`workspaces.Rows`): X (n, d), dense or sparse (`fastnn._kernels.inputs`);
    targets (n, 1) int64 labels for the softmax output, else (n, k) in X's dtype;
    row_weights (n,) in X's dtype, or empty (every row weighs 1). norm: the sum of the
    row weights (n if empty). W and b are tuples of the L weight matrices and 1-D
    biases, all C-contiguous and of one float dtype. loss_range clips the loss
    (`outputs`; (-inf, inf): the exact loss). buffers: a `workspaces.StepBuffers`
    (`fastnn._buffers.step_buffers`, for n rows). state: the empty optimizer state of
    KEEP_GRADIENT (`_backward_keep_or_apply` has one signature for training and
    cost_grad, so the two share its compilation). activation, output: the codes of
    `fastnn.families`.

    Returns (status, the weighted mean loss, sum_l ||W_l||^2 in float64): status
    NON_FINITE if a parameter, a pre-activation, an output or a gradient (before the
    decay term, which the caller checks) was NaN or inf (the sums are then NaN). The
    caller adds the decay term c/(2 norm) sum ||W_l||^2: here fastmath could
    reassociate it into c * sum, which overflows for a huge c where the cost itself
    does not. Twin: `fastnn.reference.cost_grad`.
    """
    loss, bad = _pass(rows, norm, W, b, buffers, loss_range, activation, output)
    return _cost_grad_after_pass(rows, norm, W, b, c, state, buffers, activation, loss, bad)


@kernel
def _cost_grad_parallel(rows, norm, W, b, c, loss_range, state, buffers, activation, output):
    """`_cost_grad` with the block pass on Numba's threads (a network with hidden layers): the same bits."""
    loss, bad = _batch_pass_parallel(rows, norm, W, b, buffers, loss_range, activation, output)
    return _cost_grad_after_pass(rows, norm, W, b, c, state, buffers, activation, loss, bad)


@kernel
def _train_epoch(data, order, batch_size, W, b, settings, state, step, batch, buffers, activation, output):
    """One epoch of mini-batch training over the rows of data in `order`, in place.

    data and batch are `workspaces.Rows`: each batch of data's rows is gathered into
    batch's buffers (reused; X itself is never copied; a sparse X's batch is its rows'
    nonzeros, batch.X unused); the last batch may be smaller. data.row_weights empty:
    every row weighs 1 (batch.row_weights is then empty too). settings: the
    `workspaces.Step` each update applies. Each batch: forward, the block pass,
    backward with the optimizer's update (`_backward_keep_or_apply`); weight decay
    c/norm uses the batch's own norm (its rows' weight sum). A batch whose weights are
    all 0 carries no information: it is skipped (no step; its loss counts as 0).
    Returns (status, optimizer steps taken so far, the batches' weighted mean losses
    averaged over the epoch's rows, as scikit-learn's loss_curve_ does, and the same
    average of each batch's sum_l ||W_l||^2 / norm before its update, 0 if c = 0: the
    decay term of that loss_curve_ is c/2 times it): status is NON_FINITE if a batch
    met NaN or inf (nothing of that batch is updated), and training should stop.
    Twin: `fastnn.reference.train_epoch`.
    """
    n = order.shape[0]
    weighted = data.row_weights.size > 0
    loss_sum = 0.0
    penalty_sum = 0.0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        X_b = _input_batch(data.X, order[start:start + m], batch.X)
        targets_b = batch.targets[:m]
        weights_b = batch.row_weights[:m] if weighted else batch.row_weights
        norm = 0.0 if weighted else np.float64(m)
        for i in range(m):
            row = order[start + i]
            for j in range(data.targets.shape[1]):
                targets_b[i, j] = data.targets[row, j]
            if weighted:
                weights_b[i] = data.row_weights[row]
                norm += data.row_weights[row]
        if norm == 0:
            continue
        step += 1
        rows = Rows(X_b, targets_b, weights_b)
        loss, bad = _pass(rows, norm, W, b, buffers, settings.loss_range, activation, output)
        if bad:
            return NON_FINITE, step, np.nan, np.nan
        squares, _ = _backward(X_b, W, b, settings.c / norm, settings.optimizer, settings.lr, settings.hyper, state,
                               step, buffers, activation)
        loss_sum += loss * m
        penalty_sum += squares / norm * m
    return OK, step, loss_sum / n, penalty_sum / n
