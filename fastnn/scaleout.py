"""Scale-out on dask: worker processes that share the cores instead of fighting over them.

fastnn's training runs on BLAS threads (and, for large batches on machines with more
than two cores, Numba's). Each dask worker process starts its own pools, sized for the
whole machine by default: n workers x all cores threads on all cores. `local_cluster`
gives every worker process cores // n_workers threads (and one dask task at a time), set
in the environment before the process starts, which is when BLAS and Numba read it.
`worker_threads` reports what each worker actually got. Needs dask.distributed
(``pip install "dask[distributed]" scikit-learn``).
"""

import os

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_environment(n_workers, threads_per_worker=None, cores=None):
    """Environment variables that give each of n_workers processes its share of the cores.

    Parameters
    ----------
    n_workers : int
        Worker processes on the machine, >= 1.
    threads_per_worker : int or None
        Compute threads (BLAS and Numba) per worker; default cores // n_workers, at least 1.
    cores : int or None
        Cores of the machine; default os.cpu_count().

    Returns
    -------
    dict
        NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS, as strings.
    """
    if not (isinstance(n_workers, int) and n_workers >= 1):
        raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    cores = cores or os.cpu_count() or 1
    threads = threads_per_worker if threads_per_worker is not None else max(1, cores // n_workers)
    if not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f"threads_per_worker must be an integer >= 1, got {threads!r}")
    return {name: str(threads) for name in THREAD_VARIABLES}


def local_cluster(n_workers=2, threads_per_worker=None, **kwargs):
    """A dask.distributed LocalCluster of worker processes that do not oversubscribe the cores.

    Each worker is a process that runs one task at a time on `threads_per_worker`
    compute threads (default: cores // n_workers). Use it as a context manager, with a
    Client, and joblib's dask backend for scikit-learn's searches (see docs/guide.md).

    Parameters
    ----------
    n_workers : int, default 2
    threads_per_worker : int or None
        BLAS and Numba threads per worker process.
    **kwargs
        Passed on to ``dask.distributed.LocalCluster`` (for example dashboard_address).
    """
    try:
        import dask
        from dask.distributed import LocalCluster
    except ImportError as error:
        raise ImportError("local_cluster needs dask.distributed: pip install 'dask[distributed]'") from error
    environment = worker_environment(n_workers, threads_per_worker)
    # pre-spawn-environ: set before the worker process starts, so before NumPy's OpenBLAS
    # and Numba read it (variables set later are ignored by both).
    settings = {f"distributed.nanny.pre-spawn-environ.{name}": value for name, value in environment.items()}
    with dask.config.set(settings):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, **kwargs)


def thread_report():
    """This process's compute threads: {"numba": Numba's threads, "blas": BLAS threads or None}.

    The BLAS count is the largest of the BLAS libraries loaded (fastnn's, and SciPy's or
    others), from threadpoolctl when it is installed, read after fastnn has bound its own.
    """
    import numba

    from ._engine import blas_name

    blas_name()  # binds fastnn's BLAS
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = None
    else:
        blas = max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)
    return {"numba": numba.get_num_threads(), "blas": blas}


def worker_threads(client):
    """`thread_report` of every worker of a dask Client, keyed by worker address."""
    return client.run(thread_report)
