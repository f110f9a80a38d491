"""Every bad input gets a clear error, from the reference and the compiled path alike."""

import numpy as np
import pytest

import fastnn
from fastnn import reference
from helpers import assert_identical, make_problem

IMPLEMENTATIONS = [reference.cost_grad, fastnn.cost_grad]


def _with(params, **changes):
    return {**params, **changes}


def bad_cases():
    X, y, p = make_problem(6, 4, 5, 3, seed=0)
    nan_X = X.copy()
    nan_X[2, 1] = np.nan
    inf_W1 = p["W1"].copy()
    inf_W1[0, 0] = np.inf
    inf_W1_all_negative = p["W1"].copy()
    inf_W1_all_negative[1] = -np.inf  # X W1 is -inf or NaN: the ReLU alone would hide it
    nan_b2 = p["b2"].copy()
    nan_b2[0] = np.nan
    neg_inf_W2 = p["W2"].copy()
    neg_inf_W2[:, 2] = -np.inf
    inf_b1 = p["b1"].copy()
    inf_b1[3] = -np.inf
    missing = {key: p[key] for key in ("W1", "b1", "W2")}
    _, _, deep = make_problem(6, 4, (5, 2), 3, seed=0)
    nan_W3 = deep["W3"].copy()
    nan_W3[1, 0] = np.nan
    return [
        ("X 1-D", (X[0], y[:1], p, 0.0), ValueError, "X must be 2-D"),
        ("X empty", (X[:0], y[:0], p, 0.0), ValueError, "0 samples"),
        ("X complex", (X.astype(complex), y, p, 0.0), TypeError, "real numbers"),
        ("X strings", (X.astype(str), y, p, 0.0), TypeError, "real numbers"),
        ("X objects", (X.astype(object), y, p, 0.0), TypeError, "real numbers"),
        ("X NaN", (nan_X, y, p, 0.0), ValueError, r"X contains NaN or inf.*\(2, 1\)"),
        ("X inf", (np.where(X > 1, np.inf, X), y, p, 0.0), ValueError, "X contains NaN or inf"),
        ("X wrong width", (X[:, :3], y, p, 0.0), ValueError, "X has 3 features but W1 expects 4"),
        ("params not dict", (X, y, [p["W1"]], 0.0), TypeError, "params must be a dict"),
        ("params missing", (X, y, missing, 0.0), ValueError, r"missing \['b2'\]"),
        ("b3 missing", (X, y, {key: deep[key] for key in deep if key != "b3"}, 0.0), ValueError, r"missing \['b3'\]"),
        ("W2 missing in depth 3", (X, y, {key: deep[key] for key in deep if key != "W2"}, 0.0), ValueError,
         r"missing \['W2'\]"),
        ("unexpected key", (X, y, _with(p, W_extra=p["W1"]), 0.0), ValueError, r"unexpected keys \['W_extra'\]"),
        ("W3 does not chain", (X, y, _with(deep, W3=deep["W3"][:1]), 0.0), ValueError,
         r"W2 \(5, 2\) and W3 \(1, 3\) do not chain"),
        ("b2 wrong in depth 3", (X, y, _with(deep, b2=deep["b2"][:1]), 0.0), ValueError, r"b2 has shape \(1,\)"),
        ("W3 NaN", (X, y, _with(deep, W3=nan_W3), 0.0), ValueError, r"params\['W3'\] contains NaN.*\(1, 0\)"),
        ("W2 does not chain", (X, y, _with(p, W2=p["W2"][:4]), 0.0), ValueError,
         r"W1 \(4, 5\) and W2 \(4, 3\) do not chain"),
        ("b1 wrong", (X, y, _with(p, b1=p["b1"][:2]), 0.0), ValueError, r"b1 has shape \(2,\)"),
        ("b2 wrong", (X, y, _with(p, b2=np.zeros((3, 1))), 0.0), ValueError, r"b2 has shape \(3, 1\)"),
        ("W1 1-D", (X, y, _with(p, W1=p["W1"][0]), 0.0), ValueError, "must be 2-D"),
        ("params int", (X, y, _with(p, W2=p["W2"].astype(int)), 0.0), TypeError, r"params\['W2'\] has dtype int64"),
        ("params complex", (X, y, _with(p, W1=p["W1"].astype(complex)), 0.0), TypeError, "float32 or float64"),
        ("params mixed", (X, y, _with(p, W2=p["W2"].astype(np.float32)), 0.0), TypeError, "share one dtype"),
        ("W1 inf", (X, y, _with(p, W1=inf_W1), 0.0), ValueError, r"params\['W1'\] contains NaN or inf"),
        ("W1 row -inf", (np.abs(X), y, _with(p, W1=inf_W1_all_negative), 0.0), ValueError, r"params\['W1'\]"),
        ("b1 -inf", (X, y, _with(p, b1=inf_b1), 0.0), ValueError, r"params\['b1'\]"),
        ("W2 -inf column", (X, y, _with(p, W2=neg_inf_W2), 0.0), ValueError, r"params\['W2'\]"),
        ("b2 NaN", (X, y, _with(p, b2=nan_b2), 0.0), ValueError, r"params\['b2'\]"),
        ("y float", (X, y + 0.5, p, 0.0), ValueError, "integer-valued"),
        ("y strings", (X, y.astype(str), p, 0.0), TypeError, "integer class labels"),
        ("y too short", (X, y[:-1], p, 0.0), ValueError, "y has 5 labels but X has 6 samples"),
        ("y 2-D", (X, y[:, None], p, 0.0), ValueError, "y must be 1-D"),
        ("y too large", (X, np.where(y == 0, 3, y), p, 0.0), ValueError, r"outside \[0, 3\).*\[3\]"),
        ("y negative", (X, y - 1, p, 0.0), ValueError, r"outside \[0, 3\)"),
        ("c negative", (X, y, p, -1.0), ValueError, "c must be finite and >= 0"),
        ("c NaN", (X, y, p, float("nan")), ValueError, "c must be finite"),
        ("c inf", (X, y, p, np.inf), ValueError, "c must be finite"),
        ("c string", (X, y, p, "0.1"), TypeError, "c must be a real number"),
    ]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["reference", "compiled"])
@pytest.mark.parametrize("case", bad_cases(), ids=lambda case: case[0])
def test_bad_input_is_named(implementation, case):
    _, args, error, message = case
    with pytest.raises(error, match=message):
        implementation(*args)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["reference", "compiled"])
def test_integer_valued_float_labels_are_the_integer_labels(implementation):
    X, y, p = make_problem(6, 4, 5, 3, seed=0)
    assert_identical(implementation(X, y, p, 0.1), implementation(X, y.astype(float), p, 0.1))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["reference", "compiled"])
@pytest.mark.parametrize("X_dtype, params_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_X_is_cast_to_the_params_dtype(implementation, X_dtype, params_dtype):
    X, y, p = make_problem(6, 4, 5, 3, dtype=params_dtype, seed=0)
    X_other = X.astype(X_dtype)
    cost, grads = implementation(X_other, y, p, 0.1)
    assert all(g.dtype == params_dtype for g in grads.values())
    assert_identical((cost, grads), implementation(X_other.astype(params_dtype), y, p, 0.1))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["reference", "compiled"])
def test_overflow_with_finite_inputs_is_a_floating_point_error(implementation):
    X, y, p = make_problem(3, 2, 2, 2, dtype=np.float32, seed=0)
    X[:] = 3e38
    p["W1"][:] = 10
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match="overflowed although X, params and c are finite"):
            implementation(X, y, p)
