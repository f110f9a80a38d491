"""BLAS threads: one for small products, on a busy machine and on one usable CPU; the user's count restored after."""

import contextlib
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastnn import _blas_threads, _cpus, _engine, training
from fastnn._config import BLAS_THREADS_MIN_FLOP
from fastnn._kernels import blas
from fastnn.optim import Optimizer
from fastnn.params import to_layers
from helpers import make_problem

controllable = pytest.mark.skipif(blas.get_threads() is None, reason="the bound BLAS exports no thread functions")


@pytest.fixture(autouse=True)
def _restore_the_count():
    before = blas.get_threads()
    yield
    if before is not None:
        blas.set_threads(before)


@pytest.fixture
def quiet(monkeypatch):
    """An unconfined machine of 8 CPUs with nothing else running."""
    monkeypatch.setattr(_blas_threads, "busy_cores", lambda: 0)
    monkeypatch.setattr(_blas_threads, "_machine_cpus", 8)
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 8)


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


@pytest.mark.parametrize("busy, expected", [(0, 2), (5, 2), (6, 2), (7, 1), (8, 1), (20, 1)])
def test_a_confined_process_gets_at_most_its_cpus_and_the_machines_free_ones(monkeypatch, quiet, busy, expected):
    """2 of the machine's 8 CPUs (an affinity or a quota): the other tasks take the 6 others first."""
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 2)
    monkeypatch.setattr(_blas_threads, "busy_cores", lambda: busy)
    assert _blas_threads.threads_for(10**9, allowed=8) == expected
    assert _blas_threads.threads_for(BLAS_THREADS_MIN_FLOP - 1, allowed=8) == 1


_HAS_AFFINITY = hasattr(_blas_threads.os, "sched_setaffinity") and len(_blas_threads.os.sched_getaffinity(0)) > 1


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_a_process_started_on_one_cpu_runs_blas_on_one_thread():
    from helpers import run_python

    script = ("from fastnn import _blas_threads, _cpus; "
              "print(_cpus.usable_cpus(), _blas_threads._usable_cpus, _blas_threads.threads_for(10**12, allowed=8))")
    run = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "1", "1"]
    assert run_python("-c", script, timeout=120).stdout.split()[:2] == [str(_cpus.usable_cpus())] * 2


@contextlib.contextmanager
def _on_one_cpu():
    """This thread (and what it forks) confined to its first CPU, fastnn not told; the affinity restored after."""
    before = _blas_threads.os.sched_getaffinity(0)
    _blas_threads.os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        _blas_threads.os.sched_setaffinity(0, before)


@pytest.mark.skipif(not (_HAS_AFFINITY and hasattr(_blas_threads.os, "fork")), reason="needs fork and 2+ CPUs")
def test_a_fork_child_reads_its_cpus_again(monkeypatch):
    """A child forked after its parent's affinity changed does not keep the parent's stale count."""
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 999)
    with _on_one_cpu():
        pid = _blas_threads.os.fork()
        if pid == 0:
            _blas_threads.os._exit(0 if _blas_threads._usable_cpus == 1 else 1)
        _, status = _blas_threads.os.waitpid(pid, 0)
    assert _blas_threads.os.waitstatus_to_exitcode(status) == 0
    assert _blas_threads._usable_cpus == 999  # the parent reads them with its next reading of the load


@pytest.mark.machine_load
@pytest.mark.skipif(not _HAS_AFFINITY, reason="needs 2+ CPUs and sched_setaffinity")
def test_an_affinity_changed_later_counts_from_the_next_reading_of_the_load(monkeypatch):
    monkeypatch.setattr(_blas_threads, "_runnable_elsewhere", lambda: 0)
    monkeypatch.setattr(_blas_threads, "_reading", (-float("inf"), 0))
    monkeypatch.setattr(_blas_threads, "_usable_cpus", _blas_threads._usable_cpus)  # restored after
    with _on_one_cpu():
        assert _blas_threads.threads_for(10**12, allowed=8) == 1
    monkeypatch.setattr(_blas_threads, "_reading", (-float("inf"), 0))
    assert _blas_threads.threads_for(10**12, allowed=8) == min(8, _cpus.usable_cpus())


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
    trainer = training.Trainer(*to_layers(params), Optimizer("sgd"), 0.0)
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


# ---------------------------------------------------------------- Ctrl-C, starvation, stale counts


def _policy_uses():
    """Each way into the thread policy, as a function that enters and leaves it once."""

    def limited():
        with _blas_threads.limited(10):  # a small product: the count is lowered to 1
            pass

    def scipy_one_thread():
        with _blas_threads.scipy_blas_on_one_thread():
            pass

    return {"limited": limited, "scipy_blas_on_one_thread": scipy_one_thread}


def _interrupt_at_line_event(target, event_number):
    """Run target() with a real SIGINT raised at the event_number-th line executed in _blas_threads.py.

    Returns (whether a KeyboardInterrupt came, the number of line events seen).
    """
    import signal

    source = _blas_threads.__file__
    seen = 0

    def trace(frame, event, arg):
        nonlocal seen
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            seen += 1
            if seen == event_number:
                signal.raise_signal(signal.SIGINT)
        return trace

    sys.settrace(trace)
    try:
        target()
    except KeyboardInterrupt:
        return True, seen
    finally:
        sys.settrace(None)
    return False, seen


@controllable
@pytest.mark.parametrize("use", ["limited", "scipy_blas_on_one_thread"])
def test_ctrl_c_at_any_point_of_the_thread_policy_leaves_it_as_it_was(quiet, use):
    """A KeyboardInterrupt delivered at each line the policy executes: the user's counts come back, no call
    stays counted as running, and the interrupt still reaches the program."""
    target = _policy_uses()[use]
    scipy_functions = blas.scipy_thread_functions()
    before = blas.get_threads(), scipy_functions[0]() if scipy_functions else None
    _, lines = _interrupt_at_line_event(target, 0)  # a clean run: how many line events there are
    assert lines > 5
    for event_number in range(1, lines + 1):
        interrupted, _ = _interrupt_at_line_event(target, event_number)
        assert interrupted, f"the interrupt at line event {event_number} was lost"
        assert (blas.get_threads(), scipy_functions[0]() if scipy_functions else None) == before, event_number
        assert _blas_threads._users == _blas_threads._waiting == _blas_threads._scipy_users == 0, event_number
    # The policy still works: a call wanting another count gets in at once.
    with _blas_threads.limited(10**9):
        assert blas.get_threads() == before[0]


@controllable
def test_a_waiting_call_is_not_kept_out_by_a_stream_of_calls(quiet, monkeypatch):
    """Calls that want the running count do not join while another call waits for the count to change."""
    blas.set_threads(2)
    monkeypatch.setattr(_blas_threads, "_machine_cpus", 2)
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 2)
    release, entered = threading.Event(), []

    def hold_small():  # a running call on one thread
        with _blas_threads.limited(10):
            entered.append("first small")
            release.wait(30)

    def large():
        with _blas_threads.limited(10**9):  # wants two threads: must wait for the small call
            entered.append("large")

    def small():
        with _blas_threads.limited(10):
            entered.append("later small")

    threads = [threading.Thread(target=hold_small)]
    threads[0].start()
    _wait_for(lambda: entered == ["first small"])
    threads.append(threading.Thread(target=large))
    threads[1].start()
    _wait_for(lambda: _blas_threads._waiting == 1)
    threads.append(threading.Thread(target=small))
    threads[2].start()
    _wait_for(lambda: _blas_threads._waiting == 2)  # the later small call waits too
    assert entered == ["first small"]  # the later small call did not join the running one
    release.set()
    for thread in threads:
        thread.join(30)
    assert entered[0] == "first small" and sorted(entered[1:]) == ["large", "later small"]
    assert _blas_threads._users == _blas_threads._waiting == 0


def _wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@controllable
def test_a_count_someone_else_sets_during_a_call_is_not_overwritten(quiet):
    """A threadpoolctl limit in another thread that ends while a fastnn call runs restores its own count;
    fastnn must not put back the stale one it saw when the call began."""
    before = blas.get_threads()
    blas.set_threads(3)
    if blas.get_threads() != 3:  # MKL keeps no more threads than the machine has cores
        blas.set_threads(before)
        pytest.skip(f"{blas.bind().description} does not keep a count of 3 threads on this machine")
    blas.set_threads(1)  # the other thread's limit is in force
    with _blas_threads.limited(10**9):
        blas.set_threads(2)  # the limit ends
    assert blas.get_threads() == 2
    with _blas_threads.limited(10):  # lowered to 1 by fastnn, then set by someone else
        blas.set_threads(3)
    assert blas.get_threads() == 3
    blas.set_threads(2)


@controllable
def test_ctrl_c_during_lbfgs_stops_the_fit_and_restores_scipys_count(monkeypatch):
    """SIGINT is held while SciPy's BLAS runs on one thread; L-BFGS's loss evaluations deliver it."""
    import signal

    pytest.importorskip("sklearn")
    from fastnn import MLPClassifier

    functions = blas.scipy_thread_functions()
    before = functions[0]() if functions else None
    real, calls = _engine.cost_grad, []

    def interrupted_on_the_third_call(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "cost_grad", interrupted_on_the_third_call)
    X, y, _ = make_problem(60, 4, 5, 3, seed=0)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50).fit(X, y)
    assert len(calls) == 3  # stopped at the next evaluation
    assert (functions[0]() if functions else None) == before
    assert _blas_threads._scipy_users == 0


STRESS = """
import os, random, signal, sys, threading, time
import numpy as np
import fastnn
from fastnn import _blas_threads
from fastnn._kernels import blas

before = blas.get_threads()
X = np.ones((40, 30)); y = np.zeros(40, int); params = fastnn.get_init_params(30, 20, 3, seed=0)
fastnn.cost_grad(X, y, params, 0.1)

started = threading.Event()  # set inside the loop's try: no SIGINT before it can be counted


def interrupter():  # 1,500 SIGINTs, 0.2 to 3 ms apart
    started.wait()
    rng = random.Random(0)
    for _ in range(1500):
        time.sleep(rng.uniform(0.0002, 0.003))
        os.kill(os.getpid(), signal.SIGINT)

thread = threading.Thread(target=interrupter)
thread.start()
interrupts = calls = 0
done = False
while not done:  # an interrupt anywhere in the loop, inside fastnn or not, is counted and the loop goes on
    try:
        started.set()
        while thread.is_alive():
            try:
                fastnn.cost_grad(X, y, params, 0.1)
                calls += 1
            except KeyboardInterrupt:
                interrupts += 1
        done = True
    except KeyboardInterrupt:
        interrupts += 1
ok = blas.get_threads() == before and _blas_threads._users == 0 and _blas_threads._waiting == 0
with _blas_threads.limited(10**9):  # a call wanting another count gets in
    pass
print(interrupts, calls, ok)
sys.exit(0 if ok else 1)
"""


@controllable
@pytest.mark.slow
def test_random_ctrl_c_during_many_calls_never_changes_the_count_or_hangs():
    from helpers import run_python

    run = run_python("-c", STRESS, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_a_thread_stat_file_of_another_form_is_skipped(monkeypatch, tmp_path):
    """A /proc/self/task/*/stat without the ')' that ends the thread's name must not make every call raise."""
    odd, running = tmp_path / "odd", tmp_path / "running"
    odd.write_text("1234 no-parenthesis R 1")
    running.write_text("1235 (python) R 1 2 3")
    monkeypatch.setattr(_blas_threads.glob, "glob", lambda pattern: [str(odd), str(running)])
    assert _blas_threads._own_running_threads() == 1
