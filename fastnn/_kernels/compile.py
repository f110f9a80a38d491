"""The decorator every kernel is made with: compile options, a safe on-disk cache, and a
cache stamp that covers every kernel source; no cyclic garbage collection while Numba
compiles a kernel; and `dispatch`, the one way a kernel chooses an implementation.

Numba keys a cached kernel by its own source file only. A kernel inlines what it calls
from other modules (the BLAS binding, the block pass, the constants of `fastnn._config`),
so an edit there would leave stale machine code in the cache. `kernel` stamps every
cache index with a digest of all the kernel sources instead: an edit to any of them
invalidates every kernel's cache.

Garbage collection: compiling builds millions of small Python objects (Numba's IR, its
types, llvmlite's IR), and Python's cyclic collector walks them again and again. With
the collector paused while a fastnn kernel compiles, a first `fastnn train` with an empty
cache took 6.4 s instead of 7.3 s, for about 70 MB more at its peak; the cycles are
collected once compilation ends. Loading a kernel from the cache is not compiling and
is left alone, and so is the compilation of other libraries' functions.
"""

import contextlib
import gc
import hashlib
import inspect
import os
import sys
import warnings

import numba
import numpy as np
from numba import njit
from numba.core import event
from numba.extending import overload

from .._config import PARALLEL, SERIAL
from .._numba_cache import make_race_free

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Everything compiled into a kernel comes from these files.
_SOURCES = ("_config.py", "_numba_cache.py", *(os.path.join("_kernels", name) for name in (
    "__init__.py", "compile.py", "status.py", "blas.py", "elementary.py", "activations.py", "outputs.py", "inputs.py",
    "block.py", "updates.py", "network.py", "predict.py", "workspaces.py")))


def _source_digest():
    digest = hashlib.sha256()
    for name in _SOURCES:
        with open(os.path.join(_PACKAGE, name), "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()[:16]


SOURCE_DIGEST = _source_digest()
_warned_no_cache = False
cache_folder = None  # where the kernels are cached (set as they are made); None: nowhere writable
# What compiling one configuration took on a 2-core AMD EPYC VM (docs/performance.md,
# "Compile and import time"): about 20 s for a first fit, up to about 16 s for each other
# configuration (a new activation or optimizer compiles nothing; a new depth, dtype,
# input or target kind compiles the drivers again).
COMPILE_TIME = "about 20 s on 2 cores"


class CompileWarning(Warning):
    """Issued once per process, when fastnn starts compiling kernels that are not in its cache.

    Compilation takes seconds, once per configuration and machine while the cache is
    writable. Silence it with ``warnings.filterwarnings("ignore", category=fastnn.CompileWarning)``.
    """


_INTERNAL = (os.path.dirname(numba.__file__), _PACKAGE, contextlib.__file__)  # Numba's events run in contextmanagers


def _caller_level():
    """The stacklevel of the first caller outside Numba, fastnn and scikit-learn (whose fit wraps fastnn's MLPs'):
    the warning names the user's line."""
    frame, level = sys._getframe(2), 2
    while frame is not None and (frame.f_code.co_filename.startswith(_INTERNAL)
                                 or f"{os.sep}sklearn{os.sep}" in frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def compile_notice():
    """The one-line notice of a compilation: how long it takes, and whether later processes will compile again."""
    if cache_folder is None:
        where = ("no cache folder is writable, so every new process compiles again (set NUMBA_CACHE_DIR to a "
                 "writable folder)")
    else:
        where = f"cached in {cache_folder} for later processes (`fastnn compile` compiles them ahead of time)"
    return f"fastnn is compiling its kernels for a new configuration ({COMPILE_TIME}); {where}"


class _Compilations(event.Listener):
    """Numba's "numba:compile" events (which nest: a kernel compiles the kernels it calls
    inside its own compilation), watched for two ends: the CompileWarning at the first
    compilation of a fastnn kernel in the process (a kernel loaded from the cache is not
    compiled and sends no event), and Python's cyclic garbage collector paused from the
    start to the end of the outermost compilation of a fastnn kernel.

    Numba compiles under one process-wide lock, so the events of two threads never
    interleave. The collector's state is restored as it was found, also when
    compilation fails.
    """

    def __init__(self):
        self.depth = 0
        self.paused = False  # whether this outermost compilation paused the collector
        self.notified = False  # whether the CompileWarning was issued in this process

    def on_start(self, ev):
        if self.depth == 0:
            dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
            if module.startswith("fastnn.") and not self.notified:
                self.notified = True  # before warning: a warnings filter of "error" raises here, once
                warnings.warn(compile_notice(), CompileWarning, stacklevel=_caller_level())
            self.paused = module.startswith("fastnn.") and gc.isenabled()
            if self.paused:
                gc.disable()
        self.depth += 1

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and self.paused:
            self.paused = False
            gc.enable()


compilations = _Compilations()
event.register("numba:compile", compilations)


def kernel(function=None, *, parallel=False, inline=False):
    """Compile `function` as a fastnn kernel (``@kernel``, ``@kernel(parallel=True)``, ``@kernel(inline=True)``).

    inline: its body goes into each kernel that calls it, at Numba's level, instead of
    being compiled on its own (each compilation of its own costs an LLVM pass over all
    the code linked below it; for a thin layer between kernels that is most of its
    cost).

    Serial kernels get `fastnn._config.SERIAL` options, parallel ones `PARALLEL`. The
    kernel is cached on disk when a cache location is writable, with the race-free
    cache file of `fastnn._numba_cache` and a stamp of all kernel sources; when none is
    writable it compiles in every process, and one warning says so.
    """
    if function is None:
        return lambda function: kernel(function, parallel=parallel, inline=inline)
    options = dict(PARALLEL if parallel else SERIAL, **({"inline": "always"} if inline else {}))
    try:
        dispatcher = njit(**options)(function)
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        if "cannot cache" not in str(error):
            raise
        _warn_no_cache(error)
        return njit(**dict(options, cache=False))(function)
    make_race_free(dispatcher, SOURCE_DIGEST)
    _warn_if_cache_moved(dispatcher)
    global cache_folder
    cache_folder = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    return dispatcher


_warned_cache_moved = False


def _warn_if_cache_moved(dispatcher):
    """Warn once when NUMBA_CACHE_DIR is set but Numba could not use it and cached elsewhere."""
    global _warned_cache_moved
    wanted = numba.config.CACHE_DIR
    path = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    if _warned_cache_moved or not wanted or path is None:
        return
    if not os.path.abspath(path).startswith(os.path.abspath(wanted)):
        _warned_cache_moved = True
        warnings.warn(f"NUMBA_CACHE_DIR={wanted} cannot be used (not a writable folder); fastnn's compiled kernels "
                      f"are cached in {path} instead", RuntimeWarning, stacklevel=4)


def _warn_no_cache(error):
    global _warned_no_cache
    if not _warned_no_cache:
        _warned_no_cache = True
        warnings.warn(f"fastnn cannot cache its compiled kernels ({error}); they compile in every process. "
                      "Set NUMBA_CACHE_DIR to a writable folder to cache them.", RuntimeWarning, stacklevel=3)


def run_in_python(overload_function, *args):
    """Run the implementation an overload gives for these arguments' Numba types, as plain Python.

    What the kernel-only helpers below do when called outside compiled code, as every
    kernel runs under NUMBA_DISABLE_JIT=1 (a debugger, line coverage of the kernels).
    """
    return overload_function(*(numba.typeof(arg) for arg in args))(*args)


def dispatch(name, choose, signature_of, inline=False):
    """A function for kernels whose implementation `choose` picks from its arguments' Numba types.

    The one way a kernel chooses between implementations: at compile time, from the
    types (a dense or a sparse input, a network with or without hidden layers), so each
    compiled kernel carries only the implementation its arguments need. choose(*types)
    returns a plain Python function (or a kernel) of the signature of `signature_of`.
    inline: the chosen body goes into each caller at Numba's level (for a thin layer,
    whose compilation of its own would cost a full LLVM pass over all the code linked
    below it); otherwise it compiles once per signature and is linked in. Called from
    plain Python (NUMBA_DISABLE_JIT=1), it runs the implementation the same choice gives.
    """
    signature = inspect.signature(_python_function(signature_of))

    def call(*args):
        return _python_function(choose(*(numba.typeof(arg) for arg in args)))(*args)

    call.__name__ = call.__qualname__ = name
    call.__signature__ = signature

    def _choose(*args):
        return _python_function(choose(*args))

    _choose.__signature__ = signature
    overload(call, **({"inline": "always"} if inline else {}))(_choose)
    return call


def _python_function(function):
    """A kernel's Python function (itself when NUMBA_DISABLE_JIT=1 leaves it uncompiled)."""
    return getattr(function, "py_func", function)


def one_like(z):
    """1 in the type of the scalar z, for kernels: a bare 1 would turn float32 arithmetic into float64."""
    return run_in_python(_one_like, z)


@overload(one_like)
def _one_like(z):
    one = np.dtype(str(z)).type(1)
    return lambda z: one


def half_largest_like(z):
    """Half the largest finite value of the scalar z's type, for kernels: two finite terms below it add up finite."""
    return run_in_python(_half_largest_like, z)


@overload(half_largest_like)
def _half_largest_like(z):
    half = float(np.finfo(np.dtype(str(z))).max) / 2
    return lambda z: half


def cast_like(z, value):
    """value converted to the type of the scalar z, for kernels."""
    return run_in_python(_cast_like, z, value)


@overload(cast_like)
def _cast_like(z, value):
    dtype = np.dtype(str(z)).type
    return lambda z, value: dtype(value)
