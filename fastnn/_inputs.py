"""The network's input on the Python side: a dense array, or a checked CSR matrix.

Kernels index with a sparse matrix's indices and indptr, so a sparse input reaches them
only as a `CheckedSparse` (structure checked, nonzeros copied); a dense one as a
C-contiguous array of the model's dtype. Their kernel side is `fastnn._kernels.inputs`.
"""

import numpy as np

from ._kernels.inputs import SparseRows


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


def input_fits(X, n_features, dtype):
    """Whether X is an input the kernels can take for n_features features in dtype."""
    if isinstance(X, CheckedSparse):
        return X.dtype == dtype and X.shape[1] == n_features
    return (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == dtype and X.flags.c_contiguous
            and X.shape[1] == n_features)


def kernel_input(X):
    """What a kernel takes for X: the array itself, or the rows of a CheckedSparse."""
    return X.rows() if isinstance(X, CheckedSparse) else X
