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
        time.sleep(pause)
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


# ---------------------------------------------------------------- one training epoch


def fastnn_epoch(X, y, params, batch_size, lr, c):
    """One epoch of fastnn.NetClassifier (plain SGD), training-set metrics included."""
    import fastnn

    def run():
        fastnn.NetClassifier().fit(X, y, None, None, params, batch_size=batch_size, lr=lr, c=c, epochs=1, seed=0)

    return run


def numpy_epoch(X, y, params, batch_size, lr, c):
    """The hand-in's loop: reference.cost_grad per shuffled batch and W -= lr dW, then metrics."""
    from fastnn import reference

    rng = np.random.default_rng(0)

    def run():
        weights = {key: value.copy() for key, value in params.items()}
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            rows = order[start:start + batch_size]
            _, grads = reference.cost_grad(X[rows], y[rows], weights, c)
            for key in weights:
                weights[key] -= lr * grads["d_" + key.lower()]
        logits = np.maximum(X @ weights["W1"] + weights["b1"], 0) @ weights["W2"] + weights["b2"]
        log_probs = reference.log_softmax(logits)
        return -log_probs[np.arange(len(y)), y].mean(), np.mean(logits.argmax(axis=1) == y)

    return run


def torch_epoch(X, y, params, batch_size, lr, c, threads=2):
    """Idiomatic PyTorch: nn.Sequential, CrossEntropyLoss, optim.SGD over shuffled index slices.

    weight_decay = c / batch_size gives the same update as fastnn's c/(2n) ||W||^2 term
    (PyTorch also decays the biases; the difference in work is negligible). Returns None
    when PyTorch is not installed.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    d, h = params["W1"].shape
    k = params["W2"].shape[1]

    def run():
        model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, k)).to(X_t.dtype)
        loss_fn = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=c / batch_size)
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(X_t[rows]), y_t[rows])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            logits = model(X_t)
            return loss_fn(logits, y_t).item(), (logits.argmax(dim=1) == y_t).double().mean().item()

    return run


def compare_epoch(batch_sizes=(32, 256), n=60000, shape=SHAPE, dtype="float32", repeats=3, lr=0.1, c=1e-4):
    """Seconds per epoch (medians, taken in turn) of fastnn, PyTorch and the NumPy loop.

    MNIST-shaped random data; each epoch ends with the training set's loss and accuracy.
    Returns one dict per batch size with the medians and the speedups of fastnn.
    """
    d, h, k = shape
    X, y, params = make_inputs(n, d, h, k, np.dtype(dtype))
    params = {key: value.reshape(1, -1) if key.startswith("b") else value for key, value in params.items()}
    rows = []
    for batch_size in batch_sizes:
        contenders = {
            "fastnn": fastnn_epoch(X, y, params, batch_size, lr, c),
            "numpy": numpy_epoch(X, y, params, batch_size, lr, c),
        }
        torch_run = torch_epoch(X, y, params, batch_size, lr, c)
        if torch_run is not None:
            contenders["pytorch"] = torch_run
        times = interleaved_medians(contenders, repeats=repeats, min_seconds=0.0, pause=0.3)
        row = {"batch_size": batch_size, **{f"{name}_s": seconds for name, seconds in times.items()}}
        for name in contenders:
            if name != "fastnn":
                row[f"speedup_vs_{name}"] = times[name] / times["fastnn"]
        rows.append(row)
    return rows


def format_epoch_table(rows):
    """A Markdown table of compare_epoch's rows."""
    has_torch = "pytorch_s" in rows[0]
    header = "| batch | fastnn s | NumPy loop s | fastnn speedup vs NumPy |"
    rule = "| ---: | ---: | ---: | ---: |"
    if has_torch:
        header += " PyTorch s | fastnn speedup vs PyTorch |"
        rule += " ---: | ---: |"
    lines = [header, rule]
    for row in rows:
        line = (f"| {row['batch_size']} | {row['fastnn_s']:.3f} | {row['numpy_s']:.3f} | "
                f"{row['speedup_vs_numpy']:.2f} |")
        if has_torch:
            line += f" {row['pytorch_s']:.3f} | {row['speedup_vs_pytorch']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 1024, 10000], help="batch sizes n")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=9, help="repeats per contender (medians)")
    parser.add_argument("--epoch", action="store_true",
                        help="time one training epoch (fastnn, NumPy loop, PyTorch if installed) instead")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256], help="with --epoch")
    parser.add_argument("--samples", type=int, default=60000, help="rows per epoch, with --epoch")
    args = parser.parse_args(argv)
    if args.epoch:
        print(f"one epoch, {args.samples} x {SHAPE[0]} float32, h = {SHAPE[1]}, k = {SHAPE[2]}, plain SGD, "
              f"training-set loss and accuracy at the end; {machine_summary()}")
        print(format_epoch_table(compare_epoch(args.batch_sizes, args.samples, repeats=min(args.repeats, 3))))
        return
    print(f"cost_grad at (d, h, k) = {SHAPE}, c = 1e-4; {machine_summary()}")
    print(format_table(compare_cost_grad(args.sizes, args.dtypes, args.repeats)))


if __name__ == "__main__":
    main()
