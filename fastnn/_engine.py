"""The one door to compiled code: every call of a kernel goes through an entry point here.

Each entry point takes inputs validated by the public functions (`fastnn._validation`,
`fastnn.params.to_layers`: C-contiguous arrays of one float dtype, 1-D biases), lays out
or checks every array the kernel writes (`fastnn._buffers`), binds BLAS and sets its
threads (`fastnn._threads`, `fastnn._blas_threads`), and calls the kernel. The kernels'
status codes follow one convention: OK or NON_FINITE, returned first.
"""

import math

import numpy as np

from . import _blas_threads, _threads
from ._buffers import check, empty_state, step_buffers, writable
from ._config import EVAL_CHUNK
from ._inputs import input_fits, kernel_input
from ._kernels import blas
from ._kernels.network import _cost_grad, _cost_grad_parallel, _train_epoch
from ._kernels.outputs import EXACT_LOSS_RANGE, clipped_loss_range
from ._kernels.predict import _logits, _loss_and_accuracy
from ._kernels.status import NON_FINITE, OK
from ._kernels.workspaces import Rows, Step
from .families import ACTIVATIONS, OUTPUTS, codes

__all__ = ["EXACT_LOSS_RANGE", "NON_FINITE", "OK", "as_range", "blas_name", "clipped_loss_range", "cost_grad", "gemm",
           "kernel_targets", "logits", "loss_and_accuracy", "train_epoch", "training_kernels_cached"]

_HALF_MAX = {np.dtype(np.float32): float(np.finfo(np.float32).max) / 2,
             np.dtype(np.float64): float(np.finfo(np.float64).max) / 2}


def blas_name():
    """How the BLAS the kernels call is named, e.g. "NumPy's OpenBLAS" (binding it if needed)."""
    return blas.bind().description


def training_kernels_cached():
    """Whether the training and prediction kernels are in Numba's on-disk cache.

    False means that the first training compiles them (10 to 20 s): worth a notice.
    """
    for kernel in (_train_epoch, _logits):
        cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
        if cache_file is None or not cache_file._load_index():  # no cache, or an empty or stale index
            return False
    return True


def gemm(trans_a, trans_b, alpha, a, b, beta, c):
    """c = alpha op(a) op(b) + beta c through fastnn's own BLAS binding, in place (op
    transposes where the flag is True).

    For the benchmarks' GEMM-only yardstick, which sets the BLAS threads around its
    products itself (`fastnn._blas_threads.limited`). a, b and c: C-contiguous, one
    float dtype.
    """
    m, k = a.shape[::-1] if trans_a else a.shape
    k_b, n = b.shape[::-1] if trans_b else b.shape
    if k != k_b or not (a.dtype == b.dtype == c.dtype and a.flags.c_contiguous and b.flags.c_contiguous):
        raise ValueError(f"gemm: op(a) {(m, k)} and op(b) {(k_b, n)} do not multiply, or the arrays differ in dtype "
                         "or are not C-contiguous")
    check("c", c, (m, n), a.dtype)
    _threads.ready()
    blas._gemm(bool(trans_a), bool(trans_b), float(alpha), a, b, float(beta), c)


def _flop_per_product(n_rows, weights):
    """Floating-point operations of the largest matrix product of a pass over n_rows rows."""
    return 2 * n_rows * max(W.size for W in weights)


def kernel_targets(y, output):
    """Targets as the kernels take them: labels as a (n, 1) int64 view (softmax), else y (n, k)."""
    return y.reshape(-1, 1) if OUTPUTS[output].targets == "labels" else y


def cost_grad(X, y, weights, biases, c, parallel=None, *, activation="relu", output="softmax", sample_weight=None,
              gradient=None, loss_range=EXACT_LOSS_RANGE):
    """(status, cost, d_W, d_b) of one batch: the compiled cost_grad.

    X (n, d), y and sample_weight validated (`fastnn._validation.check_cost_grad_args`:
    labels (n,) int64 for softmax, else (n, k) in X's dtype; weights (n,) in X's dtype,
    or None); the gradients are new arrays shaped like the layers (1-D biases). status
    is NON_FINITE if a parameter, a pre-activation, an output or the cost was NaN or
    inf. parallel: run the block pass on Numba's threads (True), or serially (False);
    None decides by `use_parallel`. Both give the same bits. gradient: a flat buffer of
    `n_parameters` entries in the layers' dtype; the gradients are then written into it
    (`layer_views`: every weight gradient, then every bias gradient), as L-BFGS takes them.
    loss_range: (low, high) clips each row's (softmax) or output's (logistic) cross-entropy
    in the cost, not in the gradients (`fastnn._kernels.outputs`); the default clips nothing.
    """
    n = X.shape[0]
    weights, biases = writable(weights), writable(biases)  # read, never written: shapes checked by to_layers
    dtype = weights[0].dtype
    targets = kernel_targets(y, output)
    expected = (np.int64, (n, 1)) if OUTPUTS[output].targets == "labels" else (dtype, (n, weights[-1].shape[1]))
    if ((targets.dtype, targets.shape) != expected or not targets.flags.c_contiguous
            or not input_fits(X, weights[0].shape[0], dtype)):
        raise ValueError("cost_grad: X, y and the layers do not fit together")
    if sample_weight is None:
        sample_weight, norm = np.empty(0, dtype), float(n)
    else:
        norm = float(np.sum(sample_weight, dtype=np.float64))
        if sample_weight.shape != (n,) or sample_weight.dtype != dtype or not norm > 0:
            raise ValueError("cost_grad: sample_weight does not fit X")
    # no block pass without hidden layers (L = 1)
    parallel = (_threads.use_parallel(n) if parallel is None else bool(parallel)) and len(weights) > 1
    _threads.ready(threads=parallel)
    # What the kernel writes: new buffers, laid out here from the layers' checked shapes.
    buffers = step_buffers(n, weights, biases, with_workspace=not parallel, gradient=gradient)
    state = empty_state(dtype, len(weights))
    driver = _cost_grad_parallel if parallel else _cost_grad
    args = (Rows(kernel_input(X), targets, sample_weight), norm, weights, biases, c, as_range(loss_range), state,
            buffers, *codes(activation, output))
    # Only a parallel launch needs the workqueue guard; serial calls run side by side.
    with _blas_threads.limited(_flop_per_product(n, weights)):
        status, loss, squares = _threads.run_parallel(driver, *args) if parallel else driver(*args)
    cost = loss + c / (2 * norm) * squares
    if status == OK and not _finite_after_decay(cost, c / norm, squares, dtype, buffers.d_W):
        status = NON_FINITE
    return status, cost, buffers.d_W, buffers.d_b


def as_range(loss_range):
    """A loss range as the kernels take it: two float64s, low <= high."""
    low, high = (float(value) for value in loss_range)
    if not low <= high:
        raise ValueError(f"loss_range must be (low, high) with low <= high, got {loss_range!r}")
    return low, high


def _finite_after_decay(cost, decay, squares, dtype, d_W):
    """Whether the cost and the weight gradients are finite, given finite intermediates and products.

    The kernel has checked the gradients without the decay term (each product A^T dZ
    below half the dtype's largest value, or looked at). The decay term may overflow
    where nothing else did: each |decay W| <= decay ||W||, so below that half too it
    needs no look, and the two halves add up finite.
    """
    if not math.isfinite(cost):
        return False
    if decay * math.sqrt(squares) < _HALF_MAX[dtype]:
        return True
    return all(np.all(np.isfinite(d_w)) for d_w in d_W)


def logits(X, weights, biases, activation="relu"):
    """(status, logits (n, k)) of validated X under the layers and the hidden activation, in chunks of EVAL_CHUNK rows.

    The logits are the output layer's pre-activation (before its softmax, logistic or exp).
    """
    weights, biases = writable(weights), writable(biases)  # read, never written
    if not input_fits(X, weights[0].shape[0], weights[0].dtype):
        raise ValueError("logits: X does not fit W1")
    out = np.empty((X.shape[0], weights[-1].shape[1]), weights[0].dtype)  # what the kernel writes
    _threads.ready()
    with _blas_threads.limited(_flop_per_product(min(X.shape[0], EVAL_CHUNK), weights)):
        status = _logits(kernel_input(X), weights, biases, EVAL_CHUNK, out, ACTIVATIONS[activation].code)
    return status, out


def loss_and_accuracy(logits, y):
    """(mean cross-entropy in float64, accuracy) of logits (n, k) against labels y (n,) in [0, k)."""
    if y.shape != logits.shape[:1] or y.dtype != np.int64 or not logits.flags.c_contiguous:
        raise ValueError("loss_and_accuracy: logits and y do not fit")
    _threads.ready()
    return _loss_and_accuracy(logits, y)


def train_epoch(trainer, X, targets, row_weights, order, batch_size, lr, X_batch, weights_batch):
    """(status, step, loss, penalty) of one compiled epoch of a `fastnn.training.Trainer`, whose arrays it has checked.

    X dense or a CheckedSparse; targets as `kernel_targets` gives them; row_weights the
    per-row weights, or empty. See `Trainer.run_epoch`.
    """
    sparse = not isinstance(X, np.ndarray)
    data = Rows(X.rows(order[:0]) if sparse else X, targets, row_weights)
    batch = Rows(X_batch, trainer.targets_batch, weights_batch)
    settings = Step(float(trainer.c), trainer.loss_range, float(lr), trainer.optimizer.code, trainer.optimizer.hyper)
    _threads.ready()
    with _blas_threads.limited(_flop_per_product(min(batch_size, order.size), trainer.weights)):
        return _train_epoch(data, order, batch_size, trainer.weights, trainer.biases, settings, trainer.state,
                            trainer.step, batch, trainer.buffers, *codes(trainer.activation, trainer.output))
