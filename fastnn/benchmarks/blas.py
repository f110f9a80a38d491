"""The installed BLAS libraries side by side (``fastnn bench --blas``), and the machine's FLOP
limit for an epoch (a line of ``fastnn bench --epoch``).

Every library fastnn can call (`fastnn._blas_libraries.installed`) is opened in this one
process and its Fortran gemm called through ctypes (about 2 us a call beside the
product), the libraries taking turns within each repeat, on one thread and on all the
CPUs the process may use. The products are those of the first layer, which hold most of
an epoch's floating-point operations: the forward X W1 (batch x d by d x h) and the
weight gradient X^T dZ1 (d x batch by batch x h).
"""

import ctypes

import numpy as np

__all__ = ["BLAS_BATCH_SIZES", "compare_blas", "epoch_flop", "flop_limit", "format_blas_table"]

BLAS_BATCH_SIZES = (32, 256, 1024)
_CHAR = {False: ctypes.c_char(b"N"), True: ctypes.c_char(b"T")}


def _gemm_call(library, dtype, trans_a, a, b, c):
    """A function of no arguments computing c = op(a) @ b with `library`'s Fortran gemm (C-contiguous arrays)."""
    routine = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 13))(library.gemm[dtype == np.float64])
    scalar = ctypes.c_double if dtype == np.float64 else ctypes.c_float
    m, n = c.shape
    k = b.shape[0]
    # Row-major c = op(a) b is column-major c^T = b^T op(a)^T.
    by_ref = [ctypes.byref(value) for value in (
        _CHAR[False], _CHAR[trans_a], ctypes.c_int64(n), ctypes.c_int64(m), ctypes.c_int64(k), scalar(1.0))]
    ld_b, ld_a, ld_c = ctypes.c_int64(n), ctypes.c_int64(a.shape[1]), ctypes.c_int64(n)
    arguments = (*by_ref, b.ctypes.data, ctypes.byref(ld_b), a.ctypes.data, ctypes.byref(ld_a),
                 ctypes.byref(scalar(0.0)), c.ctypes.data, ctypes.byref(ld_c))
    keep = (a, b, c)  # alive as long as the call is (byref keeps its own)

    def call():
        routine(*arguments)
        return keep

    return call


def _on_threads(library, count, function):
    get, set_ = library.threads

    def run():
        before = get()
        set_(count)
        try:
            return function()
        finally:
            set_(before)

    return run


def products(batch_size, d, h, dtype):
    """name -> (trans_a, a, b, c) of the first layer's two products at a batch size."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch_size, d)).astype(dtype)
    W1 = rng.standard_normal((d, h)).astype(dtype)
    dZ1 = rng.standard_normal((batch_size, h)).astype(dtype)
    return {f"X W1, batch {batch_size}": (False, X, W1, np.empty((batch_size, h), dtype)),
            f"X^T dZ1, batch {batch_size}": (True, X, dZ1, np.empty((d, h), dtype))}


def _libraries():
    """Every installed library, and the one $FASTNN_BLAS names by its path if any, each prepared as
    binding prepares it (MKL's threads then sleep between products, as under fastnn)."""
    from fastnn import _blas_libraries

    names = _blas_libraries.installed()
    chosen = _blas_libraries.choice()
    if chosen not in _blas_libraries.NAMES:
        names.append(chosen)
    libraries = [_blas_libraries.find(name) for name in names]
    for library in libraries:
        if library.prepare is not None:
            library.prepare()
    return libraries


def compare_blas(batch_sizes=BLAS_BATCH_SIZES, shape=(784, 256), dtypes=("float32", "float64"), repeats=5,
                 log=None):
    """GFLOP/s of each installed BLAS library's products, one thread and all, side by side.

    The libraries: those installed, and one that $FASTNN_BLAS names by its path. A library
    without thread functions runs on its own count.

    Parameters
    ----------
    batch_sizes : sequence of int
    shape : (d, h)
        The first layer's inputs and hidden units.
    dtypes : sequence of {"float32", "float64"}
    repeats : int
        Timed turns per library and thread count; medians are reported.
    log : text stream or None
        Progress lines.

    Returns
    -------
    list of dict
        One row per dtype and product: "dtype", "product" and "gflops" ((library
        description, threads) -> GFLOP/s).
    """
    from fastnn._blas_threads import cpu_budget

    from .runner import interleaved_medians

    libraries = _libraries()
    counts = sorted({1, cpu_budget()})
    rows = []
    for dtype in dtypes:
        for batch_size in batch_sizes:
            for product, (trans_a, a, b, c) in products(batch_size, *shape, np.dtype(dtype)).items():
                calls = {}
                for library in libraries:
                    call = _gemm_call(library, np.dtype(dtype), trans_a, a, b, c)
                    if library.threads is None:  # its own count, which fastnn cannot set
                        calls[library.description, None] = call
                    else:
                        calls.update({(library.description, count): _on_threads(library, count, call)
                                      for count in counts})
                seconds = interleaved_medians(calls, repeats, min_seconds=0.05, pause=0.05,
                                              label=f"{product} {dtype}", log=log)
                flop = 2 * c.size * b.shape[0]
                rows.append({"dtype": dtype, "product": product,
                             "gflops": {key: flop / value / 1e9 for key, value in seconds.items()}})
    return rows


def _threads_label(count):
    return "its own threads" if count is None else f"{count} thread{'s' if count > 1 else ''}"


def format_blas_table(rows):
    """A Markdown table of `compare_blas`'s rows: GFLOP/s per library and thread count, the best in bold."""
    keys = list(rows[0]["gflops"])
    header = "| dtype | product | " + " | ".join(
        f"{library}, {_threads_label(count)}" for library, count in keys) + " |"
    lines = [header, "| --- | --- | " + " | ".join("---:" for _ in keys) + " |"]
    for row in rows:
        best = max(row["gflops"].values())
        lines.append(f"| {row['dtype']} | {row['product']} | " + " | ".join(
            f"**{rate:.0f}**" if rate == best else f"{rate:.0f}" for rate in row["gflops"].values()) + " |")
    return "\n".join(lines) + "\n\nGFLOP/s, medians; the fastest in bold."


def epoch_flop(n, shape, metrics="full"):
    """Floating-point operations of the matrix products of one epoch of plain SGD on n rows.

    Per row: the forward pass (2 (d h + h k)), the output layer's weight gradient and the
    hidden layer's input gradient (2 h k each) and the first layer's weight gradient
    (2 d h); with "full" metrics, a forward pass over the training set at the end.
    """
    d, h, k = shape
    per_row = 2 * (d * h + h * k) + 2 * h * k + 2 * h * k + 2 * d * h
    if metrics == "full":
        per_row += 2 * (d * h + h * k)
    return n * per_row


def flop_limit(n, shape, dtype, metrics="full", repeats=3):
    """(seconds, GFLOP/s, library) of the FLOP limit: the epoch's products at the fastest gemm rate measured.

    The rate is the best of every installed library, on all the CPUs the process may
    use, over a 1024 x 1024 product and the epoch's own largest one (1024 rows of X W1).
    """
    from fastnn._blas_threads import cpu_budget

    from .runner import interleaved_medians

    libraries = _libraries()
    d, h, _ = shape
    rng = np.random.default_rng(0)
    square = rng.standard_normal((1024, 1024)).astype(dtype)
    shapes = {"1024 x 1024": (square, square, np.empty_like(square))}
    trans_a, a, b, c = products(1024, d, h, np.dtype(dtype))["X W1, batch 1024"]
    shapes["1024 x d by d x h"] = (a, b, c)
    calls, flops = {}, {}
    for library in libraries:
        for label, (a, b, c) in shapes.items():
            call = _gemm_call(library, np.dtype(dtype), False, a, b, c)
            calls[library.description, label] = (call if library.threads is None
                                                 else _on_threads(library, cpu_budget(), call))
            flops[library.description, label] = 2 * c.size * b.shape[0]
    seconds = interleaved_medians(calls, repeats, min_seconds=0.05, pause=0.05)
    rate, library = max((flops[key] / seconds[key], key[0]) for key in calls)
    return epoch_flop(n, shape, metrics) / rate, rate / 1e9, library
