"""The reference against the math: finite differences, the softmax derivative, stability."""

import numpy as np
import pytest

from fastnn import reference
from helpers import make_problem

EPS = 1e-5  # central differences in float64, as scikit-learn's test_gradient


def numerical_gradient(f, x):
    """Central finite differences of the scalar f() with respect to every entry of x (in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + EPS
        plus = f()
        x[index] = saved - EPS
        minus = f()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


@pytest.mark.parametrize("c", [0.0, 0.7])
@pytest.mark.parametrize("bias_shape", ["1d", "2d"])
@pytest.mark.parametrize("hidden", [(), 6, (6, 5), (6, 5, 4)], ids=["depth1", "depth2", "depth3", "depth4"])
def test_gradient_matches_finite_differences(c, bias_shape, hidden):
    X, y, params = make_problem(n=9, d=4, h=hidden, k=3, seed=1, bias_shape=bias_shape)
    _, grads = reference.cost_grad(X, y, params, c)
    assert list(grads) == [f"d_{key.lower()}" for key in params]
    for key in params:
        numeric = numerical_gradient(lambda: reference.cost_grad(X, y, params, c)[0], params[key])
        np.testing.assert_allclose(grads["d_" + key.lower()], numeric, rtol=1e-6, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("j", range(7))
def test_softmax_cross_entropy_derivative_is_softmax_minus_onehot(j):
    # Part I of the hand-in: d/dz_i (-log softmax(z)_j) = -delta_ij + softmax(z)_i.
    z = np.random.default_rng(3).standard_normal((1, 7))
    numeric = numerical_gradient(lambda: -reference.log_softmax(z)[0, j], z)
    expected = reference.softmax(z) - np.eye(7)[j]
    np.testing.assert_allclose(numeric, expected, rtol=1e-7, atol=1e-9)


def test_cost_is_mean_cross_entropy_plus_decay():
    X, y, params = make_problem(n=5, d=3, h=4, k=3, seed=2)
    c = 0.3
    A1 = np.maximum(X @ params["W1"] + params["b1"], 0)
    probs = reference.softmax(A1 @ params["W2"] + params["b2"])
    expected = -np.mean(np.log(probs[np.arange(5), y])) + c / 10 * (
        np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert reference.cost_grad(X, y, params, c)[0] == pytest.approx(expected, rel=1e-14)


def test_deeper_cost_is_the_forward_pass_written_out():
    X, y, params = make_problem(n=6, d=3, h=(4, 5, 2), k=3, seed=4)
    c = 0.2
    A = X
    for layer in (1, 2, 3):
        A = np.maximum(A @ params[f"W{layer}"] + params[f"b{layer}"], 0)
    probs = reference.softmax(A @ params["W4"] + params["b4"])
    squares = sum(np.sum(params[f"W{layer}"] ** 2) for layer in (1, 2, 3, 4))
    expected = -np.mean(np.log(probs[np.arange(6), y])) + c / 12 * squares
    assert reference.cost_grad(X, y, params, c)[0] == pytest.approx(expected, rel=1e-14)


def test_one_in_k_encoding_and_softmax_rows():
    encoded = reference.one_in_k_encoding(np.array([2, 0, 1]), 4, dtype=np.float32)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    z = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert reference.softmax(z).dtype == np.float32
    np.testing.assert_allclose(reference.softmax(z).sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(reference.relu(np.array([-1.0, 0.0, 2.0])), [0, 0, 2])


def test_log_softmax_is_stable_where_the_naive_form_is_not():
    z = np.array([[1e4, -1e4, 0.0]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        naive = np.log(np.exp(z) / np.exp(z).sum())
    assert not np.all(np.isfinite(naive))
    np.testing.assert_allclose(reference.log_softmax(z), [[0.0, -2e4, -1e4]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_keeps_the_dtype(dtype):
    X, y, params = make_problem(n=4, d=3, h=5, k=2, dtype=dtype)
    _, grads = reference.cost_grad(X, y, params, 0.1)
    assert all(g.dtype == dtype for g in grads.values())
