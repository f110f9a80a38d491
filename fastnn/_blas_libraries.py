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

__all__ = ["ENVIRONMENT_VARIABLE", "NAMES", "Library", "auto_name", "choice", "find", "installed"]

ENVIRONMENT_VARIABLE = "FASTNN_BLAS"
NAMES = ("auto", "openblas", "mkl", "scipy")

Library = collections.namedtuple("Library", "name description gemm threads prepare", defaults=(None,))
Library.__doc__ = """A BLAS library fastnn can call.

name : str
    "openblas", "mkl", "scipy" or the path given.
description : str
    How `show_config` and the benchmarks name it.
gemm : (int, int)
    The addresses of its Fortran sgemm and dgemm (every argument by reference).
threads : (get, set) or None
    ctypes functions reading and setting its thread count, or None where it exports none.
prepare : callable or None
    What must happen once before the library's first call (MKL: its threading layer),
    run when fastnn binds it, so that looking at a library changes nothing.
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


def _first_path(patterns):
    """The first file matching the glob patterns, or None."""
    return next((path for pattern in patterns for path in sorted(glob.glob(pattern))), None)


def _open(path):
    try:
        return ctypes.CDLL(path)  # already loaded by NumPy or SciPy: the same instance and thread pool
    except OSError:
        return None


def _wheel_openblas_path(package):
    folder = os.path.dirname(package.__file__)
    return _first_path((os.path.join(folder, os.pardir, f"{package.__name__}.libs", "*openblas*"),
                        os.path.join(folder, ".dylibs", "*openblas*")))


def _wheel_openblas(package):
    """(gemm, threads) of the OpenBLAS bundled with a package's wheels (numpy, scipy), or None."""
    path = _wheel_openblas_path(package)
    library = None if path is None else _open(path)
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


def _mkl_path():
    """The file of MKL's single dynamic library, libmkl_rt, as the `mkl` wheel installed it, or None.

    The wheel's files name it wherever pip put it (a virtual environment's lib/, a --user
    or --target install); sys.prefix's lib/ covers conda's MKL.
    """
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.startswith(("libmkl_rt.so", "libmkl_rt.", "mkl_rt.")) and os.path.exists(file.locate()):
            return str(file.locate())
    return _first_path((os.path.join(sys.prefix, "lib", "libmkl_rt.so*"),
                        os.path.join(sys.prefix, "lib", "libmkl_rt*.dylib"),
                        os.path.join(sys.prefix, "Library", "bin", "mkl_rt*.dll")))


def _mkl():
    """MKL, to be run on Intel's OpenMP runtime, or None where the `mkl` wheel is not installed.

    Opening it calls nothing in it; binding it (`Library.prepare`) chooses Intel's
    OpenMP, not GNU's: a fork child of a process whose GNU OpenMP threads ran hangs at
    its first parallel region, Intel's starts afresh in the child. Its threads sleep at
    once after each product (KMP_BLOCKTIME=0, unless the user set it) instead of
    spinning for 200 ms against the threads of NumPy's OpenBLAS and Numba: on 2 cores,
    alternating fastnn's products on MKL with NumPy's took 1.8x-2.0x the time of both
    alone with the default, 1.2x with 0 (docs/performance.md, "BLAS libraries").
    """
    path = _mkl_path()
    library = None if path is None else _open(path)
    if library is None:
        return None

    def prepare():
        os.environ.setdefault("KMP_BLOCKTIME", "0")  # read when Intel's OpenMP starts, at the first threaded call
        library.MKL_Set_Threading_Layer.restype = ctypes.c_int
        library.MKL_Set_Threading_Layer(ctypes.c_int(_MKL_THREADING_INTEL))  # before any other MKL call

    try:
        version = " " + importlib.metadata.version("mkl")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return Library("mkl", f"Intel MKL{version}", _gemm_addresses(library), _thread_functions(library), prepare)


def _named_file(path, source=ENVIRONMENT_VARIABLE):
    """The library at a path the user gave; ValueError if it does not load or exports no sgemm/dgemm."""
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        raise ValueError(f"{source}: cannot load {path!r} as a BLAS library: {error}") from None
    gemm = _gemm_addresses(library)
    if gemm is None:
        raise ValueError(f"{source}: {path!r} exports no Fortran sgemm/dgemm "
                         f"(looked for {', '.join(pattern.format('sgemm') for pattern in _GEMM_SYMBOLS)})")
    return Library(path, f"{os.path.basename(path)} (named by the user)", gemm, _thread_functions(library))


_FINDERS = {"openblas": _numpy_openblas, "mkl": _mkl, "scipy": _scipy_blas}
# Whether a library is installed, looked for without opening it.
_PRESENT = {"openblas": lambda: _wheel_openblas_path(np) is not None, "mkl": lambda: _mkl_path() is not None,
            "scipy": lambda: True}


def _intel_cpu():
    """Whether the CPU is Intel's (Linux: /proc/cpuinfo's vendor; elsewhere the processor's name)."""
    try:
        with open("/proc/cpuinfo") as file:
            return "GenuineIntel" in file.read(4096)
    except OSError:
        return "Intel" in platform.processor()


def installed():
    """The names of the BLAS libraries fastnn finds in this environment, in the order of the table (none opened)."""
    return [name for name in _FINDERS if _PRESENT[name]()]


def auto_name():
    """The name "auto" stands for here: "mkl" on an Intel CPU where MKL is installed, else "openblas", else "scipy"."""
    if _intel_cpu() and _PRESENT["mkl"]():
        return "mkl"
    return "openblas" if _PRESENT["openblas"]() else "scipy"


def choice(name=None, source=ENVIRONMENT_VARIABLE):
    """The BLAS choice in force: `name`, else $FASTNN_BLAS, else "auto", normalised; ValueError if unknown.

    A name is one of `NAMES` in any case, or a path to a shared library (one that
    contains a path separator, made absolute, so that a child process started elsewhere
    finds it too). `source` names where the name came from in the error.
    """
    if name is None:
        name, source = os.environ.get(ENVIRONMENT_VARIABLE, ""), ENVIRONMENT_VARIABLE
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise TypeError(f"{source}: the BLAS must be named by a string or a path, not {type(name).__name__}")
    name = name.strip() or "auto"
    if name.lower() in NAMES:
        return name.lower()
    if os.sep in name or "/" in name:
        return os.path.abspath(os.path.expanduser(name))
    raise ValueError(f"{source}: unknown BLAS {name!r}: choose one of {', '.join(NAMES)}, or give the path of a "
                     "shared library that exports sgemm_ and dgemm_")


def find(name, source=ENVIRONMENT_VARIABLE):
    """The `Library` a normalised choice names, opened (nothing in it called); ValueError if it is not
    installed or not a BLAS library."""
    if name == "auto":
        name = auto_name()
    if name in _FINDERS:
        library = _FINDERS[name]()
        if library is None:
            hint = ' (pip install "fastnn-numba[mkl]")' if name == "mkl" else ""
            raise ValueError(f"{source}: the BLAS {name!r} is not installed{hint}")
        return library
    return _named_file(name, source)
