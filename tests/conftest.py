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


def _layers(params):
    """(weights, 1-D biases) of params as float64 arrays, in layer order."""
    n_layers = len(params) // 2
    weights = [np.asarray(params[f"W{l}"], np.float64) for l in range(1, n_layers + 1)]
    biases = [np.asarray(params[f"b{l}"], np.float64).reshape(-1) for l in range(1, n_layers + 1)]
    return weights, biases


def error_scale(X, y, params, c=0.0):
    """Per-entry magnitude of the terms summed into each gradient, in float64.

    The gradient's formulas with every operand replaced by its absolute value (and
    softmax - onehot by softmax + onehot), so that rounding error is bounded by about
    eps * scale * (the number of terms). Any depth.
    """
    from fastnn import reference

    weights, biases = _layers(params)
    n = X.shape[0]
    activations, activation_scales, masks = [np.asarray(X, np.float64)], [np.abs(np.asarray(X, np.float64))], []
    for W, b in zip(weights[:-1], biases[:-1]):
        Z = activations[-1] @ W + b
        masks.append(Z > 0)
        activations.append(np.maximum(Z, 0))
        activation_scales.append((activation_scales[-1] @ np.abs(W) + np.abs(b)) * masks[-1])
    probs = reference.softmax(activations[-1] @ weights[-1] + biases[-1])
    dZ_scale = (probs + reference.one_in_k_encoding(y, weights[-1].shape[1])) / n
    scales = {}
    for layer in range(len(weights), 0, -1):
        W = weights[layer - 1]
        scales[f"d_w{layer}"] = activation_scales[layer - 1].T @ dZ_scale + c / n * np.abs(W)
        scales[f"d_b{layer}"] = dZ_scale.sum(axis=0).reshape(np.shape(params[f"b{layer}"]))
        if layer > 1:
            dZ_scale = (dZ_scale @ np.abs(W).T) * masks[layer - 2]
    return scales


def make_problem(n, d, h, k, dtype=np.float64, seed=0, bias_shape="1d"):
    """Random data and parameters with the hand-in's initialisation scale.

    h is the hidden width, or a tuple of hidden widths for a deeper network.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    bias = (lambda m: rng.standard_normal(m) * 0.1) if bias_shape == "1d" else (
        lambda m: rng.standard_normal((1, m)) * 0.1)
    sizes = [d, *np.atleast_1d(h).tolist(), k]
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        gain = 2 if layer == 1 else 4
        params[f"W{layer}"] = rng.normal(0, np.sqrt(gain / (fan_in + fan_out)), (fan_in, fan_out)).astype(dtype)
        params[f"b{layer}"] = bias(fan_out).astype(dtype)
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
    assert list(comp_grads) == list(ref_grads)
    for key in ref_grads:
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
