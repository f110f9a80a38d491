"""Input checks shared by every public entry point.

The dtype rule: the parameters decide the dtype of the computation. W1, b1, W2 and b2
must all be float32 or all float64; X may be any real dtype (integers included) and is
cast to the parameters' dtype. Gradients come back in that dtype.
"""

import math
import numbers

import numpy as np

PARAM_KEYS = ("W1", "b1", "W2", "b2")
OVERFLOW_MESSAGE = "the hidden pre-activations or the logits overflowed although X and params are finite"
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_real_numeric(dtype):
    return dtype.kind in "biuf"


def check_params(params):
    """Return (W1, b1, W2, b2) as C-contiguous arrays of one float dtype, biases 1-D.

    Raises TypeError for a non-dict, a non-float dtype or mixed dtypes, and ValueError
    for a missing key or shapes that do not chain.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys {PARAM_KEYS}, got {type(params).__name__}")
    missing = [key for key in PARAM_KEYS if key not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; it needs {list(PARAM_KEYS)}")
    arrays = {key: np.asarray(params[key]) for key in PARAM_KEYS}
    for key, arr in arrays.items():
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"params['{key}'] has dtype {arr.dtype}; parameters must be float32 or float64"
            )
    dtypes = {arr.dtype for arr in arrays.values()}
    if len(dtypes) > 1:
        found = ", ".join(f"{key}: {arr.dtype}" for key, arr in arrays.items())
        raise TypeError(f"params must share one dtype, got {found}")

    W1, b1, W2, b2 = (arrays[key] for key in PARAM_KEYS)
    if W1.ndim != 2 or W2.ndim != 2:
        raise ValueError(f"W1 and W2 must be 2-D, got W1 {W1.shape} and W2 {W2.shape}")
    d, h = W1.shape
    if W2.shape[0] != h:
        raise ValueError(f"W1 {W1.shape} and W2 {W2.shape} do not chain: W2 needs {h} rows")
    k = W2.shape[1]
    for key, bias, width in (("b1", b1, h), ("b2", b2, k)):
        if bias.shape not in ((width,), (1, width)):
            raise ValueError(
                f"{key} has shape {bias.shape}; with W1 {W1.shape} and W2 {W2.shape} "
                f"it must be ({width},) or (1, {width})"
            )
    if min(d, h, k) == 0:
        raise ValueError(f"parameter shapes must be non-empty, got W1 {W1.shape}, W2 {W2.shape}")
    return (
        np.ascontiguousarray(W1),
        np.ascontiguousarray(b1.reshape(-1)),
        np.ascontiguousarray(W2),
        np.ascontiguousarray(b2.reshape(-1)),
    )


def check_X(X, n_features, dtype):
    """Return X as a C-contiguous 2-D array of `dtype` with `n_features` columns."""
    X = np.asarray(X)
    if not _is_real_numeric(X.dtype):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but W1 expects {n_features} (W1 has {n_features} rows)")
    return np.ascontiguousarray(X, dtype=dtype)


def check_y(y, n_samples, n_classes):
    """Return y as a C-contiguous int64 array of length n_samples with labels in [0, n_classes)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n_samples} samples")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("y must be integer-valued; it holds non-integer or non-finite values")
    low, high = y.min(), y.max()
    if low < 0 or high >= n_classes:
        bad = y[(y < 0) | (y >= n_classes)]
        raise ValueError(
            f"y holds labels outside [0, {n_classes}) (W2 has {n_classes} columns): "
            f"{np.unique(bad)[:10].tolist()}"
        )
    return np.ascontiguousarray(y, dtype=np.int64)


def check_c(c):
    """Return the weight-decay parameter as a float, refusing negative or non-finite values."""
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Real):
        raise TypeError(f"c must be a real number, got {type(c).__name__}")
    c = float(c)
    if not math.isfinite(c) or c < 0:
        raise ValueError(f"c must be finite and >= 0, got {c}")
    return c


def check_cost_grad_args(X, y, params, c, check_finite=True):
    """Validate the arguments of cost_grad; return (X, y, (W1, b1, W2, b2), c) ready to use.

    With check_finite=False the caller promises to detect non-finite values itself
    (the compiled path flags them in passes it makes anyway) and to call
    `raise_non_finite` when it does.
    """
    W1, b1, W2, b2 = check_params(params)
    X = check_X(X, W1.shape[0], W1.dtype)
    y = check_y(y, X.shape[0], W2.shape[1])
    c = check_c(c)
    if check_finite:
        raise_non_finite(X, (W1, b1, W2, b2))
    return X, y, (W1, b1, W2, b2), c


def raise_non_finite(X, weights):
    """Raise ValueError naming the first of X, W1, b1, W2, b2 that holds NaN or inf.

    Checks in chunks of rows, so the memory it needs stays small however large X is.
    """
    named = {"X": X, **dict(zip(PARAM_KEYS, weights))}
    for name, arr in named.items():
        count, first = _non_finite(np.asarray(arr))
        if count:
            label = name if name == "X" else f"params['{name}']"
            raise ValueError(f"{label} contains NaN or inf ({count} entries, first at index {first})")


def _non_finite(arr, rows_per_chunk=8192):
    """(number of NaN or inf entries, index of the first one) of an array, chunk by chunk."""
    table = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    count, first = 0, None
    for start in range(0, table.shape[0], rows_per_chunk):
        bad = ~np.isfinite(table[start:start + rows_per_chunk])
        found = int(np.count_nonzero(bad))
        if found and first is None:
            row, column = np.unravel_index(np.argmax(bad), bad.shape)
            flat = (start + int(row)) * table.shape[1] + int(column)
            first = tuple(int(i) for i in np.unravel_index(flat, arr.shape))
        count += found
    return count, first
