"""The BLAS libraries fastnn's kernels can call, and the choice among them.

A library is found by where its package installs it and opened with ctypes; fastnn
needs its Fortran sgemm and dgemm (whose addresses `fastnn._kernels.blas` registers with
LLVM, so that cached kernels call whichever library this process chose) and, to apply
its thread policy, the library's get/set functions for its thread count.

| name       | library                                       | found when                          |
| ---------- | --------------------------------------------- | ----------------------------------- |
| "openblas" | the OpenBLAS bundled with NumPy's wheels      | NumPy came from a wheel             |
| "mkl"      | Intel MKL's libmkl_rt (the `mkl` wheel)       | ``pip install "fastnn-numba[mkl]"`` |
| "scipy"    | SciPy's BLAS (the one Numba's np.dot calls)   | always                              |
| a path     | any shared library exporting sgemm_ / dgemm_  | the file loads and exports them     |

"auto" (the default) takes MKL on an Intel CPU where it is installed, else NumPy's
OpenBLAS, else SciPy's. The rule follows measurements: on an Intel Xeon (Sapphire
Rapids) MKL's products ran 1.1x-1.7x faster than OpenBLAS's at the kernels' shapes; on an
AMD EPYC (Zen 3) MKL's float64 products ran slower and its float32 ones no faster
(docs/performance.md, "BLAS libraries"; `fastnn bench --blas` measures the machine at
hand). The environment variable FASTNN_BLAS, or `fastnn.use_blas` before the first
compiled call, chooses otherwise.
"""

import collections
import ctypes
import glob
import importlib.metadata
import os
import platform
import sys

import numpy as np

__all__ = ["ENVIRONMENT_VARIABLE", "NAMES", "Library", "choice", "chosen_by", "find", "installed"]

ENVIRONMENT_VARIABLE = "FASTNN_BLAS"
NAMES = ("auto", "openblas", "mkl", "scipy")

Library = collections.namedtuple("Library", "name description gemm threads")
Library.__doc__ = """A BLAS library fastnn can call.

name : str
    "openblas", "mkl", "scipy" or the path given.
description : str
    How `show_config` and the benchmarks name it.
gemm : (int, int)
    The addresses of its Fortran sgemm and dgemm (every argument by reference).
threads : (get, set) or None
    ctypes functions reading and setting its thread count, or None where it exports none.
"""

# Symbol names, the ILP64 ones first: fastnn passes 64-bit integers, which an LP64
# library reads correctly too (their first four bytes, on a little-endian machine).
_GEMM_SYMBOLS = ("{}_64_", "scipy_{}_64_", "{}_", "scipy_{}_")
# (get, set, integer type) of the thread-count functions of OpenBLAS (as NumPy's and
# SciPy's wheels name them, and plain), MKL and BLIS.
_THREAD_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_", ctypes.c_int),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_", ctypes.c_int),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads", ctypes.c_int),
    ("openblas_get_num_threads", "openblas_set_num_threads", ctypes.c_int),
    ("MKL_Get_Max_Threads", "MKL_Set_Num_Threads", ctypes.c_int),
    ("bli_thread_get_num_threads", "bli_thread_set_num_threads", ctypes.c_int64),
)
_MKL_THREADING_INTEL = 0  # MKL_Set_Threading_Layer's code for Intel's OpenMP runtime


def _gemm_addresses(library):
    """(sgemm, dgemm) addresses of an opened library, or None if it exports neither naming."""
    for pattern in _GEMM_SYMBOLS:
        try:
            return tuple(ctypes.cast(getattr(library, pattern.format(name)), ctypes.c_void_p).value
                         for name in ("sgemm", "dgemm"))
        except AttributeError:
            continue
    return None


def _thread_functions(library):
    for get_name, set_name, integer in _THREAD_SYMBOLS:
        try:
            get, set_ = getattr(library, get_name), getattr(library, set_name)
        except AttributeError:
            continue
        get.restype, get.argtypes = integer, []
        set_.restype, set_.argtypes = None, [integer]
        return get, set_
    return None


def _first_library(patterns):
    """The first file matching the glob patterns that loads, opened, or None."""
    for path in (path for pattern in patterns for path in sorted(glob.glob(pattern))):
        try:
            return ctypes.CDLL(path)  # already loaded by NumPy or SciPy: the same instance and thread pool
        except OSError:
            continue
    return None


def _wheel_openblas(package):
    """(gemm, threads) of the OpenBLAS bundled with a package's wheels (numpy, scipy), or None."""
    folder = os.path.dirname(package.__file__)
    library = _first_library((os.path.join(folder, os.pardir, f"{package.__name__}.libs", "*openblas*"),
                              os.path.join(folder, ".dylibs", "*openblas*")))
    gemm = None if library is None else _gemm_addresses(library)
    return None if gemm is None else (gemm, _thread_functions(library))


def _numpy_openblas():
    found = _wheel_openblas(np)
    return None if found is None else Library("openblas", "NumPy's OpenBLAS", *found)


def _scipy_blas():
    import scipy
    from numba.extending import get_cython_function_address

    gemm = tuple(get_cython_function_address("scipy.linalg.cython_blas", name) for name in ("sgemm", "dgemm"))
    found = _wheel_openblas(scipy)
    return Library("scipy", "SciPy's BLAS", gemm, None if found is None else found[1])


def scipy_openblas_threads():
    """The (get, set) thread-count functions of the OpenBLAS bundled with SciPy's wheels, or None."""
    import scipy

    found = _wheel_openblas(scipy)
    return None if found is None else found[1]


def _mkl_library():
    """MKL's single dynamic library (the `mkl` wheel installs it under sys.prefix), opened, or None."""
    return _first_library((os.path.join(sys.prefix, "lib", "libmkl_rt.so*"),
                           os.path.join(sys.prefix, "lib", "libmkl_rt*.dylib"),
                           os.path.join(sys.prefix, "Library", "bin", "mkl_rt*.dll")))


def _mkl():
    """MKL on Intel's OpenMP runtime, or None where the `mkl` wheel is not installed.

    Intel's OpenMP, not GNU's: a fork child of a process whose GNU OpenMP threads ran
    hangs at its first parallel region; Intel's starts afresh in the child. Its threads
    sleep at once after each product (KMP_BLOCKTIME=0, unless the user set it) instead
    of spinning for 200 ms against the threads of NumPy's OpenBLAS and Numba: on 2
    cores, alternating fastnn's products on MKL with NumPy's took 1.8x-2.0x the time of
    both alone with the default, 1.2x with 0 (docs/performance.md, "BLAS libraries").
    """
    library = _mkl_library()
    if library is None:
        return None
    os.environ.setdefault("KMP_BLOCKTIME", "0")  # read when Intel's OpenMP starts, at MKL's first threaded product
    library.MKL_Set_Threading_Layer.restype = ctypes.c_int
    library.MKL_Set_Threading_Layer(ctypes.c_int(_MKL_THREADING_INTEL))  # before any other MKL call
    try:
        version = " " + importlib.metadata.version("mkl")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return Library("mkl", f"Intel MKL{version}", _gemm_addresses(library), _thread_functions(library))


def _named_file(path):
    """The library at a path the user gave; ValueError if it does not load or exports no sgemm/dgemm."""
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}: cannot load {path!r} as a BLAS library: {error}") from None
    gemm = _gemm_addresses(library)
    if gemm is None:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}: {path!r} exports no Fortran sgemm/dgemm "
                         f"(looked for {', '.join(pattern.format('sgemm') for pattern in _GEMM_SYMBOLS)})")
    return Library(path, f"{os.path.basename(path)} (named by the user)", gemm, _thread_functions(library))


_FINDERS = {"openblas": _numpy_openblas, "mkl": _mkl, "scipy": _scipy_blas}


def _intel_cpu():
    """Whether the CPU is Intel's (Linux: /proc/cpuinfo's vendor; elsewhere the processor's name)."""
    try:
        with open("/proc/cpuinfo") as file:
            return "GenuineIntel" in file.read(4096)
    except OSError:
        return "Intel" in platform.processor()


def installed():
    """The names of the BLAS libraries fastnn finds in this environment, in the order of the table."""
    # MKL is only looked for: opening it for use sets its threading layer and KMP_BLOCKTIME.
    present = {"openblas": lambda: _wheel_openblas(np) is not None, "mkl": lambda: _mkl_library() is not None,
               "scipy": lambda: True}
    return [name for name in _FINDERS if present[name]()]


def choice(name=None):
    """The BLAS choice in force: `name`, else $FASTNN_BLAS, else "auto"; ValueError for an unknown name.

    A name is one of `NAMES` or a path to a shared library (it contains a path separator).
    """
    if name is None:
        name = os.environ.get(ENVIRONMENT_VARIABLE, "").strip() or "auto"
    if not isinstance(name, str):
        raise TypeError(f"the BLAS must be named by a string, not {type(name).__name__}")
    if name not in NAMES and os.sep not in name and "/" not in name:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}: unknown BLAS {name!r}: choose one of {', '.join(NAMES)}, "
                         "or give the path of a shared library that exports sgemm_ and dgemm_")
    return name


def chosen_by():
    """How the choice in force was made, for `show_config`: "FASTNN_BLAS=mkl" or "auto, FASTNN_BLAS unset"."""
    name = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return f"{ENVIRONMENT_VARIABLE}={name}" if name else f"auto, {ENVIRONMENT_VARIABLE} unset"


def find(name):
    """The `Library` a choice names; ValueError if it is not installed or not a BLAS library."""
    if name == "auto":
        mkl = _mkl() if _intel_cpu() else None
        return mkl or _numpy_openblas() or _scipy_blas()
    if name in _FINDERS:
        library = _FINDERS[name]()
        if library is None:
            hint = ' (pip install "fastnn-numba[mkl]")' if name == "mkl" else ""
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: the BLAS {name!r} is not installed{hint}")
        return library
    return _named_file(name)
