"""Side-by-side timing of cost_grad: compiled, the NumPy reference, and the GEMM-only time.

Run ``python -m fastnn.bench`` (``--help`` for options). Every speed claim is a ratio
measured in one process: the contenders take turns inside each repeat, so drift on a
shared machine hits them alike, and the table reports medians (../shared/PERF.md).

Two BLAS libraries live in the process: NumPy's (the reference, the GEMM-only yardstick)
and SciPy's (Numba kernels, fastnn). An idle OpenBLAS thread pool spins for about 0.1 s
after each call and slows the other library's threads, so each turn starts after a
pause that lets the previous contender's pool fall asleep. The GEMM-only time is given
for both libraries, to tell BLAS differences from fastnn's own overhead.
"""

import argparse
import platform
import time

import numpy as np

SHAPE = (784, 256, 10)  # MNIST-shaped (d, h, k)


def make_inputs(n, d, h, k, dtype, seed=0):
    """Seeded data and parameters (the hand-in's initialisation) for a benchmark shape."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    params = {
        "W1": rng.normal(0, np.sqrt(2 / (d + h)), (d, h)).astype(dtype),
        "b1": np.zeros(h, dtype),
        "W2": rng.normal(0, np.sqrt(4 / (h + k)), (h, k)).astype(dtype),
        "b2": np.zeros(k, dtype),
    }
    return X, y, params


def gemm_only(X, params):
    """The five matrix products of one forward-backward pass, alone, at the same shapes.

    Returns a function of no arguments: X W1, A1 W2, A1^T G, G W2^T, X^T dZ1 with NumPy's
    BLAS, the yardstick the elementwise work is measured against.
    """
    W1, W2 = params["W1"], params["W2"]
    A1 = np.maximum(X @ W1, 0)
    G = np.ones((X.shape[0], W2.shape[1]), X.dtype)

    def products():
        X @ W1
        A1 @ W2
        A1.T @ G
        G @ W2.T
        X.T @ A1

    return products


def gemm_only_numba(X, params):
    """`gemm_only` with the BLAS that Numba kernels (and fastnn) call: SciPy's."""
    from fastnn import _blas
    from fastnn._blas import _gemm

    _blas.bind()
    W1, W2 = params["W1"], params["W2"]
    n, (d, h), k = X.shape[0], W1.shape, W2.shape[1]
    A1 = np.maximum(X @ W1, 0)
    G = np.ones((n, k), X.dtype)
    hidden, logits = np.empty((n, h), X.dtype), np.empty((n, k), X.dtype)
    d_w2, d_hidden, d_w1 = np.empty((h, k), X.dtype), np.empty((n, h), X.dtype), np.empty((d, h), X.dtype)

    def products():
        _gemm(False, False, 1.0, X, W1, 0.0, hidden)
        _gemm(False, False, 1.0, A1, W2, 0.0, logits)
        _gemm(True, False, 1.0, A1, G, 0.0, d_w2)
        _gemm(False, True, 1.0, G, W2, 0.0, d_hidden)
        _gemm(True, False, 1.0, X, A1, 0.0, d_w1)

    return products


def interleaved_medians(functions, repeats, min_seconds=0.02, pause=0.15):
    """Median seconds per call of each function, timed in turn within every repeat.

    Each function is called twice first (JIT compilation and BLAS warm-up are never
    timed); a turn calls it enough times to last about min_seconds, after a pause.
    """
    loops = {}
    for name, function in functions.items():
        function()
        start = time.perf_counter()
        function()
        loops[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))
    samples = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            time.sleep(pause)
            function()
            start = time.perf_counter()
            for _ in range(loops[name]):
                function()
            samples[name].append((time.perf_counter() - start) / loops[name])
    return {name: float(np.median(times)) for name, times in samples.items()}


def compare_cost_grad(sizes=(32, 1024, 10000), dtypes=("float32", "float64"), repeats=9, c=1e-4):
    """Time compiled cost_grad, the reference and GEMM-only side by side.

    Returns
    -------
    list of dict
        One row per (dtype, n): medians in ms and the ratios compiled / GEMM-only,
        reference / GEMM-only and reference / compiled.
    """
    import fastnn
    from fastnn import reference

    rows = []
    d, h, k = SHAPE
    for dtype in dtypes:
        for n in sizes:
            X, y, params = make_inputs(n, d, h, k, np.dtype(dtype))
            times = interleaved_medians(
                {
                    "gemm": gemm_only(X, params),
                    "gemm_scipy": gemm_only_numba(X, params),
                    "compiled": lambda: fastnn.cost_grad(X, y, params, c),
                    "reference": lambda: reference.cost_grad(X, y, params, c),
                },
                repeats=repeats,
            )
            flops = 4 * n * d * h + 6 * n * h * k
            rows.append({
                "dtype": dtype, "n": n,
                **{f"{name}_ms": 1e3 * seconds for name, seconds in times.items()},
                "compiled/gemm": times["compiled"] / times["gemm"],
                "compiled/gemm_scipy": times["compiled"] / times["gemm_scipy"],
                "reference/gemm": times["reference"] / times["gemm"],
                "speedup": times["reference"] / times["compiled"],
                "compiled_gflops": flops / times["compiled"] / 1e9,
            })
    return rows


def format_table(rows):
    """A Markdown table of compare_cost_grad's rows."""
    lines = [
        "| dtype | n | GEMM-only ms (NumPy BLAS) | GEMM-only ms (SciPy BLAS) | compiled ms | reference ms "
        "| compiled / GEMM (NumPy) | compiled / GEMM (SciPy) | reference / GEMM (NumPy) | speedup over reference | compiled GFLOP/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['dtype']} | {row['n']} | {row['gemm_ms']:.3f} | {row['gemm_scipy_ms']:.3f} | "
            f"{row['compiled_ms']:.3f} | {row['reference_ms']:.3f} | {row['compiled/gemm']:.2f} | "
            f"{row['compiled/gemm_scipy']:.2f} | {row['reference/gemm']:.2f} | "
            f"{row['speedup']:.2f} | {row['compiled_gflops']:.1f} |"
        )
    return "\n".join(lines)


def machine_summary():
    """One line naming the machine and the library versions."""
    import os

    import numba

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 1024, 10000], help="batch sizes n")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=9, help="repeats per contender (medians)")
    args = parser.parse_args(argv)
    print(f"cost_grad at (d, h, k) = {SHAPE}, c = 1e-4; {machine_summary()}")
    print(format_table(compare_cost_grad(args.sizes, args.dtypes, args.repeats)))


if __name__ == "__main__":
    main()
