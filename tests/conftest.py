"""Shared fixtures and the tolerances for compiled-versus-reference comparisons."""

import os

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis: 60 examples per property by default. CI runs the same examples every time;
# local runs keep exploring new ones; `pytest --hypothesis-profile=thorough` runs 2,000.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# Tolerances of fastnn.cost_grad against fastnn.reference.cost_grad, in one place.
# A gradient entry is a sum of products; rounding moves it by about eps times the sum of
# the magnitudes of its terms, however small the sum itself (a saturated softmax makes
# p - 1 and the sums over rows cancel). So an entry compares equal when
# |comp - ref| <= RTOL * scale, with scale the same sum taken over absolute values
# (`error_scale`). The cost, a sum of positive terms, compares with rtol = RTOL.
# Measured worst cases over the test grid plus 3,000 random problems (logits up to ~1e3):
# float64 1.0e-14 * scale (cost 5.9e-15 relative), float32 1.6e-6 * scale (cost 3.1e-6).
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 5e-5}
GRAD_KEYS = ("d_w1", "d_b1", "d_w2", "d_b2")


def error_scale(X, y, params, c=0.0):
    """Per-entry magnitude of the terms summed into each gradient, in float64.

    The gradient's formulas with every operand replaced by its absolute value (and
    softmax - onehot by softmax + onehot), so that rounding error is bounded by about
    eps * scale * (the number of terms).
    """
    from fastnn import reference

    X = np.asarray(X, np.float64)
    W1, b1, W2, b2 = (np.asarray(params[key], np.float64).reshape(np.shape(params[key])[-2:])
                      if key.startswith("W") else np.asarray(params[key], np.float64).reshape(-1)
                      for key in ("W1", "b1", "W2", "b2"))
    n = X.shape[0]
    Z1 = X @ W1 + b1
    A1_scale = (np.abs(X) @ np.abs(W1) + np.abs(b1)) * (Z1 > 0)
    probs = reference.softmax(np.maximum(Z1, 0) @ W2 + b2)
    G_scale = (probs + reference.one_in_k_encoding(y, W2.shape[1])) / n
    dZ1_scale = (G_scale @ np.abs(W2).T) * (Z1 > 0)
    return {
        "d_w1": np.abs(X).T @ dZ1_scale + c / n * np.abs(W1),
        "d_b1": dZ1_scale.sum(axis=0).reshape(np.shape(params["b1"])),
        "d_w2": A1_scale.T @ G_scale + c / n * np.abs(W2),
        "d_b2": G_scale.sum(axis=0).reshape(np.shape(params["b2"])),
    }


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


def assert_same_result(ref, comp, dtype, scale):
    """Assert compiled (comp) equals reference (ref) results within RTOL of the dtype.

    scale is `error_scale` of the inputs: gradient entries may differ by RTOL * scale.
    """
    rtol = RTOL[np.dtype(dtype)]
    ref_cost, ref_grads = ref
    comp_cost, comp_grads = comp
    assert isinstance(comp_cost, float)
    np.testing.assert_allclose(comp_cost, ref_cost, rtol=rtol)
    for key in GRAD_KEYS:
        r, c = ref_grads[key], comp_grads[key]
        assert c.dtype == r.dtype == np.dtype(dtype), key
        assert c.shape == r.shape, key
        excess = np.abs(c.astype(np.float64) - r) - rtol * scale[key]
        assert np.all(excess <= 0), (
            f"{key}: |comp - ref| exceeds {rtol:g} * scale by up to {excess.max():.3g} "
            f"at {np.unravel_index(np.argmax(excess), excess.shape)}")


@pytest.fixture
def problem():
    return make_problem
