"""What fastnn runs on: the versions, the BLAS its kernels call, the CPUs it may use, its
threads and its kernel cache (`fastnn.show_config`; one line of it: `fastnn --version`).
"""

import os
import platform
import sys

import numba
import numpy as np
import scipy

from . import _engine, _threads
from ._config import PARALLEL_MIN_ROWS
from ._cpus import affinity_cpus, quota_cpus, usable_cpus
from ._kernels import blas, compile
from ._version import __version__

__all__ = ["config", "show_config", "summary", "table"]


def config():
    """fastnn's set-up in this process, as a dict of short strings (see `show_config`). Starts no threads."""
    blas_threads = blas.get_threads()  # binds the BLAS first
    quota = quota_cpus()
    parallel_off = _threads.parallel_unavailable()
    return {
        "fastnn": __version__,
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "SciPy": scipy.__version__,
        "Numba": numba.__version__,
        "BLAS": _engine.blas_name(),
        "BLAS threads": "not settable" if blas_threads is None else str(blas_threads),
        "CPUs": (f"{os.cpu_count()} in the machine, {affinity_cpus()} in the affinity, "
                 f"{'no' if quota is None else quota} cgroup quota: fastnn uses at most {usable_cpus()}"),
        "Numba threads": f"{numba.config.NUMBA_NUM_THREADS} ({_threads.threading_layer() or 'not started'})",
        "parallel block pass": (f"on for batches of {PARALLEL_MIN_ROWS} rows or more" if parallel_off is None
                                else f"off: {parallel_off}"),
        "kernel cache": compile.cache_folder or "none writable: every process compiles",
        "training kernels": ("cached for at least one configuration" if _engine.training_kernels_cached()
                             else "not compiled yet"),
    }


def summary():
    """One line: the version, the BLAS the kernels call and the CPUs fastnn may use (`fastnn --version`)."""
    return (f"fastnn {__version__} (BLAS: {_engine.blas_name()}, {usable_cpus()} usable CPUs; "
            f"Numba {numba.__version__}, NumPy {np.__version__}, Python {platform.python_version()})")


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
