"""The arrays compiled code writes, laid out and checked on the Python side.

Kernels trust shapes (a wrong one writes past an array's end), so every array a kernel
writes is either laid out here, new, from shapes already checked, or, when it lives on
between calls (a Trainer's parameters, optimizer state and buffers, which a caller can
replace), checked here for shape, dtype and layout before every call.
"""

import functools

import numpy as np

from ._config import ROW_BLOCK


def check(name, array, shape, dtype):
    """Refuse an array a kernel would write unless it has this shape and dtype, C-contiguous and writable."""
    if not (isinstance(array, np.ndarray) and array.shape == tuple(shape) and array.dtype == dtype
            and array.flags.c_contiguous and array.flags.writeable):
        found = (f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__)
        raise ValueError(f"{name} is {found}; the compiled code needs a writable C-contiguous {np.dtype(dtype)} "
                         f"array of shape {tuple(shape)}")


def writable(arrays):
    """The arrays, read-only ones copied: one kernel signature serves both (a read-only
    array is another Numba type, and the drivers that update weights cannot take it)."""
    return tuple(array if array.flags.writeable else array.copy() for array in arrays)


def check_layers(weights, biases, what="the parameters"):
    dtype = weights[0].dtype
    for layer, (W, b) in enumerate(zip(weights, biases), 1):
        check(f"{what}' W{layer}", W, W.shape, dtype)
        check(f"{what}' b{layer}", b, (W.shape[1],), dtype)
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
        check("the flat gradient", gradient, (n_parameters(weights, biases),), dtype)
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


def check_buffers(buffers, n_rows, weights, with_workspace=True):
    """The buffers of `step_buffers` for at least n_rows rows and these layers."""
    d_W, d_b, hidden, d_hidden, workspace = buffers
    dtype = weights[0].dtype
    if not (len(d_W) == len(d_b) == len(weights) and len(hidden) == len(weights) - 1 and len(workspace) == 7):
        raise ValueError("the step buffers do not match the network's depth")
    for layer, W in enumerate(weights, 1):
        check(f"d_w{layer}", d_W[layer - 1], W.shape, dtype)
        check(f"d_b{layer}", d_b[layer - 1], (W.shape[1],), dtype)
    if hidden:
        rows = hidden[0].shape[0] if hidden[0].ndim == 2 else -1
    else:  # no hidden layers: the scratch holds the logits
        rows = d_hidden.size // weights[0].shape[1] if isinstance(d_hidden, np.ndarray) and d_hidden.ndim == 1 else -1
    if rows < n_rows:
        raise ValueError(f"the hidden buffers hold {rows} rows, the batch has {n_rows}")
    for layer, W in enumerate(weights[:-1], 1):
        check(f"hidden buffer {layer}", hidden[layer - 1], (rows, W.shape[1]), dtype)
    check("the inner scratch", d_hidden, (rows * _scratch_width(weights),), dtype)
    blocks = -(-(rows if with_workspace and len(weights) > 1 else 0) // ROW_BLOCK)
    (h, k) = weights[-1].shape if len(weights) > 1 else (0, 0)
    for name, array, shape, kind in zip(
            ("partial d_w", "partial d_b hidden", "partial d_b out", "block losses", "block flags",
             "block logits", "block d_hidden"), workspace,
            ((blocks, h, k), (blocks, h), (blocks, k), (blocks,), (blocks,), (ROW_BLOCK, k), (ROW_BLOCK, h)),
            (dtype, dtype, dtype, np.float64, np.bool_, dtype, dtype)):
        check(name, array, shape, kind)


@functools.lru_cache(maxsize=32)
def empty_state(dtype, n_layers):
    """The state of KEEP_GRADIENT, which reads and writes none: zero-size arrays, shared by every call."""
    empty_W = tuple(np.empty((0, 0), dtype) for _ in range(n_layers))
    empty_b = tuple(np.empty(0, dtype) for _ in range(n_layers))
    return empty_W, empty_W, empty_b, empty_b
