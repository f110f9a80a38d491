"""Side-by-side timing of cost_grad: compiled, the NumPy reference, and the GEMM-only time.

Run ``python -m fastnn.bench`` (``--help`` for options). Every speed claim is a ratio
measured in one process: the contenders take turns inside each repeat, so drift on a
shared machine hits them alike, and the table reports medians (../shared/PERF.md).

Several thread pools may live in the process (NumPy's OpenBLAS, SciPy's when fastnn
falls back to it, Numba's, PyTorch's). An idle pool spins for a while after each call and
slows the others, so each turn starts after a pause that lets the previous contender's
pool fall asleep. The GEMM-only time is given twice: through NumPy (the yardstick) and
through fastnn's own BLAS binding from a Numba kernel, to tell BLAS and call-path
differences from fastnn's own overhead.
"""

import argparse
import platform
import time

import numpy as np

SHAPE = (784, 256, 10)  # MNIST-shaped (d, h, k)


def make_inputs(n, d, h, k, dtype, seed=0):
    """Seeded data in [0, 1), labels, and parameters from `get_init_params` for a benchmark shape."""
    from fastnn import get_init_params

    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    return X, y, get_init_params(d, h, k, seed=seed, dtype=dtype)


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
    """`gemm_only` through fastnn's BLAS binding (`fastnn._blas._gemm`), called from Python."""
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


def peak_gemm_gflops(dtype, size=2048, repeats=5):
    """The machine's GEMM rate in GFLOP/s: the median of NumPy products of two size x size matrices."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size)).astype(dtype), rng.random((size, size)).astype(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


def torch_cost_grad(X, y, params, c, threads=2):
    """PyTorch autograd computing the same cost and gradients, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    weights = [torch.tensor(params[key].reshape(-1) if key[0] == "b" else params[key], requires_grad=True)
               for key in ("W1", "b1", "W2", "b2")]
    n = X.shape[0]

    def run():
        W1, b1, W2, b2 = weights
        for w in weights:
            w.grad = None
        logits = torch.relu(X_t @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(logits, y_t) + c / (2 * n) * ((W1 * W1).sum() + (W2 * W2).sum())
        loss.backward()
        return loss.item()

    return run


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
        peak = peak_gemm_gflops(np.dtype(dtype))
        for n in sizes:
            X, y, params = make_inputs(n, d, h, k, np.dtype(dtype))
            contenders = {
                "gemm": gemm_only(X, params),
                "gemm_scipy": gemm_only_numba(X, params),
                "compiled": lambda: fastnn.cost_grad(X, y, params, c),
                "reference": lambda: reference.cost_grad(X, y, params, c),
            }
            torch_run = torch_cost_grad(X, y, params, c)
            if torch_run is not None:
                contenders["pytorch"] = torch_run
            times = interleaved_medians(contenders, repeats=repeats)
            flops = 4 * n * d * h + 6 * n * h * k
            rows.append({
                "dtype": dtype, "n": n,
                **{f"{name}_ms": 1e3 * seconds for name, seconds in times.items()},
                "compiled/gemm": times["compiled"] / times["gemm"],
                "compiled/gemm_scipy": times["compiled"] / times["gemm_scipy"],
                "reference/gemm": times["reference"] / times["gemm"],
                "speedup": times["reference"] / times["compiled"],
                "speedup_vs_pytorch": times["pytorch"] / times["compiled"] if "pytorch" in times else None,
                "compiled_gflops": flops / times["compiled"] / 1e9,
                "peak_gflops": peak,
            })
    return rows


def format_table(rows):
    """A Markdown table of compare_cost_grad's rows."""
    lines = [
        "| dtype | n | GEMM-only ms (NumPy) | GEMM-only ms (fastnn's binding) | compiled ms | reference ms "
        "| compiled / GEMM (NumPy) | compiled / GEMM (binding) | reference / GEMM (NumPy) | speedup over reference "
        "| PyTorch autograd ms | speedup over PyTorch | compiled GFLOP/s (% of peak GEMM) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['dtype']} | {row['n']} | {row['gemm_ms']:.3f} | {row['gemm_scipy_ms']:.3f} | "
            f"{row['compiled_ms']:.3f} | {row['reference_ms']:.3f} | {row['compiled/gemm']:.2f} | "
            f"{row['compiled/gemm_scipy']:.2f} | {row['reference/gemm']:.2f} | {row['speedup']:.2f} | "
            + (f"{row['pytorch_ms']:.3f} | {row['speedup_vs_pytorch']:.2f} | " if row["speedup_vs_pytorch"] else "n/a | n/a | ")
            + f"{row['compiled_gflops']:.1f} ({100 * row['compiled_gflops'] / row['peak_gflops']:.0f}% of {row['peak_gflops']:.0f}) |"
        )
    return "\n".join(lines)


def machine_summary():
    """One line naming the machine and the library versions."""
    import os

    import numba

    from fastnn import _blas

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
            f"fastnn's BLAS: {_blas.bind()}")


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


def sklearn_epoch(X, y, params, batch_size, lr, c):
    """scikit-learn's MLPClassifier(solver="sgd") for one epoch, then its training-set metrics.

    alpha = c gives the same L2 term; momentum 0 is plain SGD. Returns None without
    scikit-learn.
    """
    try:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    h = params["W1"].shape[1]

    def run():
        model = MLPClassifier((h,), solver="sgd", learning_rate_init=lr, batch_size=batch_size, alpha=c,
                              momentum=0.0, max_iter=1, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        proba = model.predict_proba(X)
        return -np.mean(np.log(proba[np.arange(len(y)), y])), np.mean(proba.argmax(axis=1) == y)

    return run


def compare_epoch(batch_sizes=(32, 256), n=60000, shape=SHAPE, dtype="float32", repeats=3, lr=0.1, c=1e-4):
    """Seconds per epoch (medians, taken in turn) of fastnn, PyTorch and the NumPy loop.

    MNIST-shaped random data; each epoch ends with the training set's loss and accuracy.
    Returns one dict per batch size with the medians and the speedups of fastnn.
    """
    d, h, k = shape
    X, y, params = make_inputs(n, d, h, k, np.dtype(dtype))
    rows = []
    for batch_size in batch_sizes:
        contenders = {
            "fastnn": fastnn_epoch(X, y, params, batch_size, lr, c),
            "numpy": numpy_epoch(X, y, params, batch_size, lr, c),
        }
        for name, make in (("pytorch", torch_epoch), ("sklearn", sklearn_epoch)):
            run = make(X, y, params, batch_size, lr, c)
            if run is not None:
                contenders[name] = run
        times = interleaved_medians(contenders, repeats=repeats, min_seconds=0.0, pause=0.3)
        row = {"batch_size": batch_size, **{f"{name}_s": seconds for name, seconds in times.items()}}
        for name in contenders:
            if name != "fastnn":
                row[f"speedup_vs_{name}"] = times[name] / times["fastnn"]
        rows.append({"dtype": dtype, **row})
    return rows


def estimator_fit(module, X, y, hidden, solver, batch_size, epochs):
    """A function that fits `module`.MLPClassifier (fastnn or sklearn.neural_network) for exactly `epochs` epochs.

    Same hyper-parameters for both; tol=0 with n_iter_no_change > epochs, so neither
    stops early. Returns None if the module is not installed.
    """
    import importlib
    import warnings

    try:
        classifier = importlib.import_module(module).MLPClassifier
        from sklearn.exceptions import ConvergenceWarning
    except ImportError:
        return None

    def run():
        model = classifier(hidden_layer_sizes=hidden, solver=solver, batch_size=batch_size, max_iter=epochs,
                           tol=0.0, n_iter_no_change=epochs + 1, learning_rate_init=0.001 if solver == "adam" else 0.01,
                           random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        return model

    return run


def compare_estimators(configs, n=60000, d=784, k=10, dtype="float32", epochs=3, repeats=3):
    """Seconds per fit of fastnn.MLPClassifier and scikit-learn's, taken in turn (medians).

    configs: (hidden_layer_sizes, solver, batch_size) triples. MNIST-shaped random data.
    """
    X, y, _ = make_inputs(n, d, 1, k, np.dtype(dtype))
    rows = []
    for hidden, solver, batch_size in configs:
        contenders = {name: estimator_fit(module, X, y, hidden, solver, batch_size, epochs)
                      for name, module in (("fastnn", "fastnn"), ("sklearn", "sklearn.neural_network"))}
        if contenders["sklearn"] is None:
            raise ImportError("--estimator compares with scikit-learn: pip install scikit-learn")
        times = interleaved_medians(contenders, repeats=repeats, min_seconds=0.0, pause=0.5)
        rows.append({"hidden": hidden, "solver": solver, "batch_size": batch_size, "dtype": dtype,
                     "epochs": epochs, **{f"{name}_s": seconds for name, seconds in times.items()},
                     "speedup": times["sklearn"] / times["fastnn"]})
    return rows


def format_estimator_table(rows):
    lines = ["| hidden | solver | batch | dtype | epochs | fastnn s | scikit-learn s | fastnn speedup |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['hidden']} | {row['solver']} | {row['batch_size']} | {row['dtype']} | {row['epochs']} | "
                     f"{row['fastnn_s']:.2f} | {row['sklearn_s']:.2f} | {row['speedup']:.2f} |")
    return "\n".join(lines)


def format_epoch_table(rows):
    """A Markdown table of compare_epoch's rows (contenders that were not installed left out)."""
    others = [name for name in ("numpy", "pytorch", "sklearn") if f"{name}_s" in rows[0]]
    labels = {"numpy": "NumPy loop", "pytorch": "PyTorch", "sklearn": "scikit-learn"}
    lines = [
        "| dtype | batch | fastnn s | " + " | ".join(f"{labels[name]} s | fastnn speedup vs {labels[name]}" for name in others) + " |",
        "| --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in others) + " |",
    ]
    for row in rows:
        lines.append(f"| {row['dtype']} | {row['batch_size']} | {row['fastnn_s']:.3f} | " + " | ".join(
            f"{row[f'{name}_s']:.3f} | {row[f'speedup_vs_{name}']:.2f}" for name in others) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 1024, 10000], help="batch sizes n")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=9, help="repeats per contender (medians)")
    parser.add_argument("--epoch", action="store_true",
                        help="time one training epoch (fastnn, NumPy loop, PyTorch if installed) instead")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256], help="with --epoch")
    parser.add_argument("--samples", type=int, default=60000, help="rows per epoch, with --epoch or --estimator")
    parser.add_argument("--epoch-dtypes", nargs="+", default=["float32"], choices=["float32", "float64"],
                        help="with --epoch or --estimator")
    parser.add_argument("--estimator", action="store_true",
                        help="time fastnn.MLPClassifier against scikit-learn's MLPClassifier instead")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit, with --estimator")
    args = parser.parse_args(argv)
    if args.estimator:
        configs = [((256,), "adam", 200), ((256,), "sgd", 200), ((256, 128), "adam", 200), ((256,), "adam", 32)]
        print(f"MLPClassifier.fit, {args.samples} x {SHAPE[0]}, k = {SHAPE[2]}, {args.epochs} epochs each, "
              f"the two side by side; {machine_summary()}")
        rows = [row for dtype in args.epoch_dtypes for row in compare_estimators(
            configs, args.samples, SHAPE[0], SHAPE[2], dtype, args.epochs, repeats=min(args.repeats, 3))]
        print(format_estimator_table(rows))
        return
    if args.epoch:
        print(f"one epoch, {args.samples} x {SHAPE[0]}, h = {SHAPE[1]}, k = {SHAPE[2]}, plain SGD, "
              f"training-set loss and accuracy at the end; {machine_summary()}")
        rows = [row for dtype in args.epoch_dtypes
                for row in compare_epoch(args.batch_sizes, args.samples, dtype=dtype, repeats=min(args.repeats, 3))]
        print(format_epoch_table(rows))
        return
    print(f"cost_grad at (d, h, k) = {SHAPE}, c = 1e-4; {machine_summary()}")
    print(format_table(compare_cost_grad(args.sizes, args.dtypes, args.repeats)))


if __name__ == "__main__":
    main()
