"""The door to compiled code: every array a kernel writes is checked before it runs."""

import time

import numpy as np
import pytest

import fastnn
from fastnn import _engine, _inputs, _threads, training
from fastnn.optim import Optimizer
from fastnn.params import to_layers
from helpers import assert_same_result, error_scale, make_problem, run_python


def _trainer(optimizer="momentum", dtype=np.float64):
    X, y, params = make_problem(50, 6, (8, 5), 3, dtype, seed=0)
    weights, biases = to_layers(params)
    return X, y, training.Trainer(weights, biases, Optimizer(optimizer), 0.1)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_a_state_of_another_optimizer_is_refused(optimizer):
    X, y, trainer = _trainer(optimizer)
    others = [name for name in ("sgd", "momentum", "adam") if
              Optimizer(name).init_state(trainer.weights, trainer.biases, allocate=False)
              != Optimizer(optimizer).init_state(trainer.weights, trainer.biases, allocate=False)]
    for other in others:
        state = Optimizer(other).init_state(trainer.weights, trainer.biases)
        with pytest.raises(ValueError, match="optimizer state"):
            training.Trainer(trainer.weights, trainer.biases, Optimizer(optimizer), 0.1, state)


def test_state_replaced_after_construction_is_checked_before_the_epoch():
    X, y, trainer = _trainer("adam")
    trainer.state = Optimizer("sgd").init_state(trainer.weights, trainer.biases)  # zero-size moments
    with pytest.raises(ValueError, match="optimizer state"):
        trainer.run_epoch(X, y.astype(np.int64), np.arange(len(X)), 10, 0.01)


def test_parameters_of_another_width_are_refused():
    X, y, trainer = _trainer("sgd")
    trainer.biases = (np.zeros(3), *trainer.biases[1:])  # b1 no longer fits W1 (8 columns)
    with pytest.raises(ValueError, match="b1"):
        trainer.run_epoch(X, y.astype(np.int64), np.arange(len(X)), 10, 0.01)


@pytest.mark.parametrize("order", [np.array([0, 1, 50]), np.array([-1, 2])], ids=["past-the-end", "negative"])
def test_an_order_outside_the_rows_is_refused(order):
    X, y, trainer = _trainer("sgd")
    with pytest.raises(ValueError, match="do not fit"):
        trainer.run_epoch(X, y.astype(np.int64), order, 10, 0.01)


def test_gemm_checks_the_output_shape_and_computes_the_product():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    c = np.empty((5, 4))
    _engine.gemm(False, True, 2.0, a, b, 0.0, c)
    np.testing.assert_allclose(c, 2 * a @ b.T, rtol=1e-14)
    with pytest.raises(ValueError, match="shape"):
        _engine.gemm(False, True, 1.0, a, b, 0.0, np.empty((4, 5)))
    with pytest.raises(ValueError, match="do not multiply"):
        _engine.gemm(False, False, 1.0, a, b, 0.0, c)


def test_read_only_parameters_work_and_give_the_same_bits():
    X, y, params = make_problem(40, 6, 9, 3, seed=1)
    expected = fastnn.cost_grad(X, y, params, 0.1)
    for value in params.values():
        value.flags.writeable = False
    X.flags.writeable = False
    got = fastnn.cost_grad(X, y, params, 0.1)
    assert got[0] == expected[0]
    for key in expected[1]:
        np.testing.assert_array_equal(got[1][key], expected[1][key])
    np.testing.assert_array_equal(fastnn.NetClassifier().predict(X, params), fastnn.reference.predict(X, params))


@pytest.mark.slow  # a fresh process: the crash probe of issue 11, finding 1
@pytest.mark.parametrize("change", [dict(momentum=0.9), dict(solver="adam"), dict(nesterovs_momentum=False)])
def test_changing_the_optimizer_between_partial_fits_does_not_crash(change):
    script = f"""
import numpy as np, fastnn
from fastnn.datasets import load_digits
X, y = load_digits()
clf = fastnn.MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, max_iter=2, random_state=0)
import warnings; warnings.simplefilter("ignore")
clf.fit(X, y)
clf.set_params(**{change!r})
clf.partial_fit(X, y)
wider = fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
wider.coefs_ = [np.zeros((64, 40)), np.zeros((40, 10))]
wider.intercepts_ = [np.zeros(40), np.zeros(10)]
wider.partial_fit(X, y)
print("ok", clf.n_iter_, wider.coefs_[0].shape)
"""
    run = run_python("-c", script, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["ok", "1", "(64,", "40)"]  # n_iter_: the epochs of the last call


@pytest.mark.slow  # fresh processes on a damaged cache
def test_a_damaged_kernel_cache_is_rebuilt(tmp_path):
    script = ("import numpy as np, fastnn\n"
              "print(fastnn.cost_grad(np.ones((5, 4)), np.zeros(5, int), "
              "fastnn.get_init_params(4, 3, 2, seed=0), 0.1)[0])")
    env = {"NUMBA_CACHE_DIR": tmp_path}
    first = run_python("-c", script, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    files = sorted(path for path in tmp_path.rglob("*") if path.suffix in (".nbi", ".nbc"))
    assert files
    for number, path in enumerate(files):
        content = path.read_bytes()
        # truncated, emptied, or with flipped bytes in the middle
        damaged = [content[:len(content) // 3], b"", content[:100] + bytes(255 - c for c in content[100:200])
                   + content[200:]][number % 3]
        path.write_bytes(damaged)
    for _ in range(2):  # rebuilt by the first run, loaded by the second
        again = run_python("-c", script, env=env)
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout == first.stdout


FORK_SCRIPT = """
import multiprocessing as mp
import fastnn
from fastnn import _blas_threads, _threads
from fastnn.benchmarks.inputs import make_problem

def work(seed):
    _blas_threads._usable_cpus = 4  # a 4-CPU machine, with NUMBA_NUM_THREADS=4 (every child reads its own)
    X, y, params = make_problem(4200, 20, 16, 4, seed=seed)
    return fastnn.cost_grad(X, y, params, 0.1)[0]

if __name__ == "__main__":
    expected = [work(seed) for seed in range(3)]  # the parent starts Numba's threads
    assert _threads.use_parallel(4200)
    for method in ("fork", "spawn", "forkserver"):
        with mp.get_context(method).Pool(2) as pool:
            print(method, pool.map(work, range(3)) == expected)
"""


@pytest.mark.slow  # pools of fresh processes
def test_fork_spawn_and_forkserver_children_run_the_parallel_path(tmp_path):
    # 4 Numba threads and 4 usable CPUs make cost_grad use the parallel block pass at 4200
    # rows, as on any machine with more than 2 cores. GNU OpenMP used to kill the fork children.
    script = tmp_path / "children.py"
    script.write_text(FORK_SCRIPT)
    run = run_python(script, env={"NUMBA_NUM_THREADS": 4}, timeout=300)
    if "No threading layer" in run.stderr:
        pytest.skip("no parallel threading layer here")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["fork", "True", "spawn", "True", "forkserver", "True"]


@pytest.mark.parametrize("implementation", [fastnn.reference.cost_grad, fastnn.cost_grad],
                         ids=["reference", "compiled"])
@pytest.mark.parametrize("dtype, c", [(np.float64, 5e307), (np.float32, 3e39)])
def test_a_huge_but_finite_decay_gives_a_finite_cost_or_the_documented_error(implementation, dtype, c):
    X, y, params = make_problem(20, 5, 6, 3, dtype, seed=0)
    ref_cost = None
    try:
        ref_cost = fastnn.reference.cost_grad(X, y, params, c)[0]
    except FloatingPointError:
        pass
    if ref_cost is None:
        with pytest.raises(FloatingPointError):
            implementation(X, y, params, c)
    else:
        cost, grads = implementation(X, y, params, c)
        assert np.isfinite(cost) and cost == pytest.approx(ref_cost, rel=1e-5)
        assert all(np.all(np.isfinite(g)) for g in grads.values())
    X1, y1 = X[:1], y[:1]  # one row: c/2 ||W||^2 overflows float64
    with pytest.raises(FloatingPointError, match="weight-decay term overflowed"):
        implementation(X1, y1, params, 1.7e308)


@pytest.mark.parametrize("implementation", [fastnn.reference.cost_grad, fastnn.cost_grad],
                         ids=["reference", "compiled"])
def test_x_that_overflows_in_the_cast_to_float32_is_named(implementation):
    X, y, params = make_problem(20, 5, 6, 3, np.float32, seed=0)
    X64 = X.astype(np.float64)
    X64[3, 2] = 1e300
    with pytest.raises(ValueError, match=r"too large for float32.*X\[3, 2\] is 1e\+300"):
        implementation(X64, y, params)


@pytest.mark.slow  # a fresh process compiling every kernel it uses
def test_without_a_writable_cache_fastnn_imports_warns_once_and_works():
    # As on a read-only install with a read-only HOME: Numba finds no cache locator.
    script = """
import warnings
from numba.core import caching
caching.CacheImpl._locator_classes = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np, fastnn
    cost = fastnn.cost_grad(np.ones((5, 4)), np.zeros(5, int), fastnn.get_init_params(4, 3, 2, seed=0), 0.1)[0]
messages = [str(w.message) for w in caught if "cannot cache" in str(w.message)]
print(len(messages), np.isfinite(cost))
"""
    run = run_python("-c", script, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "True"]


@pytest.mark.slow  # two worker processes
def test_joblib_workers_with_read_only_memory_maps():
    # joblib memory-maps large arguments read-only in its workers.
    joblib = pytest.importorskip("joblib")
    X, y, params = make_problem(300, 784, 256, 10, np.float32, seed=0)
    results = joblib.Parallel(n_jobs=2, max_nbytes="1K")(
        joblib.delayed(fastnn.cost_grad)(X, y, params, 0.1) for _ in range(2))
    # The workers' BLAS runs on fewer threads (joblib limits them), which changes the
    # order of the sums: equal within the tolerances, not bit for bit.
    expected, scale = fastnn.reference.cost_grad(X, y, params, 0.1), error_scale(X, y, params, 0.1)
    for result in results:
        assert_same_result(expected, result, np.float32, scale)


def test_big_endian_parameters_are_named_and_big_endian_X_is_converted():
    X, y, params = make_problem(10, 4, 3, 2, seed=0)
    expected = fastnn.cost_grad(X, y, params)
    assert fastnn.cost_grad(X.astype(">f8"), y, params)[0] == expected[0]
    with pytest.raises(TypeError, match=r"byte order \(>f8\).*astype\(float64\)"):
        fastnn.cost_grad(X, y, {**params, "W1": params["W1"].astype(">f8")})


def test_key_parsing_is_bounded_whatever_the_keys_say():
    from fastnn.params import param_keys

    X, y, params = make_problem(10, 4, 3, 2, seed=0)
    for stray in ("W10000000", "b999999999"):
        started = time.perf_counter()
        with pytest.raises(ValueError, match=r"params is missing \['W3', .* and \d+ more") as error:
            fastnn.cost_grad(X, y, {**params, stray: np.ones((1, 1))})
        assert time.perf_counter() - started < 1 and len(str(error.value)) < 300
    assert param_keys.cache_info().maxsize <= 64  # no cache that keeps what untrusted input asked for


@pytest.mark.parametrize("activation, X_scale, y_value", [
    ("relu", 1e10, 1e30), ("identity", 1e10, 1e30), ("relu", 1e20, 1.0), ("identity", 1e20, 1.0)])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_a_gradient_that_overflows_in_float32_is_the_documented_error(activation, X_scale, y_value, sparse):
    """Finite inputs whose weight gradients (A^T dZ) overflow: the reference raises FloatingPointError, and so
    must the compiled path, however large its pre-activations, losses and cost stay finite."""
    import scipy.sparse

    rng = np.random.default_rng(1)
    X = (rng.standard_normal((30, 4)) * X_scale).astype(np.float32)
    params = fastnn.get_init_params(4, 5, 2, seed=0, dtype=np.float32)
    y, output = np.full((30, 2), y_value, np.float32), "identity"
    with pytest.raises(FloatingPointError):
        fastnn.reference.cost_grad(X, y, params, 0.1, activation=activation, output=output)
    if not sparse:
        with pytest.raises(FloatingPointError, match="a gradient"):
            fastnn.cost_grad(X, y, params, 0.1, activation=activation, output=output)
        return

    from fastnn.params import to_layers

    weights, biases = to_layers(params)  # the estimators' door: sparse X, status codes
    status, _, _, _ = _engine.cost_grad(_inputs.as_input(scipy.sparse.csr_matrix(X), np.float32), y, weights, biases,
                                        0.1, activation=activation, output=output)
    assert status == _engine.NON_FINITE


def test_the_checked_sparse_input_is_a_copy_another_thread_cannot_change():
    """The kernels index with the sparse matrix's indices: what was checked must be what they read."""
    import scipy.sparse



    for index_dtype in (np.int32, np.int64):
        matrix = scipy.sparse.random(20, 6, density=0.5, format="csr", random_state=0)
        matrix.indices = matrix.indices.astype(index_dtype)
        matrix.indptr = matrix.indptr.astype(index_dtype)
        checked = _inputs.as_input(matrix, np.float64)
        indices, indptr = checked.indices.copy(), checked.indptr.copy()
        matrix.indices[:] = 10**6  # a user's thread rewriting its matrix during fit
        matrix.indptr[-1] = 10**6
        np.testing.assert_array_equal(checked.indices, indices)
        np.testing.assert_array_equal(checked.indptr, indptr)


def test_the_parallel_pass_uses_no_more_numba_threads_than_the_process_may_use(monkeypatch):
    """Under taskset or a CPU quota Numba's pool (sized for the machine) is cut to the CPUs the process has."""
    import numba

    from fastnn import _blas_threads

    seen = []
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 1)
    before = numba.get_num_threads()
    _threads.run_parallel(lambda: seen.append(numba.get_num_threads()))
    assert seen == [1] and numba.get_num_threads() == before  # restored after the launch
    monkeypatch.setattr(numba, "get_num_threads", lambda: 16)  # a 16-thread pool, as NUMBA_NUM_THREADS says
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 16)
    assert not _threads.use_parallel(1 << 20)  # one usable CPU: the serial pass
    monkeypatch.setattr(_blas_threads, "_usable_cpus", 16)
    assert _threads.use_parallel(1 << 20)
