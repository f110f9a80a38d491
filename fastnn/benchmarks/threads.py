"""How fastnn scales with threads: ``fastnn bench --scaling``.

One training epoch per batch size, and cost_grad on a batch large enough for the
parallel block pass, each timed on 1, 2, 4, ... threads up to the CPUs the process may
use (`fastnn._blas_threads.cpu_budget`), the thread counts taking turns within each
repeat. A count caps both BLAS's threads and Numba's, as ``fastnn train --threads``
does; fastnn's own policy may still run fewer where products are small or cores busy
(`fastnn._blas_threads`). Speed-up is against one thread; efficiency is the speed-up
over the thread count.
"""

from .contenders import CONTENDERS, DECAY, LEARNING_RATE
from .inputs import benchmark_inputs

__all__ = ["COST_GRAD_ROWS", "compare_scaling", "format_scaling_table", "thread_counts"]

# cost_grad's batch: above PARALLEL_MIN_ROWS, so that the block pass runs on Numba's
# threads where the machine has more than PARALLEL_MIN_CORES CPUs.
COST_GRAD_ROWS = 10000


def thread_counts(cpus):
    """1, 2, 4, ... below `cpus`, then `cpus` itself."""
    counts, count = [], 1
    while count < cpus:
        counts.append(count)
        count *= 2
    return counts + [cpus]


def _on(count, function):
    from fastnn._threads import on_threads

    def run():
        with on_threads(count):
            return function()

    return run


def compare_scaling(batch_sizes, n, shape, dtype="float32", repeats=3, counts=None, log=None):
    """Median seconds of an epoch per batch size, and of cost_grad, on each thread count.

    Parameters
    ----------
    batch_sizes : sequence of int
        The epochs' batch sizes.
    n : int
        Rows of MNIST-like random data (`benchmark_inputs`) for the epochs.
    shape : (d, h, k)
    dtype : {"float32", "float64"}
    repeats : int
        Timed turns per thread count.
    counts : sequence of int, optional
        Thread counts (default: `thread_counts` of the CPUs the process may use).
    log : text stream or None
        Progress lines.

    Returns
    -------
    list of dict
        One row per measurement: "what" (its name) and "seconds" (thread count ->
        median seconds).
    """
    from fastnn._blas_threads import cpu_budget

    from .runner import interleaved_medians

    counts = thread_counts(cpu_budget()) if counts is None else counts
    d, h, k = shape
    X, y, params = benchmark_inputs(n, d, h, k, dtype)
    measurements = {f"epoch, batch {batch_size}": CONTENDERS["epoch"]["fastnn"].make(
        X, y, params, batch_size, LEARNING_RATE, DECAY, 0) for batch_size in batch_sizes}
    X_large, y_large, params_large = benchmark_inputs(COST_GRAD_ROWS, d, h, k, dtype)
    measurements[f"cost_grad, n = {COST_GRAD_ROWS}"] = CONTENDERS["cost_grad"]["fastnn"].make(
        X_large, y_large, params_large, DECAY)
    rows = []
    for what, function in measurements.items():
        seconds = interleaved_medians({count: _on(count, function) for count in counts}, repeats, min_seconds=0.0,
                                      pause=0.3, label=f"{what} {dtype}", log=log)
        rows.append({"what": f"{what}, {dtype}", "seconds": seconds})
    return rows


def format_scaling_table(rows):
    """A Markdown table of `compare_scaling`'s rows: seconds, speed-up and efficiency per thread count."""
    counts = list(rows[0]["seconds"])
    header = "| measurement | " + " | ".join(f"{count} thread{'s' if count > 1 else ''}" for count in counts) + " |"
    lines = [header, "| --- | " + " | ".join("---:" for _ in counts) + " |"]
    for row in rows:
        seconds = row["seconds"]
        one = seconds[counts[0]]
        cells = [f"{seconds[count]:.3f} s" + (
            "" if count == counts[0] else
            f" ({one / seconds[count]:.2f}x, {one / seconds[count] / (count / counts[0]):.0%})") for count in counts]
        lines.append(f"| {row['what']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + (f"\n\nIn brackets: the speed-up over {counts[0]} thread{'s' if counts[0] > 1 else ''}, "
                               "and the efficiency (the speed-up over the ratio of the thread counts).")
