"""BLAS threads: one for small products and on a busy machine, the user's count restored after."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastnn import _blas_threads, _engine
from fastnn._config import BLAS_THREADS_MIN_FLOP
from fastnn._kernels import blas
from fastnn.optim import Optimizer
from fastnn.params import to_layers
from helpers import make_problem

controllable = pytest.mark.skipif(blas.get_threads() is None, reason="the bound BLAS exports no thread functions")


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setattr(_blas_threads, "busy_cores", lambda: 0)
    monkeypatch.setattr(_blas_threads, "_CORES", 8)


def test_small_products_get_one_thread(quiet):
    assert _blas_threads.threads_for(BLAS_THREADS_MIN_FLOP - 1, allowed=8) == 1
    assert _blas_threads.threads_for(BLAS_THREADS_MIN_FLOP, allowed=8) == 8


def test_busy_cores_are_left_to_their_processes(monkeypatch, quiet):
    for busy, expected in [(0, 8), (3, 5), (7, 1), (8, 1), (20, 1)]:
        monkeypatch.setattr(_blas_threads, "busy_cores", lambda busy=busy: busy)
        assert _blas_threads.threads_for(10**9, allowed=8) == expected


def test_the_users_count_is_never_raised(quiet):
    assert _blas_threads.threads_for(10**9, allowed=1) == 1
    assert _blas_threads.threads_for(10**9, allowed=3) == 3


@controllable
def test_the_count_is_restored_after_a_call_and_after_an_error(quiet):
    before = blas.get_threads()
    with _blas_threads.limited(10):
        assert blas.get_threads() == 1
    assert blas.get_threads() == before
    with pytest.raises(RuntimeError):
        with _blas_threads.limited(10):
            raise RuntimeError("inside")
    assert blas.get_threads() == before


@controllable
def test_a_lower_count_set_by_the_user_stays(quiet):
    before = blas.get_threads()
    blas.set_threads(1)
    try:
        with _blas_threads.limited(10**9):
            assert blas.get_threads() == 1
        assert blas.get_threads() == 1
    finally:
        blas.set_threads(before)


@controllable
def test_overlapping_python_threads_restore_the_count_once(quiet):
    before = blas.get_threads()
    inside, release = threading.Barrier(3), threading.Event()

    def call():
        with _blas_threads.limited(10):
            inside.wait()
            release.wait()

    workers = [threading.Thread(target=call) for _ in range(2)]
    for worker in workers:
        worker.start()
    inside.wait()  # both inside
    assert blas.get_threads() == 1
    release.set()
    for worker in workers:
        worker.join()
    assert blas.get_threads() == before


@controllable
def test_a_training_epoch_of_small_products_runs_on_one_thread(monkeypatch, quiet):
    """The engine asks for threads by the epoch's largest product: one for a tiny network."""
    seen, before = [], blas.get_threads()
    monkeypatch.setattr(blas, "set_threads", lambda count, set_=blas.set_threads: (seen.append(count), set_(count)))
    X, y, params = make_problem(50, 6, (8,), 3, np.float64, seed=0)
    trainer = _engine.Trainer(*to_layers(params), Optimizer("sgd"), 0.0)
    trainer.run_epoch(X, y.astype(np.int64), np.arange(50), 10, 0.1)
    assert seen == ([] if before == 1 else [1, before])


@pytest.mark.machine_load
def test_busy_cores_counts_processes_that_keep_a_core(monkeypatch):
    if not _blas_threads.os.path.exists("/proc/loadavg"):
        pytest.skip("the load is read from Linux's /proc")
    monkeypatch.setattr(_blas_threads, "LOAD_PROBE_SECONDS", 0.0)
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.5)
        readings = [_blas_threads.busy_cores() for _ in range(20)]
    finally:
        for process in neighbours:
            process.kill()
            process.wait()
    assert np.median(readings) >= 2


@pytest.mark.machine_load
def test_a_reading_of_the_load_is_reused_for_a_while(monkeypatch):
    reads = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        reads.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_blas_threads, "_reading", (-float("inf"), 0))
    monkeypatch.setattr("builtins.open", counting_open)
    _blas_threads.busy_cores()
    first = reads.count("/proc/loadavg")
    _blas_threads.busy_cores()
    assert reads.count("/proc/loadavg") == first


@controllable
@pytest.mark.skipif(not hasattr(_blas_threads.os, "fork"), reason="needs fork")
def test_a_fork_child_gets_the_count_back(quiet):
    """A child forked inside a compiled call (another Python thread's) does not keep the lowered count."""
    before = blas.get_threads()
    if before == 1:
        pytest.skip("BLAS already runs on one thread")
    with _blas_threads.limited(10):
        pid = _blas_threads.os.fork()
        if pid == 0:
            _blas_threads.os._exit(0 if blas.get_threads() == before and _blas_threads._users == 0 else 1)
        _, status = _blas_threads.os.waitpid(pid, 0)
    assert _blas_threads.os.waitstatus_to_exitcode(status) == 0


@pytest.mark.machine_load
@pytest.mark.parametrize("looks, expected", [([1, 0], 0), ([2, 1, 1, 1], 1), ([2, 2, 2, 2], 2), ([0], 0)],
                         ids=["a-moment", "one-stays", "both-stay", "quiet"])
def test_only_tasks_that_stay_runnable_count(monkeypatch, looks, expected):
    """A task that is runnable at one look only (a daemon waking up) must not cost an epoch its threads."""
    remaining = iter(looks)
    monkeypatch.setattr(_blas_threads, "_reading", (-float("inf"), 0))
    monkeypatch.setattr(_blas_threads, "_runnable_elsewhere", lambda: next(remaining))
    assert _blas_threads.busy_cores() == expected


@controllable
def test_a_call_that_wants_another_count_waits_for_the_running_ones(quiet):
    """Each call's products run on the count it chose (their bits can depend on it): a large
    product does not start on the one thread a small call running beside it set."""
    before = blas.get_threads()
    if before == 1:
        pytest.skip("BLAS already runs on one thread")
    small_inside, release_small, seen = threading.Event(), threading.Event(), []

    def small():
        with _blas_threads.limited(10):
            small_inside.set()
            release_small.wait()

    def large():
        with _blas_threads.limited(10**9):
            seen.append(blas.get_threads())

    first = threading.Thread(target=small)
    first.start()
    small_inside.wait()
    second = threading.Thread(target=large)
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive() and not seen  # waiting while the small call runs
    release_small.set()
    first.join()
    second.join()
    assert seen == [before] and blas.get_threads() == before


def test_scipys_own_blas_runs_on_one_thread_during_lbfgs_and_is_restored():
    pytest.importorskip("sklearn")
    from fastnn import MLPClassifier, _engine
    from fastnn._kernels import blas

    functions = blas.scipy_thread_functions()
    if functions is None:
        pytest.skip("SciPy's BLAS is the one fastnn binds")
    get, set_ = functions
    X, y, _ = make_problem(40, 4, 5, 3, seed=0)
    seen = []
    original = _engine.cost_grad

    def spy(*args, **kwargs):
        seen.append(get())
        return original(*args, **kwargs)

    before = get()
    set_(2)
    try:
        _engine.cost_grad = spy
        MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5).fit(X, y)
    finally:
        _engine.cost_grad = original
        after = get()
        set_(before)
    assert seen and set(seen) == {1} and after == 2
