"""The arrays compiled code writes, laid out and checked on the Python side.

Kernels trust shapes (a wrong one writes past an array's end), so every array a kernel
writes is either laid out here, new, from shapes already checked, or, when it lives on
between calls (a Trainer's parameters, optimizer state and buffers, which a caller can
replace), checked here for shape, dtype and layout before every call.
"""

import functools

import numpy as np

from ._config import ROW_BLOCK
from ._kernels.workspaces import BlockWorkspace, StepBuffers


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


def _block_layout(n_rows, h, k, dtype):
    """The shape and dtype of each array of a `BlockWorkspace` for n_rows rows, h hidden units and k outputs."""
    blocks = -(-n_rows // ROW_BLOCK)
    return BlockWorkspace(
        d_w_out_partial=((blocks, h, k), dtype), d_b_hidden_partial=((blocks, h), dtype),
        d_b_out_partial=((blocks, k), dtype), losses=((blocks,), np.dtype(np.float64)),
        flags=((blocks,), np.dtype(np.bool_)), logits=((ROW_BLOCK, k), dtype), d_hidden=((ROW_BLOCK, h), dtype))


def block_workspace(n_rows, W_out):
    """The serial block pass's `BlockWorkspace` on up to n_rows rows, for the output layer W_out (h, k)."""
    return BlockWorkspace(*(np.empty(shape, dtype) for shape, dtype in _block_layout(n_rows, *W_out.shape,
                                                                                     W_out.dtype)))


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
    """The `StepBuffers` one batch of up to n_rows rows needs.

    Gradients shaped like the parameters (views of `gradient`, a flat buffer of
    `n_parameters` entries, if given), one (n_rows, h_l) buffer per hidden layer, a flat
    scratch for the widest inner layer (the logits, for a network without hidden
    layers), and the block pass's workspace (for 0 rows if not `with_workspace`: the
    parallel pass allocates its own; empty without hidden layers).
    """
    dtype = weights[0].dtype
    if gradient is None:
        d_W, d_b = tuple(np.empty_like(W) for W in weights), tuple(np.empty_like(b) for b in biases)
    else:
        check("the flat gradient", gradient, (n_parameters(weights, biases),), dtype)
        d_W, d_b = layer_views(gradient, weights, biases)
    return StepBuffers(
        d_W=d_W, d_b=d_b, hidden=tuple(np.empty((n_rows, W.shape[1]), dtype) for W in weights[:-1]),
        scratch=np.empty(n_rows * _scratch_width(weights), dtype),
        block=block_workspace(n_rows if with_workspace and len(weights) > 1 else 0, _output_layer(weights)))


def _output_layer(weights):
    """The output layer the block pass works around: an empty one without hidden layers (no block pass)."""
    return weights[-1] if len(weights) > 1 else np.empty((0, 0), weights[0].dtype)


def check_buffers(buffers, n_rows, weights, with_workspace=True):
    """The `StepBuffers` of `step_buffers` for at least n_rows rows and these layers."""
    dtype = weights[0].dtype
    if not (isinstance(buffers, StepBuffers) and isinstance(buffers.block, BlockWorkspace)
            and len(buffers.d_W) == len(buffers.d_b) == len(weights) and len(buffers.hidden) == len(weights) - 1):
        raise ValueError("the step buffers do not match the network's depth")
    for layer, W in enumerate(weights, 1):
        check(f"d_w{layer}", buffers.d_W[layer - 1], W.shape, dtype)
        check(f"d_b{layer}", buffers.d_b[layer - 1], (W.shape[1],), dtype)
    hidden, scratch = buffers.hidden, buffers.scratch
    if hidden:
        rows = hidden[0].shape[0] if hidden[0].ndim == 2 else -1
    else:  # no hidden layers: the scratch holds the logits
        rows = scratch.size // weights[0].shape[1] if isinstance(scratch, np.ndarray) and scratch.ndim == 1 else -1
    if rows < n_rows:
        raise ValueError(f"the hidden buffers hold {rows} rows, the batch has {n_rows}")
    for layer, W in enumerate(weights[:-1], 1):
        check(f"hidden buffer {layer}", hidden[layer - 1], (rows, W.shape[1]), dtype)
    check("the inner scratch", scratch, (rows * _scratch_width(weights),), dtype)
    W_out = _output_layer(weights)
    layout = _block_layout(rows if with_workspace and len(weights) > 1 else 0, *W_out.shape, dtype)
    for name, array, (shape, kind) in zip(BlockWorkspace._fields, buffers.block, layout):
        check(f"the block workspace's {name}", array, shape, kind)


@functools.lru_cache(maxsize=32)
def empty_state(dtype, n_layers):
    """The state of KEEP_GRADIENT, which reads and writes none: zero-size arrays, shared by every call."""
    empty_W = tuple(np.empty((0, 0), dtype) for _ in range(n_layers))
    empty_b = tuple(np.empty(0, dtype) for _ in range(n_layers))
    return empty_W, empty_W, empty_b, empty_b
