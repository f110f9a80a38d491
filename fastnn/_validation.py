"""Input checks shared by every public entry point.

The dtype rule: the parameters decide the dtype of the computation. W1, b1, ..., WL, bL
must all be float32 or all float64; X may be any real dtype (integers included) and is
cast to the parameters' dtype. Gradients come back in that dtype.
"""

import functools
import math
import numbers
import re

import numpy as np

OVERFLOW_MESSAGE = "the hidden pre-activations or the logits overflowed although X and params are finite"
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LAYER_KEY = re.compile(r"[Wb]([1-9][0-9]*)")


@functools.lru_cache(maxsize=None)
def param_keys(n_layers):
    """The keys of an n_layers-layer network's params, in order: W1, b1, W2, b2, ..., WL, bL."""
    return tuple(f"{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "Wb")


def grad_keys(n_layers):
    """The keys of cost_grad's gradients for n_layers layers: d_w1, d_b1, ..., d_wL, d_bL."""
    return tuple(f"d_{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "wb")


def _is_real_numeric(dtype):
    return dtype.kind in "biuf"


def _n_layers(params):
    """The number of layers L the keys of params describe, refusing keys that are not W<l> or b<l>."""
    n_layers = max(len(params) // 2, 2)
    if params.keys() == set(param_keys(n_layers)):  # the common case, decided quickly
        return n_layers
    unexpected = sorted(map(str, (key for key in params if not (isinstance(key, str) and _LAYER_KEY.fullmatch(key)))))
    if unexpected:
        raise ValueError(f"params has unexpected keys {unexpected}; it holds W1, b1, ..., WL, bL")
    n_layers = max([int(key[1:]) for key in params] + [2])
    missing = [key for key in param_keys(n_layers) if key not in params]
    raise ValueError(f"params is missing {missing}; it needs {list(param_keys(n_layers))}")


def check_params(params):
    """Return (weights, biases): tuples of C-contiguous arrays of one float dtype, biases 1-D.

    params holds W1 (d, h1), b1, W2 (h1, h2), b2, ..., WL (h_{L-1}, k), bL for L >= 2
    layers; each bias has shape (width,) or (1, width). Raises TypeError for a non-dict,
    a non-float dtype or mixed dtypes, and ValueError for a missing or unexpected key or
    shapes that do not chain.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys W1, b1, W2, b2 (..., WL, bL), got {type(params).__name__}")
    keys = param_keys(_n_layers(params))
    arrays = [np.asarray(params[key]) for key in keys]
    dtype = arrays[0].dtype
    for key, arr in zip(keys, arrays):
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(f"params['{key}'] has dtype {arr.dtype}; parameters must be float32 or float64")
        if arr.dtype != dtype:
            found = ", ".join(f"{key}: {arr.dtype}" for key, arr in zip(keys, arrays))
            raise TypeError(f"params must share one dtype, got {found}")

    weights, biases = arrays[::2], arrays[1::2]
    rows = weights[0].shape[0] if weights[0].ndim == 2 else None
    for layer, (W, bias) in enumerate(zip(weights, biases), 1):
        if W.ndim != 2:
            raise ValueError(f"W{layer} must be 2-D, got shape {W.shape}")
        if W.size == 0:
            raise ValueError(f"parameter shapes must be non-empty, got W{layer} {W.shape}")
        if W.shape[0] != rows:
            raise ValueError(
                f"W{layer - 1} {weights[layer - 2].shape} and W{layer} {W.shape} do not chain: "
                f"W{layer} needs {rows} rows"
            )
        rows = width = W.shape[1]
        if bias.shape != (width,) and bias.shape != (1, width):
            raise ValueError(
                f"b{layer} has shape {bias.shape}; with W{layer} {W.shape} it must be ({width},) or (1, {width})"
            )
    return (
        tuple(np.ascontiguousarray(W) for W in weights),
        tuple(np.ascontiguousarray(bias.reshape(-1)) for bias in biases),
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
            f"y holds labels outside [0, {n_classes}) (the last layer has {n_classes} columns): "
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
    """Validate the arguments of cost_grad; return (X, y, (weights, biases), c) ready to use.

    With check_finite=False the caller promises to detect non-finite values itself
    (the compiled path flags them in passes it makes anyway) and to call
    `raise_non_finite` when it does.
    """
    weights, biases = check_params(params)
    X = check_X(X, weights[0].shape[0], weights[0].dtype)
    y = check_y(y, X.shape[0], weights[-1].shape[1])
    c = check_c(c)
    if check_finite:
        raise_non_finite(X, weights, biases)
    return X, y, (weights, biases), c


def raise_non_finite(X, weights, biases):
    """Raise ValueError naming the first of X, W1, b1, ..., WL, bL that holds NaN or inf.

    Checks in chunks of rows, so the memory it needs stays small however large X is.
    """
    layers = zip(param_keys(len(weights)), (arr for pair in zip(weights, biases) for arr in pair))
    named = {"X": X, **dict(layers)}
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
