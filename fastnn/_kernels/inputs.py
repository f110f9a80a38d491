"""The network's input X: a dense matrix, or rows of a CSR matrix, behind one interface.

Kernels reach X only through these functions. Each chooses its implementation from X's
Numba type when the calling kernel compiles (a 2-D array, or a `SparseRows`), so a
driver compiles once per kind of input, the dense one exactly as before (its products go
to BLAS), and a sparse X is never densified: its products visit its nonzeros only.
Twin: `fastnn.reference` takes a scipy.sparse X too (its products through scipy.sparse).
"""

import collections

import numpy as np
from numba import types

from .blas import _gemm
from .compile import dispatch

SparseRows = collections.namedtuple("SparseRows", "data indices indptr rows")
SparseRows.__doc__ = """Rows of a CSR matrix, as kernels take them.

data, indices, indptr: the CSR arrays (indices and indptr int64, checked by
`fastnn._inputs.CheckedSparse`); rows: int64 row numbers, the rows this value stands for,
in order (a batch's, a chunk's, or all of them).
"""


def _on_input(name, dense, sparse, position=0):
    """A function for kernels that runs `dense` or `sparse` by the type of its argument at `position` (`dispatch`).

    Compiled once per signature and linked into its callers (LLVM inlines it), not
    inlined at Numba's level: Numba's inlining at every call site cost a cold `fastnn
    train` 1.4 s of compilation; this way it costs none measurable.
    """
    return dispatch(name, lambda *kinds: dense if isinstance(kinds[position], types.Array) else sparse, dense)


def _dense_rows(X):
    return X.shape[0]


def _sparse_rows(X):
    return X.rows.shape[0]


_input_rows = _on_input("_input_rows", _dense_rows, _sparse_rows)
_input_rows.__doc__ = "The number of rows of X."


def _dense_times(X, W, out):
    _gemm(False, False, 1.0, X, W, 0.0, out)


def _sparse_times(X, W, out):
    out[:] = 0
    for i in range(X.rows.shape[0]):
        row, target = X.rows[i], out[i]
        for p in range(X.indptr[row], X.indptr[row + 1]):
            value, weights = X.data[p], W[X.indices[p]]
            for j in range(target.shape[0]):
                target[j] += value * weights[j]


_input_times = _on_input("_input_times", _dense_times, _sparse_times)
_input_times.__doc__ = "out = X W (out: a C-contiguous (rows, W's columns) matrix, written whole)."


def _dense_transpose_times(alpha, X, dZ, beta, out):
    _gemm(True, False, alpha, X, dZ, beta, out)


def _sparse_transpose_times(alpha, X, dZ, beta, out):
    dtype = out.dtype.type
    flat = out.ravel()
    if beta == 0:
        flat[:] = 0
    elif beta != 1:
        scale = dtype(beta)
        for i in range(flat.size):
            flat[i] *= scale
    a = dtype(alpha)
    for i in range(X.rows.shape[0]):
        row, d = X.rows[i], dZ[i]
        for p in range(X.indptr[row], X.indptr[row + 1]):
            value, target = a * X.data[p], out[X.indices[p]]
            for j in range(target.shape[0]):
                target[j] += value * d[j]


_input_transpose_times = _on_input("_input_transpose_times", _dense_transpose_times, _sparse_transpose_times, 1)
_input_transpose_times.__doc__ = ("out = alpha X^T dZ + beta out "
                                  "(out: a C-contiguous (X's columns, dZ's columns) matrix).")


def _dense_squares(X):
    total = 0.0
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            v = np.float64(X[i, j])
            total += v * v
    return total


def _sparse_squares(X):
    total = 0.0
    for i in range(X.rows.shape[0]):
        row = X.rows[i]
        for p in range(X.indptr[row], X.indptr[row + 1]):
            v = np.float64(X.data[p])
            total += v * v
    return total


_input_squares = _on_input("_input_squares", _dense_squares, _sparse_squares)
_input_squares.__doc__ = "The sum of the squares of X's entries (its rows'), in float64."


def _dense_batch(X, rows, X_batch):
    m = rows.shape[0]
    for i in range(m):
        row = rows[i]
        for j in range(X.shape[1]):  # not X_batch[i] = X[row]: its shape check compiles
            X_batch[i, j] = X[row, j]  # Numba's string formatting (3 s on a cold cache)
    return X_batch[:m]


def _sparse_batch(X, rows, X_batch):
    return SparseRows(X.data, X.indices, X.indptr, rows)


_input_batch = _on_input("_input_batch", _dense_batch, _sparse_batch)
_input_batch.__doc__ = """The given rows of the whole matrix X as a batch: for a dense X gathered into
X_batch (its first len(rows) rows, returned), for a sparse one the same nonzeros (X_batch unused)."""


def _dense_chunk(X, start, stop):
    return X[start:stop]


def _sparse_chunk(X, start, stop):
    return SparseRows(X.data, X.indices, X.indptr, X.rows[start:stop])


_input_chunk = _on_input("_input_chunk", _dense_chunk, _sparse_chunk)
_input_chunk.__doc__ = "Rows start to stop of X (a view)."
