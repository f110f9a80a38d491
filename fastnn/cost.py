"""The compiled cost_grad: validate, choose the dtype, allocate, call the kernel."""

import functools

import numba
import numpy as np

from . import _blas
from ._config import PARALLEL_MIN_CORES, PARALLEL_MIN_ROWS, ROW_BLOCK
from ._kernels import GRADIENT, _gradients
from ._threading import run_parallel
from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args, raise_non_finite

NO_HYPER = (0.0, 0.0, 0.0, 0.0)


def _use_parallel(n_rows):
    """Whether the block pass of a batch of n_rows runs on Numba's threads (see _config).

    Counts the threads this thread may use (NUMBA_NUM_THREADS, numba.set_num_threads).
    """
    return n_rows >= PARALLEL_MIN_ROWS and numba.get_num_threads() > PARALLEL_MIN_CORES


def block_workspace(n_rows, W_out):
    """Work arrays for `fastnn._kernels._batch_rows` on up to n_rows rows.

    Per-block partials of the output layer's weight gradient and of the two bias
    gradients, per-block losses and flags, and one block's logits and d_hidden.
    """
    n_blocks = -(-n_rows // ROW_BLOCK)
    (h, k), dtype = W_out.shape, W_out.dtype
    return (
        np.empty((n_blocks, h, k), dtype), np.empty((n_blocks, h), dtype), np.empty((n_blocks, k), dtype),
        np.empty(n_blocks), np.empty(n_blocks, np.bool_),
        np.empty((ROW_BLOCK, k), dtype), np.empty((ROW_BLOCK, h), dtype),
    )


def step_buffers(n_rows, weights, biases, with_workspace=True):
    """The buffers the kernels' passes need for batches of up to n_rows rows.

    (d_W, d_b, hidden, d_hidden, workspace): gradients shaped like the parameters, one
    (n_rows, h_l) buffer per hidden layer, a flat scratch for the widest inner layer, and
    the block pass's workspace (for 0 rows if not `with_workspace`: the parallel pass
    allocates its own).
    """
    dtype = weights[0].dtype
    inner = max((W.shape[0] for W in weights[1:-1]), default=0)
    return (
        tuple(np.empty_like(W) for W in weights),
        tuple(np.empty_like(b) for b in biases),
        tuple(np.empty((n_rows, W.shape[1]), dtype) for W in weights[:-1]),
        np.empty(n_rows * inner, dtype),
        block_workspace(n_rows if with_workspace else 0, weights[-1]),
    )


@functools.lru_cache(maxsize=None)
def _empty_state(dtype, n_layers):
    empty_W = (np.empty((0, 0), dtype),) * n_layers
    empty_b = (np.empty(0, dtype),) * n_layers
    return empty_W, empty_W, empty_b, empty_b


def no_optimizer_state(weights, biases):
    """Empty optimizer state (v_W, s_W, v_b, s_b) for GRADIENT, which keeps none.

    Zero-size arrays, so one set per dtype and depth serves every call.
    """
    return _empty_state(weights[0].dtype, len(weights))


def cost_grad(X, y, params, c=0.0):
    """Average cross-entropy with L2 weight decay, and its gradients (compiled).

    For L >= 2 layers: A0 = X, A_l = relu(A_{l-1} W_l + b_l) for l < L, logits
    Z_L = A_{L-1} W_L + b_L, and cost = -(1/n) sum_i log softmax(Z_L_i)[y_i] +
    c/(2n) sum_l ||W_l||^2. Same signature, returns and errors as
    `fastnn.reference.cost_grad`, and equal to it within the tolerances the tests state.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Real-valued data (any layout, integers allowed); cast to the parameters' dtype.
    y : array_like of int, shape (n,)
        Labels in [0, k); integer-valued floats are accepted.
    params : dict
        W1 (d, h1), b1, ..., WL (h_{L-1}, k), bL; each bias (width,) or (1, width); all
        float32 or all float64. The parameters' dtype is the dtype of the computation.
        Two layers (W1, b1, W2, b2) is the hand-in's network.
    c : float, default 0.0
        Weight decay, finite and >= 0. Biases are not regularised.

    Returns
    -------
    cost : float
    grads : dict
        d_w1, d_b1, ..., d_wL, d_bL, each a new array with the shape and dtype of its
        parameter.

    Raises
    ------
    TypeError
        params not a dict; a non-real X; parameters not all float32 or all float64.
    ValueError
        Missing or unexpected keys, shapes that do not chain, bad labels, NaN or inf in
        X or params, c < 0.
    FloatingPointError
        The inputs are finite but a pre-activation or a logit overflows.
    """
    X, y, (weights, biases), c = check_cost_grad_args(X, y, params, c, check_finite=False)
    _blas.bind()
    parallel = _use_parallel(X.shape[0])
    buffers = step_buffers(X.shape[0], weights, biases, with_workspace=not parallel)
    args = (X, y, weights, biases, c, parallel, GRADIENT, NO_HYPER, no_optimizer_state(weights, biases), buffers)
    # Only a parallel launch needs the workqueue guard; serial calls run side by side.
    cost, non_finite = run_parallel(_gradients, *args) if parallel else _gradients(*args)
    if non_finite:
        # The kernels flag non-finite intermediates for free; find out why only now.
        raise_non_finite(X, weights, biases)
        raise FloatingPointError(OVERFLOW_MESSAGE)
    d_W, d_b = buffers[:2]
    grads = {}
    for layer, (d_w, d_bias) in enumerate(zip(d_W, d_b), 1):
        grads[f"d_w{layer}"] = d_w
        grads[f"d_b{layer}"] = d_bias.reshape(np.shape(params[f"b{layer}"]))
    return float(cost), grads
