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

A process confined to fewer CPUs (an affinity set by taskset or a cpuset, a cgroup CPU
quota set by a container's `--cpus`) gets no more threads than it may use (its affinity,
capped by its quota: `fastnn._cpus.usable_cpus`), nor than the machine has free: the
machine's CPUs less its runnable tasks, as unconfined. The others' tasks are taken to
fill the CPUs outside the affinity first (the kernel moves there those it may; a cpuset
keeps a neighbour container's there), and a quota caps CPU time, not which CPUs the
threads run on. So a neighbour pinned to this process's own CPUs counts only once the
rest of the machine is full: pin one thread there.

A product's last bits can depend on OpenBLAS's thread count (float32 products of every
shape tried; float64 ones with a long inner dimension and a small output), so results
are bit-reproducible for a given choice: pin one thread (the command line's `--threads
1`, `threadpoolctl.threadpool_limits(1, "blas")`, or the bound library's variable,
`OPENBLAS_NUM_THREADS=1` or `MKL_NUM_THREADS=1`) to make them independent of the load.
The thread functions are the bound library's (`fastnn._blas_libraries`). Overlapping
calls never change each other's count.
"""

import _signal
import contextlib
import glob
import os
import signal
import threading
import time

from ._config import BLAS_THREADS_MIN_FLOP, CONFIRM_LOOKS, LOAD_PROBE_SECONDS
from ._cpus import affinity_cpus, quota_cpus
from ._kernels import blas

__all__ = ["busy_cores", "cpu_budget", "limited", "pinned", "scipy_blas_on_one_thread", "threads_for"]

_reading = (-float("inf"), 0)  # (time.monotonic() of the last reading, busy cores)


def _own_running_threads():
    """This process's threads in state R (running or runnable), from /proc/self/task."""
    count = 0
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path) as file:
                stat = file.read()
            count += stat[stat.rindex(")") + 2] == "R"  # the state follows the parenthesised name
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile, or a stat file of another form
            continue
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
    (one look costs about 60 us). The machine's CPUs and this process's affinity are read
    again with each reading, so that an affinity changed later (taskset -p) counts within
    LOAD_PROBE_SECONDS.
    """
    global _reading
    now = time.monotonic()
    if now - _reading[0] < LOAD_PROBE_SECONDS:
        return _reading[1]
    _read_cpus(quota_too=False)
    busy = _runnable_elsewhere()
    for _ in range(CONFIRM_LOOKS):
        if busy == 0:
            break
        time.sleep(0.001)
        busy = min(busy, _runnable_elsewhere())
    _reading = (time.monotonic(), busy)
    return busy


def _read_cpus(quota_too):
    """Read the machine's CPUs and this process's into globals, as they can change (a fork child, taskset -p).

    Not at every call: os.cpu_count() reads a file. The quota is read only at import and in
    a fork child: it takes a few more files (about half a millisecond) and changes rarely.
    """
    global _machine_cpus, _quota_cpus, _usable_cpus
    if quota_too:
        _quota_cpus = quota_cpus()
    _machine_cpus = os.cpu_count() or 1
    _usable_cpus = min(_machine_cpus, affinity_cpus(), _quota_cpus or _machine_cpus)


_read_cpus(quota_too=True)


def cpu_budget():
    """The CPUs this process may use: its affinity capped by its cgroup quota (`fastnn._cpus`), as last read."""
    return _usable_cpus


def threads_for(flop, allowed):
    """BLAS threads for products of about `flop` operations, given `allowed` threads (the user's count).

    ``min(allowed, usable CPUs, machine's CPUs - busy_cores())``, at least 1; one below
    BLAS_THREADS_MIN_FLOP. On an unconfined machine the usable CPUs are the machine's and
    only the load counts.
    """
    if allowed <= 1 or flop < BLAS_THREADS_MIN_FLOP:
        return 1
    busy = busy_cores()  # first: a fresh reading of the load reads the CPUs again too
    return max(1, min(allowed, _usable_cpus, _machine_cpus - busy))


_SIGINT = int(signal.SIGINT)
_holding = []  # the _InterruptsDeferred holding SIGINT now, outermost first


class _InterruptsDeferred:
    """``with _InterruptsDeferred() as deferred:`` holds a SIGINT that arrives in the block
    (main thread only; signals reach no other) and delivers it when the block ends.

    The thread policy's bookkeeping is Python code: a KeyboardInterrupt between two of its
    lines would leave the user's BLAS count lowered or the count of running calls wrong
    (and the next call waiting forever). Inside the block `deferred.pending` says that one
    arrived, so that a long wait can give up.
    """

    __slots__ = ("previous", "pending")

    # _signal, not signal: the latter's wrappers convert to enums and cost 10x more (about
    # 4 us a call); this is entered twice around every compiled call.
    def __enter__(self):
        self.pending = False
        self.previous = None
        if threading.main_thread() is threading.current_thread():
            previous = _signal.getsignal(_SIGINT)
            if previous is not None:  # None: a handler installed from C, left alone
                _signal.signal(_SIGINT, self._hold)
                self.previous = previous
                _holding.append(self)
        return self

    def _hold(self, signum, frame):
        self.pending = True

    def __exit__(self, *exception):
        previous, self.previous = self.previous, None  # once only, however it is reached
        if previous is not None:
            _signal.signal(_SIGINT, previous)
            _holding.remove(self)
            if self.pending:  # delivered to the handler it was meant for
                _signal.raise_signal(_SIGINT)


class _Held:
    """A change of process-wide state made for a block, with SIGINT held from before the change
    until after its undoing, so that a Ctrl-C never finds it half-made or half-undone.

    Subclasses give `_enter(deferred)` (the change; False if it made none, as a wait does
    when a Ctrl-C is held) and `_leave()` (its undoing). A Ctrl-C that arrives in between
    is delivered when the block ends, or, for a long block, where the block calls
    `raise_if_interrupted`. Before the holding starts, and after it ends, there is nothing
    half-done.
    """

    __slots__ = ("active", "deferred")

    def __enter__(self):
        deferred = self.deferred = _InterruptsDeferred()
        deferred.__enter__()
        try:
            self.active = self._enter(deferred)
            if not self.active or deferred.pending:  # a Ctrl-C held while entering: undone, then delivered
                self._leave_once()
                deferred.__exit__()
            return self
        except BaseException:  # an error of the change itself: nothing stays held or half-made
            self._leave_once()
            deferred.__exit__()
            raise

    def __exit__(self, *exception):
        self._leave_once()
        self.deferred.__exit__()  # delivers a Ctrl-C that came during the block

    def raise_if_interrupted(self):
        """Raise KeyboardInterrupt if a Ctrl-C came during the block (it is then not delivered again)."""
        if self.deferred.pending:
            self.deferred.pending = False
            raise KeyboardInterrupt

    def _leave_once(self):
        if self.active:
            self.active = False
            self._leave()


_condition = threading.Condition()
_users = 0  # compiled calls inside `limited` now, in every Python thread
_waiting = 0  # calls waiting for the running ones to leave
_saved = None  # the user's count, restored when the last call leaves
_current = None  # the count those calls run on
_WAIT_SECONDS = 0.05  # how often a waiting call looks for a held Ctrl-C


class limited(_Held):
    """``with limited(flop):`` runs the products of one compiled call on exactly
    `threads_for(flop)` BLAS threads, then restores the user's count.

    The count is process-wide, and a product's bits can depend on it, so calls that
    overlap in Python threads share one count: a call that wants another waits until
    the calls running leave (the last to leave restores the user's count, unless someone
    else, a threadpoolctl limit ending say, changed it meanwhile). While a call waits, no
    new call joins the running ones, so a stream of calls cannot keep a waiting one out.
    SIGINT is held from before the change to after its undoing (`_Held`): the compiled
    call cannot be interrupted anyway, and a Ctrl-C during it comes when it returns. A
    class rather than a generator: it is entered around every compiled call.
    """

    __slots__ = ("flop",)

    def __init__(self, flop):
        self.flop = flop

    def __enter__(self):
        if self.flop >= BLAS_THREADS_MIN_FLOP:
            busy_cores()  # a fresh reading may take a few ms: not while holding the lock
        return super().__enter__()

    def _enter(self, deferred):
        """Join the running calls, or wait for them to leave; False if a Ctrl-C came while waiting."""
        global _users, _waiting, _saved, _current
        with _condition:
            newcomer = True
            while True:
                allowed = _saved if _users else blas.get_threads()
                wanted = None if allowed is None else threads_for(self.flop, allowed)
                if (not newcomer or _waiting == 0) and (_users == 0 or wanted == _current):
                    break
                if deferred.pending:
                    return False
                _waiting += 1
                try:
                    _condition.wait(_WAIT_SECONDS)
                finally:
                    _waiting -= 1
                newcomer = False
            if _users == 0:
                _saved, _current = allowed, wanted
                if wanted is not None and wanted != allowed:
                    blas.set_threads(wanted)
            _users += 1
            return True

    def _leave(self):
        global _users
        with _condition:
            _users -= 1
            if _users == 0:
                # Restore only the count fastnn set: a count someone else set meanwhile stays.
                if _saved is not None and _current != _saved and blas.get_threads() == _current:
                    blas.set_threads(_saved)
                _condition.notify_all()


@contextlib.contextmanager
def pinned(count):
    """Run the block with the bound BLAS on `count` threads (fastnn's own choice can only lower it), then restore.

    For a whole command (the command line's --threads): a Ctrl-C during the block is not
    held, so that it stops training at once.
    """
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


class scipy_blas_on_one_thread(_Held):
    """``with scipy_blas_on_one_thread():`` runs the block with SciPy's own OpenBLAS on one thread
    (where it is apart from fastnn's), then restores its count.

    scipy.optimize's L-BFGS-B does its vector work (a few passes over the parameters per
    iteration) through SciPy's OpenBLAS; its threads, spinning between its calls, fought
    the threads of fastnn's products for the cores. On the 2-core machine, 30 L-BFGS
    iterations on the digits took 0.39 s with both pools on 2 threads, 0.030 s with
    SciPy's on one (scikit-learn's MLP: 0.34 to 0.38 s). Overlapping blocks, in any
    thread, restore the count when the last one leaves, unless someone else changed it
    meanwhile. SIGINT is held through the block (`_Held`): the block calls
    `raise_if_interrupted` where it can stop (L-BFGS: at each evaluation of the loss).
    """

    __slots__ = ("functions",)

    def __init__(self):
        self.functions = blas.scipy_thread_functions()

    def _enter(self, deferred):
        global _scipy_users, _scipy_saved
        if self.functions is None:
            return False
        get, set_ = self.functions
        with _scipy_lock:
            if _scipy_users == 0:
                _scipy_saved = get()
                set_(1)
            _scipy_users += 1
        return True

    def _leave(self):
        global _scipy_users
        get, set_ = self.functions
        with _scipy_lock:
            _scipy_users -= 1
            if _scipy_users == 0 and get() == 1:  # a count someone else set meanwhile stays
                set_(_scipy_saved)


_forking_affinity = None  # the affinity of the thread that forks, read just before the fork


def _before_fork():
    global _forking_affinity
    _forking_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def _keep_the_affinity():
    """Give a fork child the affinity its forking thread had.

    Intel's OpenMP runtime (MKL's threads, `fastnn._blas_libraries`) resets a fork child's
    affinity to the one the parent had when the runtime started: a process confined later
    (taskset -p, os.sched_setaffinity) would fork children that use every CPU.
    """
    if _forking_affinity is not None and os.sched_getaffinity(0) != _forking_affinity:
        os.sched_setaffinity(0, _forking_affinity)


def _after_fork_in_child():
    """A fork child starts with no compiled call running: restore a count its parent had lowered, and
    SIGINT's handler if the parent held it. Its CPUs are read again: the parent may have changed its
    affinity since it last read them, and a child is often moved to a cgroup of its own."""
    global _condition, _users, _waiting, _scipy_lock, _scipy_users
    _keep_the_affinity()
    if _holding:
        signal.signal(signal.SIGINT, _holding[0].previous)
        _holding.clear()
    _waiting = 0
    _condition = threading.Condition()  # another thread of the parent may have held it
    if _users and _saved is not None:
        blas.set_threads(_saved)
    _users = 0
    _scipy_lock = threading.Lock()
    if _scipy_users:
        blas.scipy_thread_functions()[1](_scipy_saved)
    _scipy_users = 0
    _read_cpus(quota_too=True)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
