"""Input checks shared by every public entry point.

The dtype rule: the parameters decide the dtype of the computation. W1, b1, ..., WL, bL
must all be float32 or all float64; X may be any real dtype (integers included) and is
cast to the parameters' dtype. Gradients come back in that dtype.
"""

import math
import numbers

import numpy as np

from . import families
from .params import param_keys, to_layers

OVERFLOW_MESSAGE = ("the hidden pre-activations, the logits, the loss, a gradient or the weight-decay term overflowed "
                    "although X, params and c are finite")

# Every hyper-parameter's bounds, in one table: (integer?, low, high, closed ends among "[]").
# NetClassifier, the optimizers and the schedules check their own names against these
# (NetClassifier's lr, ...), so an error names the parameter as the user wrote it; the
# MLPs' scikit-learn constraints are made from the same rows (`sklearn_interval`). The
# bounds follow scikit-learn's MLP where it has the parameter.
BOUNDS = {
    "learning_rate": (False, 0, math.inf, ""),
    "decay": (False, 0, math.inf, "["),  # weight decay: NetClassifier's c, the MLPs' alpha
    "momentum": (False, 0, 1, "[]"),
    "beta": (False, 0, 1, "["),  # Adam's beta1 and beta2
    "epsilon": (False, 0, math.inf, ""),
    "power_t": (False, 0, math.inf, "["),
    "tol": (False, 0, math.inf, "["),
    "gamma": (False, 0, 1, "]"),  # a schedule's decay factor
    "lr_min": (False, 0, math.inf, "["),
    "validation_fraction": (False, 0, 1, "["),
    "patience": (True, 1, math.inf, "["),
    "step_size": (True, 1, math.inf, "["),
    "batch_size": (True, 1, math.inf, "["),
    "epochs": (True, 0, math.inf, "["),
    "max_iter": (True, 1, math.inf, "["),
}


def _describe_bounds(integer, low, high, closed):
    if high == math.inf:
        return f"{'an integer ' if integer else ''}{'>=' if '[' in closed else '>'} {low}"
    return (f"{'an integer' if integer else 'a number'} in "
            f"{'[' if '[' in closed else '('}{low}, {high}{']' if ']' in closed else ')'}")


def check_hyperparameter(name, value, bounds=None):
    """Return value as a float (or int) if it lies in the bounds of BOUNDS[bounds or name].

    Raises ValueError naming `name` (the parameter as the caller wrote it) with the
    bounds, for a value out of bounds, not a number (booleans included) or not finite.
    """
    integer, low, high, closed = BOUNDS[bounds or name]
    number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if number and integer and not isinstance(value, numbers.Integral):
        number = False
    if number:
        value = int(value) if integer else float(value)
        above = value >= low if "[" in closed else value > low
        below = value <= high if "]" in closed else value < high
        if math.isfinite(value) and above and below:
            return value
    raise ValueError(f"{name} must be {_describe_bounds(integer, low, high, closed)}, got {value!r}")


def sklearn_interval(bounds):
    """scikit-learn's parameter constraint for the row BOUNDS[bounds] (scikit-learn imported here: optional)."""
    from sklearn.utils._param_validation import Interval

    integer, low, high, closed = BOUNDS[bounds]
    ends = {"": "neither", "[": "left", "]": "right", "[]": "both"}[closed]
    return Interval(numbers.Integral if integer else numbers.Real, low, None if high == math.inf else high, closed=ends)


def _is_real_numeric(dtype):
    return dtype.kind in "biuf"


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def check_sparse_X(X, n_features, dtype):
    """Return a scipy.sparse X as a new CSR matrix of `dtype` with `n_features` columns (its values still to check)."""
    if not _is_real_numeric(X.dtype):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but W1 expects {n_features} (W1 has {n_features} rows)")
    return X.tocsr().astype(dtype, copy=True)


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
    with np.errstate(over="ignore"):  # a cast that overflows is named by raise_non_finite
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


# The hidden activations and the outputs (each implies its loss), by name: `fastnn.families`.
ACTIVATIONS = tuple(families.ACTIVATIONS)
OUTPUTS = tuple(families.OUTPUTS)


def check_choice(name, value, choices):
    """Return value if it is one of choices (strings), else raise ValueError naming name and the choices."""
    if not (isinstance(value, str) and value in choices):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_targets(y, n_samples, n_outputs, output, dtype):
    """Return y as the kernels take it for this output: labels for softmax, else a (n, k) float array.

    softmax: y (n,) integer labels in [0, k), returned as int64 (n,). logistic: 0/1
    targets, (n,) when there is one output column (binary) or (n, k) (multilabel).
    identity: real targets, (n,) for one output or (n, k). exp: real targets >= 0.
    The float targets come back C-contiguous in `dtype`, shaped (n, k).
    """
    kind = families.OUTPUTS[output].targets
    if kind == "labels":
        return check_y(y, n_samples, n_outputs)
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold real numbers for the {output} output, got dtype {y.dtype}")
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs:
        expected = "(n_samples,) or (n_samples, 1)" if n_outputs == 1 else f"(n_samples, {n_outputs})"
        raise ValueError(f"y must have shape {expected} for the {output} output with {n_outputs} column"
                         f"{'s' if n_outputs > 1 else ''} (the last layer's width), got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} rows but X has {n_samples} samples")
    count, first = _non_finite(y)
    if count:
        raise ValueError(f"y contains NaN or inf ({count} entries, first at index {first})")
    if kind == "binary" and not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold 0/1 targets for the logistic output (a label indicator matrix for "
                         f"multilabel data); found {np.unique(y[(y != 0) & (y != 1)])[:5].tolist()}")
    if kind == "counts" and np.any(y < 0):
        raise ValueError("y must be >= 0 for the exp output (the Poisson loss); found "
                         f"{np.unique(y[y < 0])[:5].tolist()}")
    with np.errstate(over="ignore"):
        targets = np.ascontiguousarray(y, dtype=dtype)
    if not np.all(np.isfinite(targets)):
        raise ValueError(f"y holds values too large for {np.dtype(dtype)}, the parameters' dtype")
    return targets


def check_sample_weight(sample_weight, n_samples, dtype):
    """Return per-row weights as a C-contiguous array of `dtype`, or None for None.

    They must be 1-D with one weight per row, finite, >= 0 and not all 0.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), one weight per row of X; "
                         f"got shape {weights.shape}")
    count, first = _non_finite(weights)
    if count:
        raise ValueError(f"sample_weight contains NaN or inf ({count} entries, first at index {first})")
    if np.any(weights < 0):
        raise ValueError(f"sample_weight must be >= 0; sample_weight[{int(np.argmax(weights < 0))}] is "
                         f"{weights[np.argmax(weights < 0)]}")
    with np.errstate(over="ignore"):
        weights = np.ascontiguousarray(weights, dtype=dtype)
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"sample_weight holds values too large for {np.dtype(dtype)}, the parameters' dtype")
    if not np.any(weights > 0):
        raise ValueError("sample_weight is 0 for every row: there is nothing to fit")
    if not np.isfinite(np.sum(weights, dtype=np.float64)):
        raise ValueError("sample_weight sums to inf; scale the weights down")
    return weights


def check_cost_grad_args(X, y, params, c, check_finite=True, activation="relu", output="softmax",
                         sample_weight=None, accept_sparse=False):
    """Validate the arguments of cost_grad; return (X, y, sample_weight, (weights, biases), c) ready to use.

    y as `check_targets` returns it; sample_weight as `check_sample_weight` does. With
    check_finite=False the caller promises to detect non-finite values itself (the
    compiled path flags them in passes it makes anyway) and to call `raise_non_finite`
    when it does. accept_sparse: a scipy.sparse X comes back as a CSR copy in the
    parameters' dtype (`check_sparse_X`).
    """
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("output", output, OUTPUTS)
    weights, biases = to_layers(params)
    if accept_sparse and is_sparse(X):
        X = check_sparse_X(X, weights[0].shape[0], weights[0].dtype)
        y = check_targets(y, X.shape[0], weights[-1].shape[1], output, X.dtype)
        sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
        if check_finite:
            raise_non_finite(X.data.reshape(-1, 1), weights, biases)
        return X, y, sample_weight, (weights, biases), check_c(c)
    X_given = X
    X = check_X(X, weights[0].shape[0], weights[0].dtype)
    y = check_targets(y, X.shape[0], weights[-1].shape[1], output, X.dtype)
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    c = check_c(c)
    if check_finite:
        raise_non_finite(X, weights, biases, X_given)
    return X, y, sample_weight, (weights, biases), c


def raise_non_finite(X, weights, biases, X_given=None):
    """Raise ValueError naming the first of X, W1, b1, ..., WL, bL that holds NaN or inf.

    X is the data in the parameters' dtype; X_given, the caller's own X if it was cast:
    finite values that overflowed in the cast (1e300 into float32) are named as such.
    Checks in chunks of rows, so the memory it needs stays small however large X is.
    """
    layers = zip(param_keys(len(weights)), (arr for pair in zip(weights, biases) for arr in pair))
    named = {"X": X, **dict(layers)}
    for name, arr in named.items():
        count, first = _non_finite(np.asarray(arr))
        if count and name == "X" and X_given is not None and np.asarray(X_given).dtype != X.dtype:
            value = np.asarray(X_given)[first]
            if np.isfinite(value):
                raise ValueError(f"X holds values too large for {X.dtype}, the parameters' dtype: X{list(first)} "
                                 f"is {value.item():.3g} ({count} entries overflow in the cast); scale X, or "
                                 "use float64 parameters")
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
