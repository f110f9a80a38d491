"""Run parallel kernels safely when several Python threads call fastnn at once.

Numba's workqueue threading layer is not thread-safe: two threads launching parallel
kernels at the same time abort the process. The tbb and omp layers are safe. Numba picks
its layer on the first parallel launch, so until then, and whenever it picked workqueue,
launches are serialised by a lock. Numba's configuration is never changed.
"""

import threading

import numba

_lock = threading.Lock()
_safe_layer = None  # True/False once Numba has chosen its threading layer


def _layer_is_thread_safe():
    global _safe_layer
    if _safe_layer is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet: the layer is not chosen
            return False
        _safe_layer = layer in ("tbb", "omp")
    return _safe_layer


def run_parallel(kernel, *args):
    """Call a kernel that launches Numba's threads, holding a process-wide lock unless the layer is thread-safe."""
    if _layer_is_thread_safe():
        return kernel(*args)
    with _lock:
        return kernel(*args)
