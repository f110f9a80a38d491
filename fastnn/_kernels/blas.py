"""Row-major GEMM callable from Numba kernels: c = alpha * op(a) @ op(b) + beta * c.

Numba's own np.dot exposes neither alpha and beta nor in-place accumulation; with them,
weight decay and the SGD step fold into the matrix products instead of costing extra
passes over the weights.

Which BLAS: the OpenBLAS bundled with NumPy's wheels when it can be found, else SciPy's
(the one Numba's np.dot uses). NumPy's is preferred because the user's own NumPy code
uses it: one thread pool instead of two. Two OpenBLAS pools in one process take cores
from each other (an idle pool spins for a while after each call), which measured up to
10x slower calls when NumPy products and fastnn alternate. NumPy's may also be the newer
build (on the 2-core development machine its sgemm was about 30% faster at 32 rows).

The routines are bound by symbol name (registered with LLVM on first use), not by
address, so kernels that call them can be cached on disk and reloaded in a new process.
Integers are passed as 64-bit values: an ILP64 BLAS (NumPy's) reads all eight bytes, an
LP64 BLAS (SciPy's) the first four, which on a little-endian machine hold the same value.

The bound OpenBLAS's thread count is read and set through its own C functions
(`get_threads`, `set_threads`), so fastnn can limit it without threadpoolctl; the policy
lives in `fastnn._blas_threads`.
"""

import ctypes
import glob
import os
import sys

import llvmlite.binding as llvm
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic, overload

from .compile import kernel

_VOID_PTR = types.voidptr
# Fortran BLAS: every argument by reference.
# (transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
_SIGNATURE = types.void(*([_VOID_PTR] * 13))
_SGEMM = types.ExternalFunction("fastnn_sgemm", _SIGNATURE)
_DGEMM = types.ExternalFunction("fastnn_dgemm", _SIGNATURE)
_bound = None  # the name of the BLAS bound, once bound
_threads = None  # its (get, set) thread-count functions, if it exports them


def _openblas_in(folder_patterns, routine_patterns, thread_patterns):
    """(gemm addresses, thread functions) of the first OpenBLAS library found, or None.

    The thread functions are (get, set) ctypes functions of OpenBLAS's C API, or None
    if the library does not export them.
    """
    paths = [path for pattern in folder_patterns for path in glob.glob(pattern)]
    for path in paths:
        try:
            library = ctypes.CDLL(path)  # already loaded by NumPy or SciPy: the same instance and pool
        except OSError:
            continue
        for pattern in routine_patterns:
            try:
                addresses = tuple(ctypes.cast(getattr(library, pattern.format(name)), ctypes.c_void_p).value
                                  for name in ("sgemm", "dgemm"))
            except AttributeError:
                continue
            return addresses, _thread_functions(library, thread_patterns)
    return None


def _thread_functions(library, patterns):
    for get_name, set_name in patterns:
        try:
            get, set_ = getattr(library, get_name), getattr(library, set_name)
        except AttributeError:
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        return get, set_
    return None


def _numpy_openblas():
    """(sgemm and dgemm addresses, thread functions) of the OpenBLAS bundled with NumPy's wheels, or None."""
    folder = os.path.dirname(np.__file__)
    return _openblas_in(
        (os.path.join(folder, os.pardir, "numpy.libs", "*openblas*"), os.path.join(folder, ".dylibs", "*openblas*")),
        ("scipy_{}_64_", "{}_64_"),
        (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
         ("openblas_get_num_threads64_", "openblas_set_num_threads64_")))


def _scipy_openblas_threads():
    """The thread functions of the OpenBLAS bundled with SciPy's wheels, or None."""
    import scipy

    folder = os.path.dirname(scipy.__file__)
    found = _openblas_in(
        (os.path.join(folder, os.pardir, "scipy.libs", "*openblas*"), os.path.join(folder, ".dylibs", "*openblas*")),
        ("scipy_{}_", "{}_"),
        (("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
         ("openblas_get_num_threads", "openblas_set_num_threads")))
    return None if found is None else found[1]


def bind():
    """Register sgemm/dgemm with LLVM (once); `fastnn._engine` calls it before any kernel runs.

    Returns a short description of the BLAS bound.
    """
    global _bound, _threads
    if _bound is None:
        if sys.byteorder != "little":
            raise RuntimeError("fastnn's BLAS binding needs a little-endian machine")
        found = _numpy_openblas()
        if found is None:
            addresses = tuple(get_cython_function_address("scipy.linalg.cython_blas", name)
                              for name in ("sgemm", "dgemm"))
            threads, bound = _scipy_openblas_threads(), "SciPy's BLAS"
        else:
            (addresses, threads), bound = found, "NumPy's OpenBLAS"
        for name, address in zip(("sgemm", "dgemm"), addresses):
            llvm.add_symbol(f"fastnn_{name}", address)
        _bound, _threads = bound, threads
    return _bound


def scipy_thread_functions():
    """(get, set) thread-count functions of SciPy's own OpenBLAS when it is not the BLAS fastnn binds, else None.

    SciPy's wheels bundle an OpenBLAS apart from NumPy's: scipy.optimize's L-BFGS-B
    does its vector work through it, with a thread pool of its own.
    """
    if bind() == "SciPy's BLAS":
        return None
    return _scipy_openblas_threads()


def get_threads():
    """The bound BLAS's thread count, or None if fastnn cannot control it (binding it if needed)."""
    bind()
    return None if _threads is None else _threads[0]()


def set_threads(count):
    """Set the bound BLAS's thread count for the whole process (ignored if it cannot be controlled)."""
    bind()
    if _threads is not None:
        _threads[1](int(count))


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

