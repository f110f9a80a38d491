"""The one door to compiled code.

Everything that calls a kernel calls it from here. The engine binds BLAS before the
first kernel runs, starts Numba's threads only for the driver that can use them, runs
every call's products on as many BLAS threads as pay (`fastnn._blas_threads`), and
serialises parallel launches under a thread-unsafe threading layer. Kernels trust
shapes (a wrong one writes past an array's end), so every array a kernel writes is
either laid out here, new, from shapes already checked, or, when it lives on between
calls (a Trainer's parameters, optimizer state and buffers, which a caller can
replace), checked here for shape, dtype and layout before every epoch. The kernels'
status codes follow one convention: OK or NON_FINITE, returned first.

Inputs arrive validated by the public entry points (`fastnn._validation`,
`fastnn.params.to_layers`): C-contiguous arrays of one float dtype, 1-D biases.
"""

import functools
import math
import os
import threading

import numba
import numpy as np

from . import _blas_threads, reference
from ._config import EVAL_CHUNK, PARALLEL_MIN_CORES, PARALLEL_MIN_ROWS, ROW_BLOCK
from ._kernels import activations, blas, outputs
from ._kernels.inputs import SparseRows
from ._kernels.network import specialised
from ._kernels.outputs import EXACT_LOSS_RANGE, clipped_loss_range
from ._kernels.predict import _loss_and_accuracy, logits_for
from ._kernels.status import NON_FINITE, OK
from ._numba_cache import start_threading_layer
from .params import from_layers

__all__ = ["EXACT_LOSS_RANGE", "NON_FINITE", "OK", "CheckedSparse", "Trainer", "as_input", "blas_name",
           "clipped_loss_range", "cost_grad", "gemm", "layer_views", "logits", "loss_and_accuracy", "n_parameters"]

_HALF_MAX = {np.dtype(np.float32): float(np.finfo(np.float32).max) / 2,
             np.dtype(np.float64): float(np.finfo(np.float64).max) / 2}


# ---------------------------------------------------------------- readiness and threads


_threads_started = False


def _ready(threads=False):
    """Bind BLAS (once); with `threads`, also start Numba's threading layer (once).

    Only cost_grad's parallel driver reaches a parallel kernel, and a cached kernel that
    calls one needs the layer started first (see `fastnn._numba_cache`). Nothing else
    starts it, so its idle threads never compete with BLAS's: not during training, and
    not on machines where the parallel pass is never chosen (`use_parallel`).
    """
    global _threads_started
    blas.bind()
    if threads and not _threads_started:
        start_threading_layer()
        _threads_started = True


def blas_name():
    """Which BLAS the kernels call: "NumPy's OpenBLAS" or "SciPy's BLAS" (binding it if needed)."""
    return blas.bind()


_parallel_lock = threading.Lock()
_safe_layer = None  # True/False once Numba has chosen its threading layer


def _layer_is_thread_safe():
    global _safe_layer
    if _safe_layer is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet: the layer is not chosen
            return False
        _safe_layer = layer in ("tbb", "omp")
    return _safe_layer


def _run_parallel(kernel, *args):
    """Call a kernel that launches Numba's threads, on no more of them than the CPUs the process may use.

    Numba sizes its pool from the machine (NUMBA_NUM_THREADS); under taskset or a
    container's CPU quota more threads would only take turns on fewer CPUs, so the launch
    uses at most `_blas_threads.cpu_budget()` (numba.set_num_threads is per calling
    thread; the count is restored after). Numba's workqueue layer is not thread-safe: two
    Python threads launching parallel kernels at once abort the process. Until Numba has
    chosen its layer, and whenever it chose workqueue, launches hold a process-wide lock.
    Numba's configuration is never changed.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(previous, _blas_threads.cpu_budget())))
    try:
        if _layer_is_thread_safe():
            return kernel(*args)
        with _parallel_lock:
            return kernel(*args)
    finally:
        numba.set_num_threads(previous)


_omp_unusable = False  # True in a fork child of a process that had started GNU OpenMP


def _after_fork_in_child():
    """GNU OpenMP is not fork-safe: Numba's omp layer kills a fork child that launches a
    parallel region once the parent had started the layer ("fork() called from a process
    already using GNU OpenMP"). Such a child runs the serial block pass, which gives the
    same bits. Spawned and forkserver children are fresh processes and keep their threads.
    """
    global _omp_unusable
    try:
        _omp_unusable = _omp_unusable or numba.threading_layer() == "omp"
    except ValueError:  # the parent never started a layer
        pass


os.register_at_fork(after_in_child=_after_fork_in_child)


def training_kernels_cached():
    """Whether the training and prediction kernels are in Numba's on-disk cache.

    False means that the first training compiles them (10 to 20 s): worth a notice.
    """
    for kernel in (specialised(activations.RELU, outputs.SOFTMAX).train_epoch, logits_for(activations.RELU)):
        cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
        if cache_file is None or not cache_file._load_index():  # no cache, or an empty or stale index
            return False
    return True


def use_parallel(n_rows):
    """Whether cost_grad's block pass over n_rows rows runs on Numba's threads (see `fastnn._config`).

    Counts the threads this thread may use (NUMBA_NUM_THREADS, numba.set_num_threads),
    never more than the CPUs the process may use (`_blas_threads.cpu_budget`). Never in
    a fork child where Numba's OpenMP layer cannot run (`_after_fork_in_child`).
    """
    threads = min(numba.get_num_threads(), _blas_threads.cpu_budget())
    return n_rows >= PARALLEL_MIN_ROWS and threads > PARALLEL_MIN_CORES and not _omp_unusable


# ---------------------------------------------------------------- inputs: dense or sparse


class CheckedSparse:
    """A CSR matrix whose structure has been checked for the kernels, which index with it.

    data (in the model's dtype), indices and indptr (int64): every index in
    [0, n_features), indptr non-decreasing from 0 to the number of nonzeros, every value
    finite. Made from a scipy.sparse CSR or CSC matrix (CSC is converted: a copy of the
    nonzeros, never a dense array); `take` gives rows of it, checked the same way.
    """

    def __init__(self, matrix, dtype):
        csr = matrix.tocsr()
        self._matrix = csr
        self.shape, self.dtype = csr.shape, np.dtype(dtype)
        # Copies, always: the kernels index with indices and indptr, so what was checked
        # must be what they read, whatever another thread does to the user's matrix.
        self.data = np.array(csr.data, dtype=self.dtype)
        self.indices = np.array(csr.indices, dtype=np.int64)
        self.indptr = np.array(csr.indptr, dtype=np.int64)
        nnz = self.data.size
        if not (self.indptr.shape == (self.shape[0] + 1,) and self.indices.shape == (nnz,) and self.indptr[0] == 0
                and self.indptr[-1] == nnz and np.all(np.diff(self.indptr) >= 0)):
            raise ValueError("the sparse matrix's indptr does not describe its nonzeros")
        if nnz and not (0 <= self.indices.min() and self.indices.max() < self.shape[1]):
            raise ValueError(f"the sparse matrix has column indices outside [0, {self.shape[1]})")
        if not np.all(np.isfinite(self.data)):
            raise ValueError("the sparse matrix holds NaN or inf")

    def take(self, rows):
        """These rows (an index array), as a new CheckedSparse."""
        return CheckedSparse(self._matrix[rows], self.dtype)

    def rows(self, rows=None):
        """The kernels' view of the given rows (int64; all of them by default): no copy of the nonzeros."""
        rows = np.arange(self.shape[0], dtype=np.int64) if rows is None else rows
        return SparseRows(self.data, self.indices, self.indptr, rows)


def as_input(X, dtype):
    """X as the kernels take it: a C-contiguous array of `dtype`, or a CheckedSparse of a scipy.sparse matrix."""
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        return CheckedSparse(X, dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def _input_fits(X, n_features, dtype):
    """Whether X is an input the kernels can take for n_features features in dtype."""
    if isinstance(X, CheckedSparse):
        return X.dtype == dtype and X.shape[1] == n_features
    return (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == dtype and X.flags.c_contiguous
            and X.shape[1] == n_features)


def _kernel_input(X):
    """What a kernel takes for X: the array itself, or the rows of a CheckedSparse."""
    return X.rows() if isinstance(X, CheckedSparse) else X


# ---------------------------------------------------------------- checks of what kernels write


def _check(name, array, shape, dtype):
    """Refuse an array a kernel would write unless it has this shape and dtype, C-contiguous and writable."""
    if not (isinstance(array, np.ndarray) and array.shape == tuple(shape) and array.dtype == dtype
            and array.flags.c_contiguous and array.flags.writeable):
        found = (f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__)
        raise ValueError(f"{name} is {found}; the compiled code needs a writable C-contiguous {np.dtype(dtype)} "
                         f"array of shape {tuple(shape)}")


def _writable(arrays):
    """The arrays, read-only ones copied: one kernel signature serves both (a read-only
    array is another Numba type, and the drivers that update weights cannot take it)."""
    return tuple(array if array.flags.writeable else array.copy() for array in arrays)


def _check_layers(weights, biases, what="the parameters"):
    dtype = weights[0].dtype
    for layer, (W, b) in enumerate(zip(weights, biases), 1):
        _check(f"{what}' W{layer}", W, W.shape, dtype)
        _check(f"{what}' b{layer}", b, (W.shape[1],), dtype)
        if layer > 1 and W.shape[0] != weights[layer - 2].shape[1]:
            raise ValueError(f"{what}' W{layer - 1} and W{layer} do not chain")


def block_workspace(n_rows, W_out):
    """Work arrays of the serial block pass on up to n_rows rows.

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


def n_parameters(weights, biases):
    """The number of parameters of the layers: the length of their flat buffer (`layer_views`)."""
    return sum(W.size for W in weights) + sum(b.size for b in biases)


def layer_views(flat, weights, biases):
    """(weights, biases): views into a flat 1-D buffer, shaped like the given layers.

    scikit-learn's packing order: every weight matrix, then every bias. The views share
    the buffer's memory, so a kernel writing them writes the buffer (no copy).
    """
    views, start = [], 0
    for array in (*weights, *biases):
        views.append(flat[start:start + array.size].reshape(array.shape))
        start += array.size
    return tuple(views[:len(weights)]), tuple(views[len(weights):])


def _scratch_width(weights):
    """Columns per row of the flat scratch: the widest inner layer, or the logits' for a
    network without hidden layers."""
    if len(weights) == 1:
        return weights[0].shape[1]
    return max((W.shape[0] for W in weights[1:-1]), default=0)


def step_buffers(n_rows, weights, biases, with_workspace=True, gradient=None):
    """The buffers one batch of up to n_rows rows needs.

    (d_W, d_b, hidden, d_hidden, workspace): gradients shaped like the parameters (views
    of `gradient`, a flat buffer of `n_parameters` entries, if given), one (n_rows, h_l)
    buffer per hidden layer, a flat scratch for the widest inner layer (the logits, for
    a network without hidden layers), and the block pass's workspace (for 0 rows if not
    `with_workspace`: the parallel pass allocates its own; empty without hidden layers).
    """
    dtype = weights[0].dtype
    inner = _scratch_width(weights)
    if gradient is None:
        d_W, d_b = tuple(np.empty_like(W) for W in weights), tuple(np.empty_like(b) for b in biases)
    else:
        _check("the flat gradient", gradient, (n_parameters(weights, biases),), dtype)
        d_W, d_b = layer_views(gradient, weights, biases)
    return (
        d_W,
        d_b,
        tuple(np.empty((n_rows, W.shape[1]), dtype) for W in weights[:-1]),
        np.empty(n_rows * inner, dtype),
        _workspace_for(n_rows if with_workspace else 0, weights),
    )


def _workspace_for(n_rows, weights):
    """The block pass's workspace for these layers: empty ones without hidden layers (no block pass)."""
    if len(weights) == 1:
        return block_workspace(0, np.empty((0, 0), weights[0].dtype))
    return block_workspace(n_rows, weights[-1])


def _check_buffers(buffers, n_rows, weights, with_workspace=True):
    """The buffers of `step_buffers` for at least n_rows rows and these layers."""
    d_W, d_b, hidden, d_hidden, workspace = buffers
    dtype = weights[0].dtype
    if not (len(d_W) == len(d_b) == len(weights) and len(hidden) == len(weights) - 1 and len(workspace) == 7):
        raise ValueError("the step buffers do not match the network's depth")
    for layer, W in enumerate(weights, 1):
        _check(f"d_w{layer}", d_W[layer - 1], W.shape, dtype)
        _check(f"d_b{layer}", d_b[layer - 1], (W.shape[1],), dtype)
    if hidden:
        rows = hidden[0].shape[0] if hidden[0].ndim == 2 else -1
    else:  # no hidden layers: the scratch holds the logits
        rows = d_hidden.size // weights[0].shape[1] if isinstance(d_hidden, np.ndarray) and d_hidden.ndim == 1 else -1
    if rows < n_rows:
        raise ValueError(f"the hidden buffers hold {rows} rows, the batch has {n_rows}")
    for layer, W in enumerate(weights[:-1], 1):
        _check(f"hidden buffer {layer}", hidden[layer - 1], (rows, W.shape[1]), dtype)
    _check("the inner scratch", d_hidden, (rows * _scratch_width(weights),), dtype)
    blocks = -(-(rows if with_workspace and len(weights) > 1 else 0) // ROW_BLOCK)
    (h, k) = weights[-1].shape if len(weights) > 1 else (0, 0)
    for name, array, shape, kind in zip(
            ("partial d_w", "partial d_b hidden", "partial d_b out", "block losses", "block flags",
             "block logits", "block d_hidden"), workspace,
            ((blocks, h, k), (blocks, h), (blocks, k), (blocks,), (blocks,), (ROW_BLOCK, k), (ROW_BLOCK, h)),
            (dtype, dtype, dtype, np.float64, np.bool_, dtype, dtype)):
        _check(name, array, shape, kind)


@functools.lru_cache(maxsize=32)
def _empty_state(dtype, n_layers):
    """The state of KEEP_GRADIENT, which reads and writes none: zero-size arrays, shared by every call."""
    empty_W = tuple(np.empty((0, 0), dtype) for _ in range(n_layers))
    empty_b = tuple(np.empty(0, dtype) for _ in range(n_layers))
    return empty_W, empty_W, empty_b, empty_b


# ---------------------------------------------------------------- the compiled entry points


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
    _check("c", c, (m, n), a.dtype)
    _ready()
    blas._gemm(bool(trans_a), bool(trans_b), float(alpha), a, b, float(beta), c)


def _flop_per_product(n_rows, weights):
    """Floating-point operations of the largest matrix product of a pass over n_rows rows."""
    return 2 * n_rows * max(W.size for W in weights)


def _codes(activation, output):
    """The kernels' codes for an activation and an output named as in `fastnn._validation`."""
    return activations.CODES[activation], outputs.CODES[output]


def _kernel_targets(y, output):
    """Targets as the kernels take them: labels as a (n, 1) int64 view for softmax, else y (n, k)."""
    return y.reshape(-1, 1) if output == "softmax" else y


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
    weights, biases = _writable(weights), _writable(biases)  # read, never written: shapes checked by to_layers
    dtype = weights[0].dtype
    targets = _kernel_targets(y, output)
    expected = (np.int64, (n, 1)) if output == "softmax" else (dtype, (n, weights[-1].shape[1]))
    if ((targets.dtype, targets.shape) != expected or not targets.flags.c_contiguous
            or not _input_fits(X, weights[0].shape[0], dtype)):
        raise ValueError("cost_grad: X, y and the layers do not fit together")
    if sample_weight is None:
        sample_weight, norm = np.empty(0, dtype), float(n)
    else:
        norm = float(np.sum(sample_weight, dtype=np.float64))
        if sample_weight.shape != (n,) or sample_weight.dtype != dtype or not norm > 0:
            raise ValueError("cost_grad: sample_weight does not fit X")
    parallel = (use_parallel(n) if parallel is None else bool(parallel)) and len(weights) > 1  # no block pass in L = 1
    _ready(threads=parallel)
    # What the kernel writes: new buffers, laid out here from the layers' checked shapes.
    buffers = step_buffers(n, weights, biases, with_workspace=not parallel, gradient=gradient)
    state = _empty_state(dtype, len(weights))
    drivers = specialised(*_codes(activation, output), len(weights) == 1)
    driver = drivers.cost_grad_parallel if parallel else drivers.cost_grad
    args = (_kernel_input(X), targets, sample_weight, norm, weights, biases, c, _as_range(loss_range), state, buffers)
    # Only a parallel launch needs the workqueue guard; serial calls run side by side.
    with _blas_threads.limited(_flop_per_product(n, weights)):
        status, loss, squares = _run_parallel(driver, *args) if parallel else driver(*args)
    cost = loss + c / (2 * norm) * squares
    if status == OK and not _finite_after_decay(cost, c / norm, squares, dtype, buffers[0]):
        status = NON_FINITE
    return status, cost, buffers[0], buffers[1]


def _as_range(loss_range):
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
    weights, biases = _writable(weights), _writable(biases)  # read, never written
    if not _input_fits(X, weights[0].shape[0], weights[0].dtype):
        raise ValueError("logits: X does not fit W1")
    out = np.empty((X.shape[0], weights[-1].shape[1]), weights[0].dtype)  # what the kernel writes
    _ready()
    with _blas_threads.limited(_flop_per_product(min(X.shape[0], EVAL_CHUNK), weights)):
        status = logits_for(activations.CODES[activation], len(weights) == 1)(_kernel_input(X), weights, biases,
                                                                               EVAL_CHUNK, out)
    return status, out


def loss_and_accuracy(logits, y):
    """(mean cross-entropy in float64, accuracy) of logits (n, k) against labels y (n,) in [0, k)."""
    if y.shape != logits.shape[:1] or y.dtype != np.int64 or not logits.flags.c_contiguous:
        raise ValueError("loss_and_accuracy: logits and y do not fit")
    _ready()
    return _loss_and_accuracy(logits, y)


class Trainer:
    """Working parameters, optimizer state and buffers of one training run.

    The parameters are copies (what the caller passed is never modified); every array
    the compiled epoch writes is checked here before each epoch.

    Parameters
    ----------
    weights, biases : tuples of ndarray
        Validated layers to start from (`fastnn.params.to_layers`); copied.
    optimizer : fastnn.optim.Optimizer
    c : float
        Weight decay, validated.
    state, step : optional
        Optimizer state and step count to continue from (`Trainer.state`, `Trainer.step`
        of an earlier run); default: a fresh optimizer. A state that does not fit the
        optimizer and the layers raises ValueError.
    activation, output : str
        The hidden activation and the output (with its loss), as `fastnn.cost_grad`
        names them.
    loss_range : (float, float)
        Clips the loss the epochs report, as `cost_grad` does; the default clips nothing.
    """

    def __init__(self, weights, biases, optimizer, c, state=None, step=0, activation="relu", output="softmax",
                 loss_range=EXACT_LOSS_RANGE):
        self.weights = tuple(np.array(W, copy=True) for W in weights)
        self.biases = tuple(np.array(b, copy=True) for b in biases)
        _check_layers(self.weights, self.biases)
        self.optimizer, self.c = optimizer, c
        self.activation, self.output = activation, output
        self.loss_range = _as_range(loss_range)
        self._drivers = specialised(*_codes(activation, output), len(self.weights) == 1)
        self.state = optimizer.init_state(self.weights, self.biases) if state is None else state
        self._check_state()
        if not (isinstance(step, (int, np.integer)) and step >= 0):
            raise ValueError(f"the optimizer's step count must be an integer >= 0, got {step!r}")
        self.step = int(step)
        self._rows = 0  # rows the batch buffers hold

    @property
    def dtype(self):
        return self.weights[0].dtype

    def _check_state(self):
        expected = self.optimizer.init_state(self.weights, self.biases, allocate=False)
        if len(self.state) != 4:
            raise ValueError("the optimizer state must hold (v_W, s_W, v_b, s_b)")
        for prefix, arrays, shapes in zip(("v_W", "s_W", "v_b", "s_b"), self.state, expected):
            if len(arrays) != len(shapes):
                raise ValueError(f"the optimizer state {prefix} has {len(arrays)} layers, the network {len(shapes)}")
            for layer, (array, shape) in enumerate(zip(arrays, shapes), 1):
                _check(f"the optimizer state {prefix}{layer} ({self.optimizer.name})", array, shape, self.dtype)

    def _targets_layout(self):
        """(dtype, columns) of the targets the kernels take for this output."""
        if self.output == "softmax":
            return np.dtype(np.int64), 1
        return self.dtype, self.weights[-1].shape[1]

    def _check_batch_buffers(self, batch_size, weighted, sparse):
        """(X_batch, weights_batch) for batches of batch_size rows, checked with the other buffers.

        A sparse X needs no X_batch (its batches are its rows' nonzeros): it gets an empty one.
        """
        target_dtype, columns = self._targets_layout()
        d = self.weights[0].shape[0]
        if batch_size > self._rows:
            self._X_batch = np.empty((0, d), self.dtype)  # allocated by the first dense epoch
            self._targets_batch = np.empty((batch_size, columns), target_dtype)
            self._weights_batch = np.empty(batch_size, self.dtype)
            self._buffers = step_buffers(batch_size, self.weights, self.biases)
            self._rows = batch_size
        if not sparse and self._X_batch.shape[0] != self._rows:
            self._X_batch = np.empty((self._rows, d), self.dtype)
        X_batch = self._X_batch[:0] if sparse else self._X_batch
        _check("the batch buffer", X_batch, (0 if sparse else self._rows, d), self.dtype)
        _check("the target buffer", self._targets_batch, (self._rows, columns), target_dtype)
        _check("the weight buffer", self._weights_batch, (self._rows,), self.dtype)
        _check_buffers(self._buffers, batch_size, self.weights)
        return X_batch, self._weights_batch if weighted else self._weights_batch[:0]

    def _fits(self, X, y, sample_weight):
        """Whether validated X, y and sample_weight fit the network and this output."""
        n = X.shape[0]
        target_dtype, columns = self._targets_layout()
        if not (_input_fits(X, self.weights[0].shape[0], self.dtype) and y.dtype == target_dtype
                and y.flags.c_contiguous):
            return False
        if sample_weight is not None and not (sample_weight.shape == (n,) and sample_weight.dtype == self.dtype
                                              and sample_weight.flags.c_contiguous):
            return False
        if self.output == "softmax":  # the labels index the logits
            return y.shape == (n,) and (n == 0 or 0 <= y.min() and y.max() < self.weights[-1].shape[1])
        return y.shape == (n, columns)

    def run_epoch(self, X, y, order, batch_size, lr, sample_weight=None):
        """(status, loss, penalty) of one compiled epoch over X[order] in batches, in place.

        y and sample_weight as `cost_grad` takes them. The loss is each batch's weighted
        mean loss (before its update), averaged over the rows; it leaves out the
        weight-decay term. penalty is the same average of each batch's
        sum_l ||W_l||^2 / (its weight sum), with the weights before its update (0 if c
        is 0): each batch's decay term averaged over the rows is c/2 times it. Both NaN,
        with status NON_FINITE, if training met NaN or inf (the parameters are then
        partly updated).
        """
        n = X.shape[0]
        if not (self._fits(X, y, sample_weight) and order.ndim == 1 and order.dtype == np.int64
                and (order.size == 0 or 0 <= order.min() and order.max() < n) and batch_size >= 1):
            raise ValueError("run_epoch: X, y, sample_weight, order and batch_size do not fit the network")
        _check_layers(self.weights, self.biases)
        self._check_state()
        sparse = isinstance(X, CheckedSparse)
        X_batch, weights_batch = self._check_batch_buffers(batch_size, sample_weight is not None, sparse)
        _ready()
        with _blas_threads.limited(_flop_per_product(min(batch_size, order.size), self.weights)):
            status, self.step, loss, penalty = self._drivers.train_epoch(
                X.rows(order[:0]) if sparse else X, _kernel_targets(y, self.output),
                np.empty(0, self.dtype) if sample_weight is None else sample_weight, order, batch_size, self.weights,
                self.biases, self.c, self.loss_range, float(lr), self.optimizer.code, self.optimizer.hyper,
                self.state, self.step, X_batch, self._targets_batch, weights_batch, self._buffers,
            )
        return status, loss, penalty

    def logits(self, X):
        """(status, logits of X) under the current parameters; X validated already."""
        return logits(X, self.weights, self.biases, self.activation)

    def evaluate(self, X, y, sample_weight=None):
        """(status, weighted mean loss, accuracy) on X, y.

        Accuracy: of the argmax for softmax; of every output thresholded at 0.5 for
        logistic (a row counts when all its outputs are right); NaN for regression.
        """
        status, values = self.logits(X)
        if status != OK:
            return status, np.nan, np.nan
        if self.output == "softmax" and sample_weight is None:
            return (OK, *loss_and_accuracy(values, y))
        with np.errstate(over="ignore", invalid="ignore"):
            losses = reference.output_loss(values, y, self.output)
        loss = float(np.average(losses, weights=sample_weight))
        if self.output == "softmax":
            hits = np.argmax(values, axis=1) == y
        elif self.output == "logistic":
            hits = np.all((values > 0) == (y > 0.5), axis=1)
        else:
            return (OK if np.isfinite(loss) else NON_FINITE), loss, np.nan
        return (OK if np.isfinite(loss) else NON_FINITE), loss, float(np.average(hits, weights=sample_weight))

    def params(self):
        """A copy of the current parameters as a dict (biases 1-D)."""
        return {key: value.copy() for key, value in from_layers(self.weights, self.biases).items()}
