"""fastnn.cost_grad (compiled) against fastnn.reference.cost_grad (the oracle)."""

import itertools
import threading

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import reference
from fastnn._config import PARALLEL_MIN_ROWS, ROW_BLOCK
from helpers import RTOL, assert_identical, assert_same_result, error_scale, make_problem, run_python

DTYPES = [np.float32, np.float64]


def check_equal(X, y, params, c, dtype):
    """Assert compiled equals reference on these inputs (tolerances in helpers.RTOL)."""
    ref_ = reference.cost_grad(X, y, params, c)
    comp_ = fastnn.cost_grad(X, y, params, c)
    assert_same_result(ref_, comp_, dtype, error_scale(X, y, params, c))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 33, 1000])
@pytest.mark.parametrize("d, h, k", list(itertools.product([1, 5, 64], [1, 5, 64], [2, 3, 10])))
@pytest.mark.parametrize("c", [0.0, 1e-4, 1.0])
def test_compiled_equals_reference_over_the_grid(dtype, n, d, h, k, c):
    X, y, params = make_problem(n, d, h, k, dtype, seed=n + d + h + k)
    check_equal(X, y, params, c, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 1000])
@pytest.mark.parametrize("hidden", [(5, 1), (64, 5), (5, 64, 3)], ids=["depth3-narrow", "depth3", "depth4"])
@pytest.mark.parametrize("d, k", list(itertools.product([1, 20], [2, 10])))
@pytest.mark.parametrize("c", [0.0, 1.0])
def test_deeper_networks_equal_the_reference(dtype, n, hidden, d, k, c):
    X, y, params = make_problem(n, d, hidden, k, dtype, seed=n + d + k)
    check_equal(X, y, params, c, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [ROW_BLOCK - 1, ROW_BLOCK, ROW_BLOCK + 1, PARALLEL_MIN_ROWS + 3])
@pytest.mark.parametrize("hidden", [24, (24, 16)], ids=["depth2", "depth3"])
def test_block_edges_and_the_parallel_path(dtype, n, hidden):
    X, y, params = make_problem(n, 20, hidden, 4, dtype, seed=5)
    check_equal(X, y, params, 0.01, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [256, (256, 128)], ids=["depth2", "depth3"])
def test_mnist_shape(dtype, hidden):
    X, y, params = make_problem(256, 784, hidden, 10, dtype, seed=7)
    check_equal(X, y, params, 1e-4, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kink_and_absent_classes(dtype):
    X, y, params = make_problem(40, 6, 8, 5, dtype, seed=11)
    X[:, :] = 0  # every pre-activation equals b1; zero b1 puts all of them on the kink
    params["b1"][:4] = 0
    y[:] = 1  # classes 0, 2, 3, 4 never occur
    check_equal(X, y, params, 0.5, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad])
def test_huge_logits_give_the_analytic_limit(dtype, implementation):
    # h = 1, A1 = 1, logits = (1e4, -1e4): softmax is (1, 0) to all precision.
    X = np.ones((2, 1), dtype)
    y = np.array([0, 1])
    params = {"W1": np.ones((1, 1), dtype), "b1": np.zeros(1, dtype),
              "W2": np.array([[1e4, -1e4]], dtype), "b2": np.zeros(2, dtype)}
    cost, grads = implementation(X, y, params)
    # Sample 0 is right (loss 0), sample 1 wrong by 2e4: cost = 2e4 / 2.
    assert cost == pytest.approx(1e4, rel=1e-6)
    # G = [[0, 0], [1, -1]] / 2
    np.testing.assert_allclose(grads["d_b2"], [0.5, -0.5], rtol=1e-6)
    np.testing.assert_allclose(grads["d_w2"], [[0.5, -0.5]], rtol=1e-6)
    np.testing.assert_allclose(grads["d_w1"], [[1e4]], rtol=1e-6)  # (1e4 + 1e4) / 2
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def _fortran(X):
    return np.asfortranarray(X)


def _strided(X):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), X.dtype)
    wide[:, ::2] = X
    return wide[:, ::2]


def _reversed_rows(X):
    return X[::-1].copy()[::-1]  # C-ordered values behind negative strides


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", [_fortran, _strided, _reversed_rows], ids=["fortran", "strided", "reversed-rows"])
def test_layouts_of_X_give_the_contiguous_numbers(dtype, layout):
    X, y, params = make_problem(30, 7, 9, 3, dtype, seed=2)
    assert_identical(fastnn.cost_grad(X, y, params, 0.1), fastnn.cost_grad(layout(X), y, params, 0.1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fortran_params_give_the_contiguous_numbers(dtype):
    X, y, params = make_problem(30, 7, 9, 3, dtype, seed=2)
    F_params = {key: np.asfortranarray(value) for key, value in params.items()}
    assert_identical(fastnn.cost_grad(X, y, params, 0.1), fastnn.cost_grad(X, y, F_params, 0.1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_X_gives_the_float_numbers(dtype):
    X, y, params = make_problem(30, 7, 9, 3, dtype, seed=2)
    X_int = np.round(X * 10).astype(np.int32)
    assert_identical(fastnn.cost_grad(X_int.astype(dtype), y, params, 0.1), fastnn.cost_grad(X_int, y, params, 0.1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [(), (9,), (9, 6)], ids=["no-hidden", "one-hidden", "two-hidden"])
@pytest.mark.parametrize("format_", ["csr", "csc"])
def test_sparse_X_equals_the_reference_on_the_same_sparse_X(dtype, hidden, format_):
    """The public cost_grad on a sparse X against the reference's sparse twin, and both against the dense X."""
    import scipy.sparse

    X, y, params = make_problem(90, 12, hidden if hidden else (), 4, dtype, seed=21)
    X[X < 0.3] = 0  # exact zeros,
    X[::5] = 0  # and rows without nonzeros
    matrix = scipy.sparse.csr_matrix(X) if format_ == "csr" else scipy.sparse.csc_matrix(X)
    scale = error_scale(X, y, params, 0.2)
    expected = reference.cost_grad(matrix, y, params, 0.2)
    assert_same_result(reference.cost_grad(X, y, params, 0.2), expected, dtype, scale)  # the twin is the dense math
    assert_same_result(expected, fastnn.cost_grad(matrix, y, params, 0.2), dtype, scale)
    dense_logits = reference.logits(X, params)
    rtol = RTOL[np.dtype(dtype)]  # scipy.sparse adds the products in another order than BLAS
    np.testing.assert_allclose(reference.logits(matrix, params), dense_logits, rtol=rtol,
                               atol=rtol * np.abs(dense_logits).max())


def test_a_sparse_X_with_nan_is_refused_by_both():
    import scipy.sparse

    X, y, params = make_problem(20, 5, 4, 3, seed=22)
    X[3, 2] = np.nan
    for implementation in (reference.cost_grad, fastnn.cost_grad):
        with pytest.raises(ValueError, match="NaN or inf"):
            implementation(scipy.sparse.csr_matrix(X), y, params)


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
def test_inputs_are_never_modified(implementation):
    X, y, params = make_problem(100, 8, 16, 4, seed=3)
    copies = (X.copy(), y.copy(), {key: value.copy() for key, value in params.items()})
    implementation(X, y, params, 0.3)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    for key in params:
        np.testing.assert_array_equal(params[key], copies[2][key])


def _kernel_result(X, y, params, c, parallel):
    """The compiled cost and gradients, forcing the serial or the parallel block pass."""
    from fastnn import _engine
    from fastnn.params import to_layers

    weights, biases = to_layers(params)
    status, cost, d_W, d_b = _engine.cost_grad(X, np.asarray(y, np.int64), weights, biases, c, parallel=parallel)
    assert status == _engine.OK
    return cost, [array for pair in zip(d_W, d_b) for array in pair]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [33, (33, 17)], ids=["depth2", "depth3"])
def test_bit_identical_with_one_thread_all_threads_and_serially(dtype, hidden):
    X, y, params = make_problem(5 * ROW_BLOCK + 7, 12, hidden, 5, dtype, seed=4)
    results = [_kernel_result(X, y, params, 0.2, parallel=False)]
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            results.append(_kernel_result(X, y, params, 0.2, parallel=True))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    serial_cost, serial_grads = results[0]
    for cost, grads in results[1:]:
        assert cost == serial_cost
        for serial, parallel in zip(serial_grads, grads, strict=True):
            np.testing.assert_array_equal(serial, parallel)
    reference_result = reference.cost_grad(X, y, params, 0.2)
    assert_same_result(reference_result, (results[1][0], dict(zip(reference_result[1], results[1][1]))),
                       dtype, error_scale(X, y, params, 0.2))


@given(
    n=st.integers(1, 150), d=st.integers(1, 12), h=st.lists(st.integers(1, 20), min_size=1, max_size=3),
    k=st.integers(2, 8), c=st.sampled_from([0.0, 1e-3, 2.0]), scale=st.sampled_from([1e-3, 1.0, 30.0]),
    dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
)
def test_property_compiled_equals_reference(n, d, h, k, c, scale, dtype, seed):
    X, y, params = make_problem(n, d, h, k, dtype, seed)
    X = (X * scale).astype(dtype)
    check_equal(X, y, params, c, dtype)


def _threaded_results(problems):
    results = [None] * len(problems)
    errors = []

    def work(i):
        try:
            X, y, params = problems[i]
            for _ in range(3):
                results[i] = fastnn.cost_grad(X, y, params, 0.1)
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(params=[False, True], ids=["default", "forced-parallel"])
def parallel_blocks(request, monkeypatch):
    """Run cost_grad as configured, and with the parallel block pass forced for every batch."""
    if request.param:
        from fastnn import _threads

        monkeypatch.setattr(_threads, "use_parallel", lambda n_rows: True)


def test_eight_python_threads_at_once(parallel_blocks):
    problems = [make_problem(n, 30, (40, 12) if n == 64 else 40, 6, dtype, seed=n)
                for n, dtype in zip([5, 64, 300, PARALLEL_MIN_ROWS + 1] * 2, DTYPES * 4)]
    results = _threaded_results(problems)
    for (X, y, params), result in zip(problems, results, strict=True):
        expected = fastnn.cost_grad(X, y, params, 0.1)
        assert result[0] == expected[0]
        assert_identical(result, expected)


@pytest.mark.slow  # a fresh process per threading layer
@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_eight_threads_under_each_threading_layer(layer):
    script = f"""
import numba, numpy as np, threading, fastnn
from fastnn.benchmarks.inputs import make_problem
import fastnn._threads
fastnn._threads.use_parallel = lambda n_rows: True  # every call launches parallel kernels
from fastnn._config import PARALLEL_MIN_ROWS
problems = [make_problem(PARALLEL_MIN_ROWS + i, 10, 16, 4, seed=i) for i in range(8)]
expected = [fastnn.cost_grad(*p, 0.1) for p in problems]
got = [None] * 8
def work(i):
    for _ in range(3):
        got[i] = fastnn.cost_grad(*problems[i], 0.1)
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
assert numba.threading_layer() == "{layer}", numba.threading_layer()
assert all(g[0] == e[0] for g, e in zip(got, expected, strict=True))
print("ok")
"""
    run = run_python("-c", script, env={"NUMBA_THREADING_LAYER": layer})
    if layer == "omp" and "No threading layer could be loaded" in run.stderr:
        pytest.skip("the OpenMP threading layer is not available here")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith("ok")
