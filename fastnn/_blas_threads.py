"""How many threads BLAS gets: all of them only where they pay and the cores are free.

OpenBLAS's threads meet at a barrier inside every product and busy-wait there. When
another process holds a core, the thread that lost it arrives late and the others spin:
on the 2-core machine with two CPU-bound neighbours, an epoch on two BLAS threads ran
1.2x to 200x slower than on one (docs/performance.md, "Threads"). On a quiet machine a
second thread pays only from about a million floating-point operations per product.

So every compiled entry point runs its products under `limited(flop)`: one thread below
`BLAS_THREADS_MIN_FLOP`, else as many as there are cores no other process is running on
(read from the kernel's count of runnable tasks, Linux only; elsewhere the load is not
known and only the size counts). fastnn only ever lowers the count the user set (an
`OPENBLAS_NUM_THREADS` or a threadpoolctl limit stays in force) and restores it after.

A product's last bits can depend on OpenBLAS's thread count (float32 products of every
shape tried; float64 ones with a long inner dimension and a small output), so results
are bit-reproducible for a given choice: pin one thread (`OPENBLAS_NUM_THREADS=1`,
`threadpoolctl.threadpool_limits(1, "blas")` or the command line's `--threads 1`) to
make them independent of the load. Overlapping calls never change each other's count.
"""

import contextlib
import glob
import os
import threading
import time

from ._config import BLAS_THREADS_MIN_FLOP, CONFIRM_LOOKS, LOAD_PROBE_SECONDS
from ._kernels import blas

__all__ = ["busy_cores", "limited", "pinned", "scipy_blas_on_one_thread", "threads_for"]

_reading = (-float("inf"), 0)  # (time.monotonic() of the last reading, busy cores)


def _own_running_threads():
    """This process's threads in state R (running or runnable), from /proc/self/task."""
    count = 0
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path) as file:
                stat = file.read()
        except OSError:  # the thread ended meanwhile
            continue
        count += stat[stat.rindex(")") + 2] == "R"  # the state follows the parenthesised name
    return count


def _runnable_elsewhere():
    """Runnable tasks outside this process at this instant (Linux), else 0.

    /proc/loadavg's fourth field counts the runnable tasks of the whole machine.
    """
    try:
        with open("/proc/loadavg") as file:
            runnable = int(file.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):  # not Linux
        return 0
    return max(0, runnable - _own_running_threads()) if runnable else 0


def busy_cores():
    """Cores other processes keep busy now: the tasks outside this process that stay runnable.

    A CPU-bound process is runnable at every look; a task that wakes for a moment (about
    1% of single looks on the quiet development machine) is not, and would cost a whole
    epoch its second thread. So a look that finds any is repeated CONFIRM_LOOKS times, 1
    ms apart, and the smallest count stands. A reading serves for LOAD_PROBE_SECONDS
    (one look costs about 60 us).
    """
    global _reading
    now = time.monotonic()
    if now - _reading[0] < LOAD_PROBE_SECONDS:
        return _reading[1]
    busy = _runnable_elsewhere()
    for _ in range(CONFIRM_LOOKS):
        if busy == 0:
            break
        time.sleep(0.001)
        busy = min(busy, _runnable_elsewhere())
    _reading = (time.monotonic(), busy)
    return busy


_CORES = os.cpu_count() or 1  # the machine's (each call of os.cpu_count reads a file)


def threads_for(flop, allowed):
    """BLAS threads for products of about `flop` operations, given `allowed` threads (the user's count)."""
    if allowed <= 1 or flop < BLAS_THREADS_MIN_FLOP:
        return 1
    return max(1, min(allowed, _CORES - busy_cores()))


_condition = threading.Condition()
_users = 0  # compiled calls inside `limited` now, in every Python thread
_saved = None  # the user's count, restored when the last call leaves
_current = None  # the count those calls run on


class limited:
    """``with limited(flop):`` runs the products of one compiled call on exactly
    `threads_for(flop)` BLAS threads, then restores the user's count.

    The count is process-wide, and a product's bits can depend on it, so calls that
    overlap in Python threads share one count: a call that wants another waits until
    the calls running leave (the last to leave restores the user's count). A class
    rather than a generator: it is entered around every compiled call, and costs about
    2 us.
    """

    __slots__ = ("flop",)

    def __init__(self, flop):
        self.flop = flop

    def __enter__(self):
        global _users, _saved, _current
        if self.flop >= BLAS_THREADS_MIN_FLOP:
            busy_cores()  # a fresh reading may take a few ms: not while holding the lock
        with _condition:
            while True:
                allowed = _saved if _users else blas.get_threads()
                wanted = None if allowed is None else threads_for(self.flop, allowed)
                if _users == 0 or wanted == _current:
                    break
                _condition.wait()
            if _users == 0:
                _saved, _current = allowed, wanted
                if wanted is not None and wanted != allowed:
                    blas.set_threads(wanted)
            _users += 1

    def __exit__(self, *exception):
        global _users
        with _condition:
            _users -= 1
            if _users == 0:
                if _saved is not None and blas.get_threads() != _saved:
                    blas.set_threads(_saved)
                _condition.notify_all()


@contextlib.contextmanager
def pinned(count):
    """Run the block with the bound BLAS on `count` threads (fastnn's own choice can only lower it), then restore."""
    before = blas.get_threads()
    if before is None:
        raise RuntimeError("fastnn cannot set the thread count of the BLAS it calls (it exports no thread functions)")
    blas.set_threads(count)
    try:
        yield
    finally:
        blas.set_threads(before)


_scipy_lock = threading.Lock()
_scipy_users = 0
_scipy_saved = None


@contextlib.contextmanager
def scipy_blas_on_one_thread():
    """Run the block with SciPy's own OpenBLAS on one thread (where it is apart from fastnn's), then restore.

    scipy.optimize's L-BFGS-B does its vector work (a few passes over the parameters per
    iteration) through SciPy's OpenBLAS; its threads, spinning between its calls, fought
    the threads of fastnn's products for the cores. On the 2-core machine, 30 L-BFGS
    iterations on the digits took 0.39 s with both pools on 2 threads, 0.030 s with
    SciPy's on one (scikit-learn's MLP: 0.34 to 0.38 s). Overlapping blocks, in any
    thread, restore the count when the last one leaves.
    """
    global _scipy_users, _scipy_saved
    functions = blas.scipy_thread_functions()
    if functions is None:
        yield
        return
    get, set_ = functions
    with _scipy_lock:
        if _scipy_users == 0:
            _scipy_saved = get()
            set_(1)
        _scipy_users += 1
    try:
        yield
    finally:
        with _scipy_lock:
            _scipy_users -= 1
            if _scipy_users == 0:
                set_(_scipy_saved)


def _after_fork_in_child():
    """A fork child starts with no compiled call running: restore a count its parent had lowered."""
    global _condition, _users, _scipy_lock, _scipy_users
    _condition = threading.Condition()  # another thread of the parent may have held it
    if _users and _saved is not None:
        blas.set_threads(_saved)
    _users = 0
    _scipy_lock = threading.Lock()
    if _scipy_users:
        blas.scipy_thread_functions()[1](_scipy_saved)
    _scipy_users = 0


os.register_at_fork(after_in_child=_after_fork_in_child)
