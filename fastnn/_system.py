"""What fastnn runs on: the versions, the BLAS its kernels call, the CPUs it may use, its
threads and its kernel cache (`fastnn.show_config`, `fastnn --version`).
"""

import os
import platform
import sys

import numba
import numpy as np
import scipy

from . import _blas_threads, _engine, _threads
from ._cpus import affinity_cpus, quota_cpus
from ._kernels import blas, compile
from ._version import __version__

__all__ = ["config", "show_config", "table"]


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run: Numba has not chosen its layer yet
        return "not started"


def config():
    """fastnn's set-up in this process, as a dict of short strings (see `show_config`)."""
    blas_threads = blas.get_threads()  # binds the BLAS first
    quota = quota_cpus()
    parallel = _threads.use_parallel(np.iinfo(np.int64).max)
    return {
        "fastnn": __version__,
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "SciPy": scipy.__version__,
        "Numba": numba.__version__,
        "BLAS": _engine.blas_name(),
        "BLAS threads": "not settable" if blas_threads is None else str(blas_threads),
        "CPUs": (f"{os.cpu_count()} in the machine, {affinity_cpus()} in the affinity, "
                 f"{'no' if quota is None else quota} cgroup quota; fastnn uses at most {_blas_threads.cpu_budget()}"),
        "Numba threads": f"{numba.config.NUMBA_NUM_THREADS} ({_threading_layer()})",
        "parallel block pass": "on for large batches" if parallel else "off (few CPUs)",
        "kernel cache": compile.cache_folder or "none writable: every process compiles",
        "training kernels": "cached" if _engine.training_kernels_cached() else "not compiled yet",
    }


def show_config(file=None):
    """Print fastnn's set-up: versions, the BLAS its kernels call, the CPUs and threads it uses, its kernel cache.

    The BLAS is the one fastnn's compiled products call (NumPy's OpenBLAS where found,
    else SciPy's). The CPUs are the machine's, this process's affinity and its cgroup
    CPU quota; fastnn runs no more threads than the smallest. Paste it into a bug report.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default: sys.stdout).
    """
    print(table(config()), file=file or sys.stdout)


def table(entries):
    """The entries of a dict as aligned ``key: value`` lines."""
    width = max(map(len, entries)) + 1
    return "\n".join(f"{key + ':':{width}} {value}" for key, value in entries.items())
