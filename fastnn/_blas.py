"""Row-major GEMM callable from Numba kernels: c = alpha * op(a) @ op(b) + beta * c.

Numba's own np.dot calls the same BLAS (SciPy's), but exposes neither alpha and beta nor
in-place accumulation; with them, weight decay and the SGD step fold into the matrix
products instead of costing extra passes over the weights.

The BLAS routines are bound by symbol name (registered with LLVM on first use), not by
address, so kernels that call them can be cached on disk and reloaded in a new process.
"""

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic, overload

from ._config import SERIAL

_VOID_PTR = types.voidptr
# Fortran BLAS: every argument by reference.
# (transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
_SIGNATURE = types.void(*([_VOID_PTR] * 13))
_SGEMM = types.ExternalFunction("fastnn_sgemm", _SIGNATURE)
_DGEMM = types.ExternalFunction("fastnn_dgemm", _SIGNATURE)
_bound = False


def bind():
    """Register SciPy's sgemm/dgemm with LLVM; call before any kernel that uses `_gemm` runs."""
    global _bound
    if not _bound:
        for name in ("sgemm", "dgemm"):
            address = get_cython_function_address("scipy.linalg.cython_blas", name)
            llvm.add_symbol(f"fastnn_{name}", address)
        _bound = True


@intrinsic
def _by_ref(typingctx, value):
    """A pointer to a stack copy of a scalar."""

    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once_value(builder, args[0])
        return builder.bitcast(slot, cgutils.voidptr_t)

    return _VOID_PTR(value), codegen


@intrinsic
def _data(typingctx, array):
    """A pointer to an array's first element."""

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.bitcast(view.data, cgutils.voidptr_t)

    return _VOID_PTR(array), codegen


def _fortran_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    raise NotImplementedError("only callable from Numba kernels")


@overload(_fortran_gemm)
def _fortran_gemm_overload(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    if c.dtype == types.float32:
        routine, scalar = _SGEMM, np.float32
    else:
        routine, scalar = _DGEMM, np.float64

    def impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        routine(
            _by_ref(trans_a), _by_ref(trans_b),
            _by_ref(np.int32(m)), _by_ref(np.int32(n)), _by_ref(np.int32(k)),
            _by_ref(scalar(alpha)), _data(a), _by_ref(np.int32(lda)),
            _data(b), _by_ref(np.int32(ldb)),
            _by_ref(scalar(beta)), _data(c), _by_ref(np.int32(ldc)),
        )

    return impl


_NO = np.uint8(ord("N"))
_YES = np.uint8(ord("T"))


@njit(**SERIAL)
def _gemm(trans_a, trans_b, alpha, a, b, beta, c):
    """c = alpha * op(a) @ op(b) + beta * c, op transposing where the flag is True.

    All arrays C-contiguous and of one dtype (float32 or float64); shapes are the
    caller's responsibility. With beta == 0, c need not be initialised.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    # A row-major matrix is its column-major transpose: c^T = op(b)^T op(a)^T.
    _fortran_gemm(
        _YES if trans_b else _NO, _YES if trans_a else _NO,
        n, m, k, alpha, b, max(b.shape[1], 1), a, max(a.shape[1], 1), beta, c, n,
    )
