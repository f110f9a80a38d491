"""Side-by-side timing of the contenders: ``fastnn bench`` and ``python -m fastnn.benchmarks``.

Six modes, one Markdown table each: cost_grad (the default), cost_grad for every hidden
activation and output (``--combinations``), one training epoch (``--epoch``, with the
machine's FLOP limit), MLPClassifier fits (``--estimator``, on the embedded digits with
``--digits``), fastnn on 1 thread to all (``--scaling``, `fastnn.benchmarks.threads`)
and the installed BLAS libraries' products (``--blas``, `fastnn.benchmarks.blas`); each can run
beside CPU-bound neighbour processes (``--busy P``). Every speed claim is a ratio
measured in one process: the contenders take turns inside each repeat, so drift on a
shared machine hits them alike, and the tables report medians. A line per repeat goes to
stderr as the measurements come in; the header and the table go to stdout.

fastnn and the GEMM-only yardsticks always run (every ratio is against them);
``--contenders`` chooses who runs beside them among `OPTIONAL_CONTENDERS` (default: all
installed), and the tables and the chart leave out those that did not run. ``--quick``
(`QUICK`) shrinks the sizes, rows and repeats to a check that everything runs, in well
under a minute on two cores once fastnn is compiled; options given explicitly win.

Several thread pools may live in the process (NumPy's OpenBLAS, SciPy's, Numba's,
PyTorch's). An idle pool spins for a while after each call and slows the others, so each
turn starts after a pause that lets the previous contender's pool fall asleep.
"""

import argparse
import contextlib
import importlib.util
import os
import platform
import subprocess
import sys
import time

import numpy as np

from ..families import ACTIVATIONS, OUTPUTS
from .blas import BLAS_BATCH_SIZES, epoch_flop, flop_limit
from .contenders import CONTENDERS, DECAY, LEARNING_RATE, build
from .inputs import MNIST_SHAPE, TFIDF_SHAPE, benchmark_inputs, targets_for, tfidf_like

# The estimator mode's (hidden_layer_sizes, solver, batch_size): scikit-learn's default
# batch with every solver (lbfgs takes the whole set: "epochs" are its iterations), a
# deeper network, and a small batch.
ESTIMATOR_CONFIGS = (((256,), "adam", 200), ((256,), "sgd", 200), ((256,), "lbfgs", 200), ((256, 128), "adam", 200),
                     ((256,), "adam", 32))
# With --digits: the embedded digits (1,797 x 64, k = 10), scikit-learn's default network
# and batch with every solver, and a small batch.
DIGITS_CONFIGS = (((100,), "adam", 200), ((100,), "sgd", 200), ((100,), "lbfgs", 200), ((100,), "adam", 32))
# With --sparse: TF-IDF-like rows (`tfidf_like`), scikit-learn's default network and batch.
SPARSE_CONFIGS = (((100,), "adam", 200), ((100,), "sgd", 200), ((100,), "lbfgs", 200))
SPARSE_SAMPLES = 20000

# Option defaults, and the smaller ones of --quick (an option given explicitly wins). Under
# --quick each contender is called four times per measurement (two warm-ups, an untimed and
# a timed turn): on 2,000 rows the NumPy loop's and scikit-learn's epochs take tenths of a
# second on two cores, where the default 60,000 rows at batch 32 take minutes.
DEFAULTS = {"sizes": [32, 1024, 10000], "dtypes": ["float32", "float64"], "repeats": 9, "batch_sizes": [32, 256],
            "samples": 60000, "epoch_dtypes": ["float32"], "epochs": 3}
QUICK = {"sizes": [32, 1024], "dtypes": ["float32", "float64"], "repeats": 1, "batch_sizes": [256],
         "samples": 2000, "epoch_dtypes": ["float32"], "epochs": 1}
QUICK_ESTIMATOR_CONFIGS = ESTIMATOR_CONFIGS[:3]
QUICK_DIGITS_CONFIGS = DIGITS_CONFIGS[:3]
# --combinations' sizes unless --sizes (a batch of 32 is all overhead beside its GEMMs).
COMBINATION_SIZES, QUICK_COMBINATION_SIZES = [1024, 10000], [1024]

# fastnn's own runs (its estimator on one BLAS thread too) and the GEMM-only yardsticks
# always run: every ratio is against them. --contenders chooses among the others.
FASTNN_RUNS = ("fastnn", "fastnn-1")
OPTIONAL_CONTENDERS = tuple(dict.fromkeys(
    name for table in CONTENDERS.values() for name, contender in table.items()
    if name not in FASTNN_RUNS and not contender.yardstick))

DESCRIPTION = ("Time fastnn side by side with the NumPy reference, PyTorch and scikit-learn (those installed, or "
               "those named by --contenders): cost_grad by default, one training epoch with --epoch, MLPClassifier "
               "fits with --estimator, fastnn's scaling from 1 thread to all with --scaling, the installed BLAS "
               "libraries' products with --blas. Medians in one process; progress on stderr, the Markdown table on "
               "stdout.")


def _format_seconds(seconds):
    return f"{seconds:.3f} s" if seconds >= 1 else f"{1e3 * seconds:.3f} ms"


class _Progress:
    """Writes one line per round of measurements to a stream, each entry as soon as it is taken."""

    def __init__(self, stream, label):
        self.stream, self.label, self.separator = stream, label, ""

    def start(self, what):
        self.separator = " "
        if self.stream is not None:
            self.stream.write(f"[{self.label}] {what}:")
            self.stream.flush()

    def entry(self, name, text):
        if self.stream is not None:
            self.stream.write(f"{self.separator}{name} {text}")
            self.stream.flush()
        self.separator = ", "

    def end(self):
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def interleaved_medians(functions, repeats, min_seconds=0.02, pause=0.15, label="", log=None):
    """Median seconds per call of each function, timed in turn within every repeat.

    Parameters
    ----------
    functions : dict
        name -> function of no arguments.
    repeats : int
        Timed turns per function; the median is reported.
    min_seconds : float
        A turn calls its function enough times to last about this long (at least once).
    pause : float
        Seconds of sleep before each turn, for the other thread pools to fall asleep.
    label : str
        Names the measurement in the progress lines.
    log : text stream or None
        Where the progress lines go (default: nowhere; the command line's go to stderr).

    Returns
    -------
    dict
        name -> median seconds per call.

    Notes
    -----
    Each function is called twice before the timed turns, so that JIT compilation and
    BLAS warm-up are never timed; the second call sets how many calls a turn makes.
    """
    progress = _Progress(log, label)
    loops = {}
    progress.start("warm-up")
    for name, function in functions.items():
        start = time.perf_counter()
        function()
        first = time.perf_counter() - start
        start = time.perf_counter()
        function()
        loops[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))
        progress.entry(name, f"{first:.2f} s")
        time.sleep(pause)
    progress.end()
    samples = {name: [] for name in functions}
    for repeat in range(repeats):
        progress.start(f"repeat {repeat + 1}/{repeats}")
        for name, function in functions.items():
            time.sleep(pause)
            function()
            start = time.perf_counter()
            for _ in range(loops[name]):
                function()
            samples[name].append((time.perf_counter() - start) / loops[name])
            progress.entry(name, _format_seconds(samples[name][-1]))
        progress.end()
    return {name: float(np.median(times)) for name, times in samples.items()}


@contextlib.contextmanager
def busy_neighbours(count):
    """Run the block beside `count` CPU-bound processes (a busy machine); they are killed after it.

    Each is a Python loop that never sleeps, as a notebook's or a second job's work would.
    """
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        if neighbours:
            time.sleep(0.5)  # until the scheduler sees them
        yield
    finally:
        for process in neighbours:
            process.kill()
        for process in neighbours:
            process.wait()


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


def machine_summary():
    """One line naming the machine, the library versions and the BLAS libraries loaded."""
    import numba

    from fastnn._engine import blas_name

    summary = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
               f"fastnn's BLAS: {blas_name()}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return summary
    # The folder tells NumPy's OpenBLAS (numpy.libs) from SciPy's (scipy.libs) and PyTorch's.
    blas = sorted({f"{pool['internal_api']} {pool['version']} in {os.path.basename(os.path.dirname(pool['filepath']))} "
                   f"({pool['num_threads']} threads)" for pool in threadpool_info() if pool["user_api"] == "blas"})
    return summary + (f", BLAS: {', '.join(blas)}" if blas else "")


def chosen_contenders(task, contenders=None):
    """The names of the task's contenders to run: fastnn's own, the yardsticks, and the optional
    ones named in `contenders` (None: all), in table order."""
    return [name for name in CONTENDERS[task]
            if contenders is None or name not in OPTIONAL_CONTENDERS or name in contenders]


def skipped_contenders(task, contenders=None):
    """name -> why, for the task's chosen contenders (see `chosen_contenders`) whose libraries are not installed."""
    return {name: reason for name in chosen_contenders(task, contenders)
            if (reason := CONTENDERS[task][name].missing())}


# ---------------------------------------------------------------- cost_grad


def compare_cost_grad(sizes=(32, 1024, 10000), dtypes=("float32", "float64"), repeats=9, c=DECAY, shape=MNIST_SHAPE,
                      peak_repeats=5, log=None, contenders=None):
    """Time the cost_grad contenders side by side at each dtype and batch size.

    Parameters
    ----------
    sizes : sequence of int
        Batch sizes n.
    dtypes : sequence of {"float32", "float64"}
    repeats : int
        Timed turns per contender (see `interleaved_medians`).
    c : float
        Weight decay.
    shape : (d, h, k)
    peak_repeats : int
        Repeats of `peak_gemm_gflops`.
    log : text stream or None
        Progress lines, one per round of measurements.
    contenders : collection of str, optional
        The `OPTIONAL_CONTENDERS` to time beside fastnn and the yardsticks (default: all).

    Returns
    -------
    list of dict
        One row per (dtype, n): "dtype", "n", "seconds" (contender name -> median seconds
        per call, chosen and installed contenders only), "gflop" (the FLOP count 4ndh + 6nhk of the
        products, in GFLOP) and "peak_gflops" (`peak_gemm_gflops` of the dtype).
    """
    d, h, k = shape
    rows = []
    for dtype in dtypes:
        peak = peak_gemm_gflops(np.dtype(dtype), repeats=peak_repeats)
        if log is not None:
            print(f"[peak GEMM {dtype}] {peak:.0f} GFLOP/s", file=log, flush=True)
        for n in sizes:
            X, y, params = benchmark_inputs(n, d, h, k, dtype)
            runs, _ = build("cost_grad", X, y, params, c, names=chosen_contenders("cost_grad", contenders))
            seconds = interleaved_medians(runs, repeats, label=f"cost_grad {dtype} n={n}", log=log)
            rows.append({"dtype": dtype, "n": n, "seconds": seconds, "gflop": (4 * n * d * h + 6 * n * h * k) / 1e9,
                         "peak_gflops": peak})
    return rows


def _ratio(seconds, numerator, denominator):
    if numerator not in seconds or denominator not in seconds:
        return "n/a"
    return f"{seconds[numerator] / seconds[denominator]:.2f}"


def _time_cell(name, scale=1.0):
    """A column's cell: the row's seconds of contender `name` times `scale`, "n/a" where it did not run."""
    return lambda row: f"{scale * row['seconds'][name]:.3f}" if name in row["seconds"] else "n/a"


def _ratio_cell(numerator, denominator):
    return lambda row: _ratio(row["seconds"], numerator, denominator)


def _markdown_table(columns, rows):
    """A Markdown table of rows with the columns whose contenders ran in some row.

    Each column is (header, alignment "---" or "---:", cell of a row, the names of the
    contenders it needs).
    """
    ran = {name for row in rows for name in row["seconds"]}
    columns = [column for column in columns if set(column[3]) <= ran]
    lines = ["| " + " | ".join(header for header, _, _, _ in columns) + " |",
             "| " + " | ".join(alignment for _, alignment, _, _ in columns) + " |"]
    lines += ["| " + " | ".join(cell(row) for _, _, cell, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _gflops_cell(row):
    gflops = row["gflop"] / row["seconds"]["fastnn"]
    return f"{gflops:.1f} ({100 * gflops / row['peak_gflops']:.0f}% of {row['peak_gflops']:.0f})"


COST_GRAD_COLUMNS = (
    ("dtype", "---", lambda row: row["dtype"], ()),
    ("n", "---:", lambda row: str(row["n"]), ()),
    ("GEMM-only ms (NumPy)", "---:", _time_cell("gemm", 1e3), ("gemm",)),
    ("GEMM-only ms (fastnn's binding)", "---:", _time_cell("gemm-binding", 1e3), ("gemm-binding",)),
    ("compiled ms", "---:", _time_cell("fastnn", 1e3), ()),
    ("reference ms", "---:", _time_cell("numpy", 1e3), ("numpy",)),
    ("compiled / GEMM (NumPy)", "---:", _ratio_cell("fastnn", "gemm"), ("gemm",)),
    ("compiled / GEMM (binding)", "---:", _ratio_cell("fastnn", "gemm-binding"), ("gemm-binding",)),
    ("reference / GEMM (NumPy)", "---:", _ratio_cell("numpy", "gemm"), ("numpy", "gemm")),
    ("speedup over reference", "---:", _ratio_cell("numpy", "fastnn"), ("numpy",)),
    ("PyTorch autograd ms", "---:", _time_cell("torch", 1e3), ("torch",)),
    ("speedup over PyTorch", "---:", _ratio_cell("torch", "fastnn"), ("torch",)),
    ("compiled GFLOP/s (% of peak GEMM)", "---:", _gflops_cell, ()),
)


def format_table(rows):
    """A Markdown table of `compare_cost_grad`'s rows: the columns of the contenders that ran
    ("n/a" in a row where one did not)."""
    return _markdown_table(COST_GRAD_COLUMNS, rows)


# ---------------------------------------------------------------- every activation and output



def compare_combinations(sizes=(1024, 10000), dtypes=("float32", "float64"), repeats=9, c=DECAY, shape=MNIST_SHAPE,
                         log=None):
    """Time cost_grad for every (activation, output) beside the GEMM-only yardstick (fastnn's binding).

    Returns one row per (dtype, n): "dtype", "n", "seconds" ("gemm-binding" and
    "activation/output" -> median seconds per call).
    """
    import fastnn

    d, h, k = shape
    rows = []
    for dtype in dtypes:
        for n in sizes:
            X, y, params = benchmark_inputs(n, d, h, k, dtype)
            runs = {"gemm-binding": CONTENDERS["cost_grad"]["gemm-binding"].make(X, y, params, c)}
            for activation in ACTIVATIONS:
                for output in OUTPUTS:
                    t = targets_for(output, y, k)
                    runs[f"{activation}/{output}"] = (
                        lambda a=activation, o=output, t=t: fastnn.cost_grad(
                            X, t, params, c, activation=a, output=o))  # noqa: B023 - timed in this iteration
            seconds = interleaved_medians(runs, repeats, label=f"combinations {dtype} n={n}", log=log)
            rows.append({"dtype": dtype, "n": n, "seconds": seconds})
    return rows


def format_combinations_table(rows):
    """A Markdown table of `compare_combinations`' rows: each pair's time over the GEMM-only time."""
    columns = [f"{row['dtype']} n={row['n']}" for row in rows]
    lines = ["| activation | output | " + " | ".join(f"{column} / GEMM" for column in columns) + " |",
             "| --- | --- |" + " ---: |" * len(columns)]
    for activation in ACTIVATIONS:
        for output in OUTPUTS:
            ratios = [row["seconds"][f"{activation}/{output}"] / row["seconds"]["gemm-binding"] for row in rows]
            lines.append(f"| {activation} | {output} | " + " | ".join(f"{ratio:.2f}" for ratio in ratios) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- one training epoch


def compare_epoch(batch_sizes=(32, 256), n=60000, shape=MNIST_SHAPE, dtype="float32", repeats=3, lr=LEARNING_RATE,
                  c=DECAY, seed=0, log=None, metrics="full", contenders=None):
    """Seconds per epoch (medians, taken in turn) of the epoch contenders, for each batch size.

    Parameters
    ----------
    batch_sizes : sequence of int
    n : int
        Rows of MNIST-like random data (`benchmark_inputs`).
    shape : (d, h, k)
    dtype : {"float32", "float64"}
    repeats : int
        Timed epochs per contender, after two untimed ones.
    lr, c, seed : float, float, int
        Plain SGD's learning rate, the weight decay, and the seed of the rows' order.
    log : text stream or None
        Progress lines, one per round of measurements.
    metrics : {"full", "running"}
        The training metrics each contender measures (see `fastnn.NetClassifier.fit`).
    contenders : collection of str, optional
        The `OPTIONAL_CONTENDERS` to time beside fastnn and the GEMM floor (default: all).

    Returns
    -------
    list of dict
        One row per batch size: "dtype", "batch_size" and "seconds" (contender name ->
        median seconds per epoch, chosen and installed contenders only).
    """
    d, h, k = shape
    X, y, params = benchmark_inputs(n, d, h, k, dtype)
    rows = []
    for batch_size in batch_sizes:
        runs, _ = build("epoch", X, y, params, batch_size, lr, c, seed, metrics,
                        names=chosen_contenders("epoch", contenders))
        seconds = interleaved_medians(runs, repeats, min_seconds=0.0, pause=0.3,
                                      label=f"epoch {dtype} batch={batch_size}", log=log)
        rows.append({"dtype": dtype, "batch_size": batch_size, "seconds": seconds})
    return rows


def format_epoch_table(rows):
    """A Markdown table of `compare_epoch`'s rows (contenders that did not run left out)."""
    labels = {name: contender.label for name, contender in CONTENDERS["epoch"].items()}
    floor, limit = "gemm-floor", "flop-limit"
    others = [name for name in labels if name not in ("fastnn", floor) and all(name in row["seconds"] for row in rows)]
    limits = all(limit in row["seconds"] for row in rows)
    lines = [
        f"| dtype | batch | fastnn s | {labels[floor]} s | fastnn / floor | "
        + ("FLOP limit s | fastnn / limit | " if limits else "") + " | ".join(
            f"{labels[name]} s | fastnn speedup vs {labels[name]}" for name in others) + " |",
        "| --- | ---: | ---: | ---: | ---: | " + ("---: | ---: | " if limits else "")
        + " | ".join("---: | ---:" for _ in others) + " |",
    ]
    for row in rows:
        seconds = row["seconds"]
        lines.append(f"| {row['dtype']} | {row['batch_size']} | {seconds['fastnn']:.3f} | {seconds[floor]:.3f} | "
                     f"{_ratio(seconds, 'fastnn', floor)} | "
                     + (f"{seconds[limit]:.3f} | {_ratio(seconds, 'fastnn', limit)} | " if limits else "")
                     + " | ".join(f"{seconds[name]:.3f} | {_ratio(seconds, name, 'fastnn')}" for name in others)
                     + " |")
    return "\n".join(lines)


def epoch_chart(rows, path, title=None):
    """Draw `compare_epoch`'s rows of one dtype: seconds per epoch against the batch size, one line per contender.

    The GEMM floor is drawn dashed, the FLOP limit (where the rows have it) dotted. Needs
    matplotlib (ImportError otherwise); the format follows the path's suffix.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("--chart needs matplotlib: pip install matplotlib") from error
    labels = {name: contender.label for name, contender in CONTENDERS["epoch"].items()}
    batch_sizes = [row["batch_size"] for row in rows]
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for name, label in labels.items():
        if all(name in row["seconds"] for row in rows):
            axes.plot(batch_sizes, [row["seconds"][name] for row in rows], marker="o", label=label,
                      linestyle="--" if CONTENDERS["epoch"][name].yardstick else "-",
                      color="black" if name == "gemm-floor" else None, linewidth=2.5 if name == "fastnn" else 1.5)
    if all("flop-limit" in row["seconds"] for row in rows):
        axes.plot(batch_sizes, [row["seconds"]["flop-limit"] for row in rows], linestyle=":", color="gray",
                  label="FLOP limit (the fastest gemm rate)")
    axes.set_xscale("log", base=2)
    axes.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("batch size")
    axes.set_ylabel("seconds per epoch (median)")
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title, fontsize=9)
    figure.savefig(path, dpi=120)


# ---------------------------------------------------------------- the estimators


def compare_estimators(configs=ESTIMATOR_CONFIGS, n=60000, d=MNIST_SHAPE[0], k=MNIST_SHAPE[2], dtype="float32",
                       epochs=3, repeats=3, log=None, digits=False, sparse=False, contenders=None):
    """Seconds per fit of fastnn.MLPClassifier (as it chooses its threads, and on one BLAS
    thread) and scikit-learn's, taken in turn (medians).

    Parameters
    ----------
    configs : sequence of (hidden_layer_sizes, solver, batch_size)
    n, d, k : int
        Rows, features and classes of the random data (`benchmark_inputs`); ignored
        with `digits`.
    dtype : {"float32", "float64"}
    epochs : int
        Epochs per fit.
    repeats : int
        Timed fits per contender, after two untimed ones.
    log : text stream or None
        Progress lines, one per round of measurements.
    digits : bool
        Fit the embedded digits (`fastnn.datasets.load_digits`) instead of random data.
    sparse : bool
        Fit n TF-IDF-like sparse rows (`fastnn.benchmarks.inputs.tfidf_like`) instead.
    contenders : collection of str, optional
        The `OPTIONAL_CONTENDERS` to time beside fastnn (default: all; scikit-learn is the
        estimator task's only one).

    Returns
    -------
    list of dict
        One row per config: "hidden", "solver", "batch_size", "dtype", "epochs" and
        "seconds" (contender name -> median seconds per fit, chosen contenders only).

    Raises
    ------
    ImportError
        Without scikit-learn, which both contenders need.
    """
    if skipped_contenders("estimator"):
        raise ImportError("--estimator compares with scikit-learn: pip install scikit-learn")
    if digits:
        from fastnn.datasets import load_digits

        X, y = load_digits()
        X = X.astype(dtype)
    elif sparse:
        X, y = tfidf_like(n, dtype=dtype)
    else:
        X, y, _ = benchmark_inputs(n, d, 1, k, dtype)
    rows = []
    for hidden, solver, batch_size in configs:
        runs, _ = build("estimator", X, y, hidden, solver, batch_size, epochs,
                        names=chosen_contenders("estimator", contenders))
        seconds = interleaved_medians(runs, repeats, min_seconds=0.0, pause=0.5,
                                      label=f"estimator {hidden} {solver} batch={batch_size} {dtype}", log=log)
        rows.append({"hidden": hidden, "solver": solver, "batch_size": batch_size, "dtype": dtype, "epochs": epochs,
                     "seconds": seconds})
    return rows


ESTIMATOR_COLUMNS = (
    ("hidden", "---", lambda row: str(row["hidden"]), ()),
    ("solver", "---", lambda row: row["solver"], ()),
    ("batch", "---:", lambda row: "all" if row["solver"] == "lbfgs" else str(row["batch_size"]), ()),
    ("dtype", "---", lambda row: row["dtype"], ()),
    ("epochs or iterations", "---:", lambda row: str(row["epochs"]), ()),
    ("fastnn s", "---:", _time_cell("fastnn"), ()),
    ("fastnn on 1 BLAS thread s", "---:", _time_cell("fastnn-1"), ()),
    ("scikit-learn s", "---:", _time_cell("sklearn"), ("sklearn",)),
    ("scikit-learn on 1 BLAS thread s", "---:", _time_cell("sklearn-1"), ("sklearn-1",)),
    ("fastnn / 1 thread", "---:", _ratio_cell("fastnn", "fastnn-1"), ()),
    ("fastnn speedup vs scikit-learn, default threads", "---:", _ratio_cell("sklearn", "fastnn"), ("sklearn",)),
    ("speedup, both on 1 BLAS thread", "---:", _ratio_cell("sklearn-1", "fastnn-1"), ("sklearn-1",)),
)


def format_estimator_table(rows):
    """A Markdown table of `compare_estimators`' rows (scikit-learn's columns where it ran)."""
    return _markdown_table(ESTIMATOR_COLUMNS, rows)


# ---------------------------------------------------------------- the command line


def _defaults_help(option):
    def shown(value):
        return " ".join(map(str, value)) if isinstance(value, list) else str(value)

    return f"default: {shown(DEFAULTS[option])}; --quick: {shown(QUICK[option])}"


def _quick_help():
    def listed(values):
        return " and ".join(map(str, values))

    samples, epochs = f"{QUICK['samples']:,}", QUICK["epochs"]
    return (f"a check that everything runs, in well under a minute once fastnn is compiled: cost_grad at "
            f"n = {listed(QUICK['sizes'])} ({listed(QUICK['dtypes'])}), --combinations at "
            f"n = {listed(QUICK_COMBINATION_SIZES)}; --epoch: {samples} rows at batch {listed(QUICK['batch_sizes'])}; "
            f"--estimator: {len(QUICK_ESTIMATOR_CONFIGS)} configurations on {samples} rows (or the digits, or "
            f"{samples} sparse rows), {epochs} epoch{'s' if epochs > 1 else ''} each; {QUICK['repeats']} timed "
            "repeat per contender, so the ratios are rough. Options given explicitly win")


def add_arguments(parser):
    """Add the runner's options to an argparse parser (``fastnn bench`` uses the same)."""
    parser.add_argument("--quick", action="store_true", help=_quick_help())
    parser.add_argument("--contenders", nargs="+", metavar="NAME",
                        help="who runs beside fastnn (which always runs, with its GEMM-only yardsticks): numpy (the "
                             "NumPy reference; the NumPy loop with --epoch), torch (PyTorch; cost_grad and --epoch), "
                             "sklearn (scikit-learn; --epoch and --estimator), sklearn-1 (scikit-learn with its BLAS "
                             "on one thread; --estimator) (default: all installed: "
                             f"{' '.join(OPTIONAL_CONTENDERS)})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--epoch", action="store_true",
                      help="time one training epoch (fastnn, the NumPy loop, PyTorch and scikit-learn if installed) "
                           "instead of cost_grad")
    mode.add_argument("--combinations", action="store_true",
                      help="time cost_grad for every hidden activation and output against the GEMM-only time "
                           f"(--sizes defaults to {' '.join(map(str, COMBINATION_SIZES))} here; --quick: "
                           f"{' '.join(map(str, QUICK_COMBINATION_SIZES))})")
    mode.add_argument("--estimator", action="store_true",
                      help="time fastnn.MLPClassifier against scikit-learn's MLPClassifier instead of cost_grad")
    mode.add_argument("--scaling", action="store_true",
                      help="time fastnn alone on 1, 2, 4, ... threads up to the CPUs it may use: one epoch per "
                           "--batch-sizes and cost_grad at n = 10000 (the parallel block pass), with the speed-up "
                           "and efficiency of each thread count")
    mode.add_argument("--blas", action="store_true",
                      help="time the matrix products of the first layer (batch sizes 32, 256 and 1024, or "
                           "--batch-sizes) with every BLAS library fastnn can call (fastnn.use_blas), on one "
                           "thread and on all")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N",
                        help=f"batch sizes n of cost_grad ({_defaults_help('sizes')})")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], metavar="DTYPE",
                        help=f"float32 and/or float64, for cost_grad ({_defaults_help('dtypes')})")
    parser.add_argument("--repeats", type=int, metavar="R",
                        help="timed turns per contender, medians reported; at most 3 with --epoch, --estimator or "
                             f"--scaling ({_defaults_help('repeats')})")
    parser.add_argument("--batch-sizes", type=int, nargs="+", metavar="B",
                        help=f"with --epoch, --scaling or --blas ({_defaults_help('batch_sizes')}; --blas: "
                             f"{' '.join(map(str, BLAS_BATCH_SIZES))})")
    parser.add_argument("--samples", type=int, metavar="N",
                        help=f"rows of MNIST-shaped random data, with --epoch, --estimator or --scaling "
                             f"({_defaults_help('samples')})")
    parser.add_argument("--epoch-dtypes", nargs="+", choices=["float32", "float64"], metavar="DTYPE",
                        help=f"float32 and/or float64, with --epoch, --estimator, --scaling or --blas "
                             f"({_defaults_help('epoch_dtypes')})")
    parser.add_argument("--epochs", type=int, metavar="E",
                        help=f"epochs per fit, with --estimator ({_defaults_help('epochs')})")
    parser.add_argument("--hidden", type=int, default=MNIST_SHAPE[1], metavar="H",
                        help=f"hidden units, with --epoch, --scaling or --blas (default: {MNIST_SHAPE[1]})")
    parser.add_argument("--metrics", choices=["full", "running"], default="full",
                        help="with --epoch: the training loss and accuracy over the whole training set after the "
                             "epoch (full, as NetClassifier's history), or the running mean of the batch losses "
                             "(running, as Keras and scikit-learn report it)")
    parser.add_argument("--chart", metavar="FILE.png",
                        help="with --epoch: also draw the seconds per epoch against the batch size (needs matplotlib)")
    parser.add_argument("--digits", action="store_true",
                        help="with --estimator: fit the embedded digits (1,797 x 64) with scikit-learn's default "
                             "network instead of MNIST-shaped random data")
    parser.add_argument("--sparse", action="store_true",
                        help=f"with --estimator: fit TF-IDF-like sparse rows ({TFIDF_SHAPE[0]:,} features, density "
                             f"{TFIDF_SHAPE[1]:g}; {SPARSE_SAMPLES:,} rows unless --samples or --quick) with "
                             "scikit-learn's default network")
    parser.add_argument("--busy", type=int, default=0, metavar="P",
                        help="run beside P CPU-bound processes, as on a busy machine (default: 0)")
    return parser


def check_options(args):
    """The options of a parsed command line, with the defaults (or --quick's) filled in, and
    "contenders": the `OPTIONAL_CONTENDERS` to run (--contenders, default all).

    Raises ValueError naming the first bad option (the command line reports it in one line),
    an unknown contender or a named one that is not installed among them.
    """
    defaults = QUICK if args.quick else DEFAULTS
    options = {name: default if getattr(args, name) is None else getattr(args, name)
               for name, default in defaults.items()}
    for name in ("repeats", "samples", "epochs"):
        if options[name] < 1:
            raise ValueError(f"--{name} must be >= 1, got {options[name]}")
    for name in ("sizes", "batch_sizes"):
        if min(options[name]) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {options[name]}")
    if args.busy < 0:
        raise ValueError(f"--busy must be >= 0, got {args.busy}")
    if (args.digits or args.sparse) and not args.estimator:
        raise ValueError("--digits and --sparse go with --estimator")
    if args.digits and args.sparse:
        raise ValueError("--digits and --sparse: choose one data set")
    if args.scaling and args.contenders is not None:
        raise ValueError("--scaling times fastnn alone: leave out --contenders")
    if args.blas and args.contenders is not None:
        raise ValueError("--blas times the BLAS libraries alone: leave out --contenders")
    from fastnn._kernels import blas

    blas.chosen()  # a bad FASTNN_BLAS: ValueError before anything is timed
    if args.scaling:
        if blas.get_threads() is None:
            raise ValueError(f"--scaling: fastnn cannot set the thread count of {blas.bind().description} (it "
                             "exports no thread functions)")
    if args.chart and not args.epoch:
        raise ValueError("--chart goes with --epoch")
    if args.chart and importlib.util.find_spec("matplotlib") is None:
        raise ValueError("--chart needs matplotlib: pip install matplotlib")
    if args.estimator and importlib.util.find_spec("sklearn") is None:
        raise ValueError("--estimator compares with scikit-learn: pip install scikit-learn")
    if args.hidden < 1:
        raise ValueError(f"--hidden must be >= 1, got {args.hidden}")
    options["contenders"] = _check_contenders(args)
    return options


def _task(args):
    """The task of `CONTENDERS` that a parsed command line's mode times (None for --combinations,
    which times fastnn beside a yardstick only)."""
    if args.combinations:
        return None
    if args.scaling:
        return "scaling"
    if args.blas:
        return "blas"
    return "estimator" if args.estimator else "epoch" if args.epoch else "cost_grad"


def _check_contenders(args):
    """--contenders without repeats (default: every one of `OPTIONAL_CONTENDERS`)."""
    if args.contenders is None:
        return list(OPTIONAL_CONTENDERS)
    unknown = [name for name in args.contenders if name not in OPTIONAL_CONTENDERS]
    if unknown:
        raise ValueError(f"--contenders: unknown {' '.join(unknown)}; choose from {' '.join(OPTIONAL_CONTENDERS)} "
                         "(fastnn always runs)")
    table = CONTENDERS.get(_task(args), {})
    for name in args.contenders:
        if name in table and (reason := table[name].missing()):
            raise ValueError(f"--contenders {name}: {reason}")
    return list(dict.fromkeys(args.contenders))


def _print_left_out(args, options):
    """One line per chosen contender that did not run: not installed (skipped), or named but not
    a contender of this mode."""
    task = _task(args)
    table = CONTENDERS.get(task, {})
    for name in options["contenders"]:
        if name not in table:
            if args.contenders is not None:
                print(f"not timed: {name} has no {task or 'combinations'} contender")
        elif reason := table[name].missing():
            print(f"skipped {table[name].label}: {reason}")


def run(args, options=None):
    """Run the comparison a parsed command line asks for; print its header and table.

    Parameters
    ----------
    args : argparse.Namespace
        From a parser set up by `add_arguments`.
    options : dict, optional
        `check_options(args)`, if the caller has checked them already.
    """
    options = check_options(args) if options is None else options
    with busy_neighbours(args.busy):
        _run(args, options, sys.stderr)


def _run(args, options, log):
    d, h, k = MNIST_SHAPE
    busy = f" beside {args.busy} CPU-bound processes" if args.busy else ""
    if args.estimator:
        samples = options["samples"]
        if args.digits:
            configs, data = QUICK_DIGITS_CONFIGS if args.quick else DIGITS_CONFIGS, "the digits, 1797 x 64, k = 10"
        elif args.sparse:
            samples = samples if args.samples is not None or args.quick else SPARSE_SAMPLES
            configs = SPARSE_CONFIGS
            data = (f"TF-IDF-like sparse rows, {samples} x {TFIDF_SHAPE[0]}, density {TFIDF_SHAPE[1]:g}, "
                    f"k = {TFIDF_SHAPE[2]}")
        else:
            configs = QUICK_ESTIMATOR_CONFIGS if args.quick else ESTIMATOR_CONFIGS
            data = f"{options['samples']} x {d}, k = {k}"
        epochs = f"{options['epochs']} epoch{'s' if options['epochs'] > 1 else ''}"
        print(f"MLPClassifier.fit, {data}, {epochs} each, side by side{busy}; {machine_summary()}", flush=True)
        rows = [row for dtype in options["epoch_dtypes"] for row in compare_estimators(
            configs, samples, d, k, dtype, options["epochs"], min(options["repeats"], 3), log=log,
            digits=args.digits, sparse=args.sparse, contenders=options["contenders"])]
        print(format_estimator_table(rows))
        _print_left_out(args, options)
        return
    if args.scaling:
        from .threads import compare_scaling, format_scaling_table

        print(f"fastnn on 1 thread to all it may use: one epoch of {options['samples']} x {d}, h = {args.hidden}, "
              f"k = {k}, plain SGD, and cost_grad{busy}; {machine_summary()}", flush=True)
        rows = [row for dtype in options["epoch_dtypes"] for row in compare_scaling(
            options["batch_sizes"], options["samples"], (d, args.hidden, k), dtype, min(options["repeats"], 3),
            log=log)]
        print(format_scaling_table(rows))
        return
    if args.blas:
        from .blas import compare_blas, format_blas_table

        batch_sizes = args.batch_sizes or ([256] if args.quick else BLAS_BATCH_SIZES)
        print(f"the first layer's products at (d, h) = ({d}, {args.hidden}) with every BLAS fastnn can call, on one "
              f"thread and on all{busy}; {machine_summary()}", flush=True)
        print(format_blas_table(compare_blas(batch_sizes, (d, args.hidden), options["epoch_dtypes"],
                                             options["repeats"], log=log)))
        return
    if args.combinations:
        sizes = (options["sizes"] if args.sizes is not None
                 else QUICK_COMBINATION_SIZES if args.quick else COMBINATION_SIZES)
        print(f"cost_grad per (activation, output) at (d, h, k) = {MNIST_SHAPE}, c = {DECAY:g}, over the GEMM-only "
              f"time{busy}; {machine_summary()}", flush=True)
        print(format_combinations_table(compare_combinations(sizes, options["dtypes"], options["repeats"], log=log)))
        _print_left_out(args, options)
        return
    if args.epoch:
        h = args.hidden
        measured = ("the running mean of the batch losses" if args.metrics == "running"
                    else "training-set loss and accuracy at the end")
        print(f"one epoch, {options['samples']} x {d}, h = {h}, k = {k}, plain SGD (lr {LEARNING_RATE:g}, "
              f"c {DECAY:g}), {measured}{busy}; {machine_summary()}", flush=True)
        rows = [row for dtype in options["epoch_dtypes"] for row in compare_epoch(
            options["batch_sizes"], options["samples"], (d, h, k), dtype=dtype, repeats=min(options["repeats"], 3),
            log=log, metrics=args.metrics, contenders=options["contenders"])]
        limits = {dtype: flop_limit(options["samples"], (d, h, k), dtype, args.metrics, min(options["repeats"], 3))
                  for dtype in options["epoch_dtypes"]}
        for row in rows:
            row["seconds"]["flop-limit"] = limits[row["dtype"]][0]
        print(format_epoch_table(rows))
        for dtype, (_, gflops, library) in limits.items():
            print(f"FLOP limit, {dtype}: {epoch_flop(options['samples'], (d, h, k), args.metrics) / 1e9:.1f} GFLOP "
                  f"of products per epoch at {gflops:.0f} GFLOP/s, the fastest {dtype} gemm measured ({library}, on "
                  f"all usable CPUs)")
        if args.chart:
            dtype = options["epoch_dtypes"][0]
            epoch_chart([row for row in rows if row["dtype"] == dtype], args.chart,
                        title=f"one epoch of {options['samples']:,} x {d} rows, h = {h}, k = {k}, {dtype}, plain SGD, "
                              f"{args.metrics} metrics{busy}\n{machine_summary().split(', fastnn')[0]}")
            print(f"chart: {args.chart}")
        _print_left_out(args, options)
        return
    print(f"cost_grad at (d, h, k) = {MNIST_SHAPE}, c = {DECAY:g}{busy}; {machine_summary()}", flush=True)
    rows = compare_cost_grad(options["sizes"], options["dtypes"], options["repeats"],
                             peak_repeats=3 if args.quick else 5, log=log, contenders=options["contenders"])
    print(format_table(rows))
    _print_left_out(args, options)


def main(argv=None):
    """``python -m fastnn.benchmarks [options]``: parse the options and `run`."""
    parser = argparse.ArgumentParser(prog="python -m fastnn.benchmarks", description=DESCRIPTION)
    run(add_arguments(parser).parse_args(argv))
