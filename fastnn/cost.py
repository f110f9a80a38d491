"""The compiled cost_grad: validate, choose the dtype, allocate, call the kernel."""

import numba
import numpy as np

from . import _blas
from ._config import PARALLEL_MIN_CORES, PARALLEL_MIN_ROWS
from ._kernels import OK, _forward_backward
from ._threading import run_parallel
from ._validation import OVERFLOW_MESSAGE, check_cost_grad_args, raise_non_finite


def _use_parallel(n_rows):
    """Whether the block pass of a batch of n_rows runs on Numba's threads (see _config)."""
    return n_rows >= PARALLEL_MIN_ROWS and numba.config.NUMBA_NUM_THREADS > PARALLEL_MIN_CORES


def cost_grad(X, y, params, c=0.0):
    """Average cross-entropy with L2 weight decay, and its gradients (compiled).

    cost = -(1/n) sum_i log softmax(Z2_i)[y_i] + c/(2n) (||W1||^2 + ||W2||^2),
    with Z2 = relu(X W1 + b1) W2 + b2. Same signature, returns and errors as
    `fastnn.reference.cost_grad`, and equal to it within the tolerances the tests state.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Real-valued data (any layout, integers allowed); cast to the parameters' dtype.
    y : array_like of int, shape (n,)
        Labels in [0, k); integer-valued floats are accepted.
    params : dict
        W1 (d, h), b1 (h,) or (1, h), W2 (h, k), b2 (k,) or (1, k), all float32 or all
        float64. The parameters' dtype is the dtype of the computation.
    c : float, default 0.0
        Weight decay, finite and >= 0. Biases are not regularised.

    Returns
    -------
    cost : float
    grads : dict
        d_w1, d_b1, d_w2, d_b2, each a new array with the shape and dtype of its parameter.

    Raises
    ------
    TypeError
        params not a dict; a non-real X; parameters not all float32 or all float64.
    ValueError
        Shapes that do not chain, bad labels, NaN or inf in X or params, c < 0.
    FloatingPointError
        The inputs are finite but the hidden pre-activations or the logits overflow.
    """
    X, y, (W1, b1, W2, b2), c = check_cost_grad_args(X, y, params, c, check_finite=False)
    _blas.bind()
    n, h, k = X.shape[0], W1.shape[1], W2.shape[1]
    dtype = W1.dtype
    d_w1, d_w2 = np.empty_like(W1), np.empty_like(W2)
    d_b1, d_b2 = np.empty(h, dtype), np.empty(k, dtype)
    hidden = np.empty((n, h), dtype)
    parallel = _use_parallel(n)
    args = (X, y, W1, b1, W2, b2, c, parallel, d_w1, d_b1, d_w2, d_b2, hidden)
    # Only a parallel launch needs the workqueue guard; serial calls run side by side.
    cost, status = run_parallel(_forward_backward, *args) if parallel else _forward_backward(*args)
    if status != OK:
        # The kernels flag non-finite intermediates for free; find out why only now.
        raise_non_finite(X, (W1, b1, W2, b2))
        raise FloatingPointError(OVERFLOW_MESSAGE)
    grads = {
        "d_w1": d_w1,
        "d_b1": d_b1.reshape(np.shape(params["b1"])),
        "d_w2": d_w2,
        "d_b2": d_b2.reshape(np.shape(params["b2"])),
    }
    return float(cost), grads
