"""pytest-benchmark timings of cost_grad: compiled, reference and GEMM-only.

Disabled in the normal run (each body runs once, as a smoke test); measure with
``pytest tests/test_bench.py --benchmark-enable`` or ``--benchmark-only``. For ratios
measured side by side in one process, use ``python -m fastnn.bench``.
"""

import numpy as np
import pytest

import fastnn
from fastnn import reference
from fastnn.bench import SHAPE, gemm_only, make_inputs

IMPLEMENTATIONS = ["compiled", "reference", "gemm"]


@pytest.mark.parametrize("n", [32, 1024, 10000])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cost_grad_speed(benchmark, impl, dtype, n):
    benchmark.group = f"cost_grad n={n} {dtype}"
    X, y, params = make_inputs(n, *SHAPE, np.dtype(dtype))
    if impl == "compiled":
        fastnn.cost_grad(X, y, params, 1e-4)  # compile outside the timing
        result = benchmark(fastnn.cost_grad, X, y, params, 1e-4)
    elif impl == "reference":
        result = benchmark(reference.cost_grad, X, y, params, 1e-4)
    else:
        benchmark(gemm_only(X, params))
        return
    assert np.isfinite(result[0]) and result[1]["d_w1"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("batch_size", [32, 256])
@pytest.mark.parametrize("impl", ["compiled", "reference"])
def test_epoch_speed(benchmark, impl, batch_size):
    """One MNIST-shaped epoch on 6,000 rows (a tenth of MNIST, to keep the smoke run quick)."""
    from fastnn.bench import fastnn_epoch, numpy_epoch

    benchmark.group = f"epoch batch={batch_size} float32"
    X, y, params = make_inputs(6000, *SHAPE, np.dtype("float32"))
    run = (fastnn_epoch if impl == "compiled" else numpy_epoch)(X, y, params, batch_size, 0.1, 1e-4)
    run()  # compile outside the timing
    benchmark.pedantic(run, rounds=3, iterations=1)
