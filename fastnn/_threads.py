"""Readiness and threads: BLAS bound once, Numba's threading layer started only for the
driver that can use it, parallel launches on no more threads than the CPUs the process
may use and guarded where Numba's threading layer is not thread-safe, and fork children
kept off a GNU OpenMP layer they cannot run.
"""

import contextlib
import os
import threading

import numba

from . import _blas_threads
from ._config import PARALLEL_MIN_CORES, PARALLEL_MIN_ROWS
from ._kernels import blas
from ._numba_cache import start_threading_layer

_threads_started = False


def ready(threads=False):
    """Bind BLAS (once); with `threads`, also start Numba's threading layer (once).

    Only cost_grad's parallel driver reaches a parallel kernel, and a cached kernel that
    calls one needs the layer started first (see `fastnn._numba_cache`). Nothing else
    starts it, so its idle threads never compete with BLAS's: not during training, and
    not on machines where the parallel pass is never chosen (`use_parallel`).
    """
    global _threads_started
    blas.bind()
    if threads and not _threads_started:
        start_threading_layer()
        _threads_started = True


_parallel_lock = threading.Lock()
_safe_layer = None  # True/False once Numba has chosen its threading layer


def threading_layer():
    """Numba's threading layer ("omp", "tbb" or "workqueue"), or None while it is not started."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return None


def _layer_is_thread_safe():
    global _safe_layer
    if _safe_layer is None:
        layer = threading_layer()
        if layer is None:
            return False
        _safe_layer = layer in ("tbb", "omp")
    return _safe_layer


def run_parallel(kernel, *args):
    """Call a kernel that launches Numba's threads, on no more of them than the CPUs the process may use.

    Numba sizes its pool from the machine (NUMBA_NUM_THREADS); under taskset or a
    container's CPU quota more threads would only take turns on fewer CPUs, so the launch
    uses at most `_blas_threads.cpu_budget()` (numba.set_num_threads is per calling
    thread; the count is restored after). Numba's workqueue layer is not thread-safe: two
    Python threads launching parallel kernels at once abort the process. Until Numba has
    chosen its layer, and whenever it chose workqueue, launches hold a process-wide lock.
    Numba's configuration is never changed.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(previous, _blas_threads.cpu_budget())))
    try:
        if _layer_is_thread_safe():
            return kernel(*args)
        with _parallel_lock:
            return kernel(*args)
    finally:
        numba.set_num_threads(previous)


_omp_unusable = False  # True in a fork child of a process that had started GNU OpenMP


def _after_fork_in_child():
    """GNU OpenMP is not fork-safe: Numba's omp layer kills a fork child that launches a
    parallel region once the parent had started the layer ("fork() called from a process
    already using GNU OpenMP"). Such a child runs the serial block pass, which gives the
    same bits. Spawned and forkserver children are fresh processes and keep their threads.
    """
    global _omp_unusable
    _omp_unusable = _omp_unusable or threading_layer() == "omp"


os.register_at_fork(after_in_child=_after_fork_in_child)


def parallel_unavailable():
    """Why the parallel block pass cannot run in this process (a short phrase), or None if it can.

    Never starts Numba's threading layer: it reads NUMBA_NUM_THREADS, not the count
    numba.set_num_threads may have lowered (`use_parallel` reads that).
    """
    if _omp_unusable:
        return "a fork child of a process that started GNU OpenMP"
    cpus = min(_blas_threads.cpu_budget(), numba.config.NUMBA_NUM_THREADS)
    if cpus <= PARALLEL_MIN_CORES:
        return f"{cpus} CPUs or Numba threads, it needs more than {PARALLEL_MIN_CORES}"
    return None


def use_parallel(n_rows):
    """Whether cost_grad's block pass over n_rows rows runs on Numba's threads (see `fastnn._config`).

    Counts the threads this thread may use (NUMBA_NUM_THREADS, numba.set_num_threads),
    never more than the CPUs the process may use (`_blas_threads.cpu_budget`). Never in
    a fork child where Numba's OpenMP layer cannot run (`_after_fork_in_child`).
    """
    # numba.get_num_threads() starts the threading layer: asked only where the pass could run.
    if n_rows < PARALLEL_MIN_ROWS or parallel_unavailable() is not None:
        return False
    return min(numba.get_num_threads(), _blas_threads.cpu_budget()) > PARALLEL_MIN_CORES


@contextlib.contextmanager
def on_threads(count):
    """Run the block with BLAS and Numba capped at `count` threads (fastnn's policy may use fewer), then restore both.

    For a whole command or measurement (the command line's --threads, ``fastnn bench
    --scaling``). RuntimeError if fastnn cannot set the BLAS's thread count.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        with _blas_threads.pinned(count):
            yield
    finally:
        numba.set_num_threads(previous)
