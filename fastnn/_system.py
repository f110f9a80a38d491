"""What fastnn runs on: the versions, the BLAS its kernels call (`fastnn.use_blas` chooses
it), the CPUs it may use, its threads and its kernel cache (`fastnn.show_config`; one line
of it: `fastnn --version`).
"""

import os
import platform
import sys

import numba
import numpy as np
import scipy

from . import _blas_libraries, _engine, _threads
from ._config import PARALLEL_MIN_ROWS
from ._cpus import affinity_cpus, quota_cpus, usable_cpus
from ._kernels import blas, compile
from ._version import __version__

__all__ = ["config", "show_config", "summary", "table", "use_blas"]


def config():
    """fastnn's set-up in this process, as a dict of short strings (see `show_config`). Starts no threads."""
    quota = quota_cpus()
    parallel_off = _threads.parallel_unavailable()
    return {
        "fastnn": __version__,
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "SciPy": scipy.__version__,
        "Numba": numba.__version__,
        **_blas_entries(),
        "CPUs": (f"{os.cpu_count()} in the machine, {affinity_cpus()} in the affinity, "
                 f"{'no' if quota is None else quota} cgroup quota: fastnn uses at most {usable_cpus()}"),
        "Numba threads": f"{numba.config.NUMBA_NUM_THREADS} ({_threads.threading_layer() or 'not started'})",
        "parallel block pass": (f"on for batches of {PARALLEL_MIN_ROWS} rows or more" if parallel_off is None
                                else f"off: {parallel_off}"),
        "kernel cache": compile.cache_folder or "none writable: every process compiles",
        "training kernels": ("cached for at least one configuration" if _engine.training_kernels_cached()
                             else "not compiled yet"),
    }


def _blas_entries():
    """The "BLAS" and "BLAS threads" entries: the library bound, or the one the first use would bind.

    Binds nothing, so that `use_blas` can still choose another, and calls nothing in a
    library that needs preparing first (MKL's threading layer is set when it is bound).
    A bad choice is reported, not raised: this is what users paste into bug reports.
    """
    installed = ", ".join(_blas_libraries.installed())
    try:
        library, chosen_by = blas.chosen()
    except ValueError as error:
        return {"BLAS": f"none: {error} (installed: {installed})", "BLAS threads": "-"}
    if library.threads is None:
        threads = "not settable"
    elif blas.bound() is None and library.prepare is not None:
        threads = "read once fastnn binds it"
    else:
        threads = str(library.threads[0]())
    return {"BLAS": f"{library.description} (chosen by {chosen_by}; installed: {installed})", "BLAS threads": threads}


def summary():
    """One line: the version, the BLAS the kernels call and the CPUs fastnn may use (`fastnn --version`)."""
    try:
        library = blas.chosen()[0].description
    except ValueError as error:
        library = f"none, {error}"
    return (f"fastnn {__version__} (BLAS: {library}, {usable_cpus()} usable CPUs; "
            f"Numba {numba.__version__}, NumPy {np.__version__}, Python {platform.python_version()})")


def show_config(file=None):
    """Print fastnn's set-up: versions, the BLAS its kernels call, the CPUs and threads it uses, its kernel cache.

    The BLAS is the one fastnn's compiled products call (see `use_blas`), with the
    libraries installed and the choice in force. The CPUs are the machine's, this process's affinity and its cgroup
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


def use_blas(name="auto"):
    """Choose the BLAS library fastnn's compiled matrix products call.

    Call it before the first fit, prediction or cost_grad of the process: the kernels
    link the library on their first call and keep it. The environment variable
    FASTNN_BLAS makes the same choice for a whole process (and its children); this
    function sets it too, so that worker processes started later call the same library.

    Parameters
    ----------
    name : str or path-like, default "auto"
        "openblas" (the OpenBLAS bundled with NumPy's wheels), "mkl" (Intel MKL, from
        ``pip install "fastnn-numba[mkl]"``), "scipy" (SciPy's BLAS), the path of a shared
        library that exports the Fortran ``sgemm_`` and ``dgemm_`` (a BLIS, an OpenBLAS or a
        vendor's build; a relative path is taken from the current folder), or "auto": MKL
        on an Intel CPU where it is installed, else NumPy's OpenBLAS. Names in any case.

    Returns
    -------
    str
        The library bound, as `show_config` names it.

    Raises
    ------
    ValueError
        If the name is unknown, the library is not installed, or the file does not load
        or exports no sgemm/dgemm.
    TypeError
        If name is neither a string nor a path.
    RuntimeError
        If fastnn already calls another library in this process (choosing the one it
        calls is allowed).
    """
    library = blas.use(name)
    os.environ[_blas_libraries.ENVIRONMENT_VARIABLE] = _blas_libraries.choice(name, "fastnn.use_blas")
    return library.description
