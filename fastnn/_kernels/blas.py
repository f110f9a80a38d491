"""Row-major GEMM callable from Numba kernels: c = alpha * op(a) @ op(b) + beta * c.

Numba's own np.dot exposes neither alpha and beta nor in-place accumulation; with them,
weight decay and the SGD step fold into the matrix products instead of costing extra
passes over the weights.

Which BLAS: the one `fastnn._blas_libraries` chooses (NumPy's OpenBLAS by default, Intel
MKL on an Intel CPU where it is installed, or one the user names). NumPy's is preferred
to SciPy's because the user's own NumPy code uses it: one thread pool instead of two.
Two OpenBLAS pools in one process take cores from each other (an idle pool spins for a
while after each call), which measured up to 10x slower calls when NumPy products and
fastnn alternate.

The routines are bound by symbol name (registered with LLVM on first use), not by
address, so kernels that call them can be cached on disk and reloaded in a new process,
and the same cached kernels call whichever library the process binds. Integers are
passed as 64-bit values: an ILP64 BLAS reads all eight bytes, an LP64 BLAS the first
four, which on a little-endian machine hold the same value.

The bound library's thread count is read and set through its own C functions
(`get_threads`, `set_threads`), so fastnn can limit it without threadpoolctl; the policy
lives in `fastnn._blas_threads`.
"""

import os
import sys

import llvmlite.binding as llvm
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .. import _blas_libraries
from .compile import kernel

_VOID_PTR = types.voidptr
# Fortran BLAS: every argument by reference.
# (transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
_SIGNATURE = types.void(*([_VOID_PTR] * 13))
_SGEMM = types.ExternalFunction("fastnn_sgemm", _SIGNATURE)
_DGEMM = types.ExternalFunction("fastnn_dgemm", _SIGNATURE)
_bound = None  # the `_blas_libraries.Library` bound, once bound
_bound_by = None  # how it was chosen, for show_config: "fastnn.use_blas('mkl')", "FASTNN_BLAS=mkl", ...


def _by_environment():
    name = os.environ.get(_blas_libraries.ENVIRONMENT_VARIABLE, "").strip()
    variable = _blas_libraries.ENVIRONMENT_VARIABLE
    return f"{variable}={name}" if name else f"auto, {variable} unset"


def _bind(library, bound_by):
    global _bound, _bound_by
    if sys.byteorder != "little":
        raise RuntimeError("fastnn's BLAS binding needs a little-endian machine")
    if library.prepare is not None:
        library.prepare()
    for name, address in zip(("sgemm", "dgemm"), library.gemm):
        llvm.add_symbol(f"fastnn_{name}", address)
    _bound, _bound_by = library, bound_by


def bind():
    """Register sgemm/dgemm of the chosen BLAS with LLVM (once); `fastnn._engine` calls it before any kernel runs.

    Returns the bound `_blas_libraries.Library`. The choice is `fastnn.use_blas`'s, else
    $FASTNN_BLAS's, else "auto"; a bad one raises ValueError here, at the first use.
    """
    if _bound is None:
        _bind(_blas_libraries.find(_blas_libraries.choice()), _by_environment())
    return _bound


def bound():
    """The `Library` bound, or None before the first use."""
    return _bound


def chosen():
    """(library, how it was chosen): the one bound, or the one the first use would bind (opened, not called)."""
    if _bound is not None:
        return _bound, _bound_by
    return _blas_libraries.find(_blas_libraries.choice()), _by_environment()


def use(name):
    """Bind the BLAS `name` chooses (see `fastnn.use_blas`); returns the bound `Library`.

    Once a library is bound, the kernels linked in this process call it: choosing
    another then raises RuntimeError. Choosing the one bound (by its name, its path, or
    "auto" where auto would choose it) is allowed.
    """
    source = "fastnn.use_blas"
    name = _blas_libraries.choice(name, source)
    if _bound is None:
        _bind(_blas_libraries.find(name, source), f"fastnn.use_blas({name!r})")
        return _bound
    wanted = _blas_libraries.auto_name() if name == "auto" else name
    if wanted == _bound.name or _blas_libraries.find(wanted, source).gemm == _bound.gemm:
        return _bound
    raise RuntimeError(f"fastnn already calls {_bound.description} in this process (chosen by {_bound_by}), and a "
                       "process calls one BLAS: choose it before fastnn's first fit, prediction or cost_grad, or set "
                       f"{_blas_libraries.ENVIRONMENT_VARIABLE} before Python starts")


def scipy_thread_functions():
    """(get, set) thread-count functions of SciPy's own OpenBLAS when it is not the BLAS fastnn binds, else None.

    SciPy's wheels bundle an OpenBLAS apart from NumPy's: scipy.optimize's L-BFGS-B
    does its vector work through it, with a thread pool of its own.
    """
    if bind().name == "scipy":
        return None
    return _blas_libraries.scipy_openblas_threads()


def get_threads():
    """The bound BLAS's thread count, or None if fastnn cannot control it (binding it if needed)."""
    threads = bind().threads
    return None if threads is None else threads[0]()


def set_threads(count):
    """Set the bound BLAS's thread count for the whole process (ignored if it cannot be controlled)."""
    threads = bind().threads
    if threads is not None:
        threads[1](int(count))


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
    """The Fortran gemm on C-contiguous arrays, in NumPy: plain Python's (NUMBA_DISABLE_JIT=1) twin of the overload.

    A C-contiguous array is the column-major matrix of its transpose, so the routine's
    A, B and C are a.T, b.T and c.T. With beta == 0, c is not read.
    """
    A = a.T.T if trans_a == _YES else a.T
    B = b.T.T if trans_b == _YES else b.T
    product = alpha * (A @ B)
    c.T[...] = product if beta == 0 else product + beta * c.T


@overload(_fortran_gemm)
def _fortran_gemm_overload(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    if c.dtype == types.float32:
        routine, scalar = _SGEMM, np.float32
    else:
        routine, scalar = _DGEMM, np.float64

    def impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        routine(
            _by_ref(trans_a), _by_ref(trans_b),
            _by_ref(np.int64(m)), _by_ref(np.int64(n)), _by_ref(np.int64(k)),
            _by_ref(scalar(alpha)), _data(a), _by_ref(np.int64(lda)),
            _data(b), _by_ref(np.int64(ldb)),
            _by_ref(scalar(beta)), _data(c), _by_ref(np.int64(ldc)),
        )

    return impl


_NO = np.uint8(ord("N"))
_YES = np.uint8(ord("T"))


@kernel(inline=True)  # a thin call: compiled on its own, each literal pair of flags would compile again
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

