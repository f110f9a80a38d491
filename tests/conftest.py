"""Shared fixtures and the tolerances for compiled-versus-reference comparisons."""

import numpy as np
import pytest

# Tolerances of fastnn.cost_grad against fastnn.reference.cost_grad, in one place.
# An array compares equal when |comp - ref| <= RTOL * |ref| + RTOL * max|ref|: the second
# term covers entries that are sums with cancellation (d_b2 sums rows of softmax - onehot).
# float64 differs only by summation order (about 1e-15 measured); float32 by rounding of
# its 24-bit sums (about 5e-6 measured at n = 5000).
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}
GRAD_KEYS = ("d_w1", "d_b1", "d_w2", "d_b2")


def make_problem(n, d, h, k, dtype=np.float64, seed=0, bias_shape="1d"):
    """Random data and parameters with the hand-in's initialisation scale."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    bias = (lambda m: rng.standard_normal(m) * 0.1) if bias_shape == "1d" else (
        lambda m: rng.standard_normal((1, m)) * 0.1)
    params = {
        "W1": rng.normal(0, np.sqrt(2 / (d + h)), (d, h)).astype(dtype),
        "b1": bias(h).astype(dtype),
        "W2": rng.normal(0, np.sqrt(4 / (h + k)), (h, k)).astype(dtype),
        "b2": bias(k).astype(dtype),
    }
    return X, y, params


def assert_same_result(ref, comp, dtype):
    """Assert compiled (comp) equals reference (ref) results within RTOL of the dtype."""
    rtol = RTOL[np.dtype(dtype)]
    ref_cost, ref_grads = ref
    comp_cost, comp_grads = comp
    assert isinstance(comp_cost, float)
    np.testing.assert_allclose(comp_cost, ref_cost, rtol=rtol)
    for key in GRAD_KEYS:
        r, c = ref_grads[key], comp_grads[key]
        assert c.dtype == r.dtype == np.dtype(dtype), key
        assert c.shape == r.shape, key
        np.testing.assert_allclose(c, r, rtol=rtol, atol=rtol * np.abs(r).max(), err_msg=key)


@pytest.fixture
def problem():
    return make_problem
