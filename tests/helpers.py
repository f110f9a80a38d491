"""What the tests share: the one tolerance table, the comparisons built on it, subprocess runs.

Imported as ``helpers`` (pyproject puts tests/ on pytest's pythonpath). conftest.py keeps
only fixtures, hypothesis profiles and pytest hooks.
"""

import os
import subprocess
import sys

import numpy as np

from fastnn.benchmarks.inputs import make_problem  # noqa: F401  (the one seeded input generator)

# Tolerances of compiled fastnn against fastnn.reference, in one place.
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


def assert_same_loss(ref, comp, dtype):
    """Assert a compiled loss (comp) equals the reference's (ref): a sum of positive terms, rtol = RTOL."""
    np.testing.assert_allclose(comp, ref, rtol=RTOL[np.dtype(dtype)])


def assert_same_result(ref, comp, dtype, scale):
    """Assert compiled (comp) equals reference (ref) cost_grad results within RTOL of the dtype.

    scale is `error_scale` of the inputs: gradient entries may differ by RTOL * scale.
    """
    rtol = RTOL[np.dtype(dtype)]
    ref_cost, ref_grads = ref
    comp_cost, comp_grads = comp
    assert isinstance(comp_cost, float)
    assert_same_loss(ref_cost, comp_cost, dtype)
    assert list(comp_grads) == list(ref_grads)
    for key in ref_grads:
        r, c = ref_grads[key], comp_grads[key]
        assert c.dtype == r.dtype == np.dtype(dtype), key
        assert c.shape == r.shape, key
        excess = np.abs(c.astype(np.float64) - r) - rtol * scale[key]
        assert np.all(excess <= 0), (
            f"{key}: |comp - ref| exceeds {rtol:g} * scale by up to {excess.max():.3g} "
            f"at {np.unravel_index(np.argmax(excess), excess.shape)}")


def assert_identical(first, second):
    """Assert two cost_grad results (cost, grads) are bit-identical, dtypes and key order included."""
    assert first[0] == second[0]
    assert list(first[1]) == list(second[1])
    for key in first[1]:
        assert first[1][key].dtype == second[1][key].dtype, key
        np.testing.assert_array_equal(first[1][key], second[1][key], err_msg=key)


def assert_same_params(ref, comp, dtype):
    """Assert trained parameters (comp) equal the reference's (ref) within RTOL of the dtype.

    Rule: every entry of a parameter array P compares equal when
    |comp - ref| <= RTOL * (|ref| + max |ref of P|).
    A trained parameter is its start minus a sum of steps, each carrying its gradient's
    rounding (RTOL * `error_scale`, see `assert_same_result`) into the later batches
    through the products with P. Those errors scale with the magnitudes P's entries are
    multiplied by, not with the entry itself, so the largest entry of P stands in for
    the error scale, which is not known after training; |ref| covers large entries.
    Measured worst cases of |comp - ref| / (|ref| + max |ref|) (test_net's one epoch,
    every optimizer, depths 2 to 4, and three epochs): float32 2.0e-6 (Adam; 1.8e-7 for
    the others), float64 5.1e-16. Keys (in order), dtypes and shapes must match exactly.
    """
    rtol = RTOL[np.dtype(dtype)]
    assert list(comp) == list(ref)
    for key in ref:
        r, c = np.asarray(ref[key]), np.asarray(comp[key])
        assert c.dtype == r.dtype == np.dtype(dtype), (key, c.dtype, r.dtype)
        assert c.shape == r.shape, (key, c.shape, r.shape)
        r64 = r.astype(np.float64)
        excess = np.abs(c.astype(np.float64) - r64) - rtol * (np.abs(r64) + np.abs(r64).max())
        assert np.all(excess <= 0), (
            f"{key}: |comp - ref| exceeds {rtol:g} * (|ref| + max |ref|) by up to {excess.max():.3g} "
            f"at {np.unravel_index(np.argmax(excess), excess.shape)}")


def assert_same_step(ref, comp, dtype, lr, scale):
    """Assert parameters after one gradient step (comp) equal the reference's (ref).

    Rule: w - lr g carries lr times the gradient's error, RTOL * `error_scale` (see
    `assert_same_result`), plus the rounding of the subtraction: an entry compares
    equal when |comp - ref| <= RTOL * (|ref| + lr * scale of its gradient).
    """
    rtol = RTOL[np.dtype(dtype)]
    assert list(comp) == list(ref)
    for key in ref:
        r, c = np.asarray(ref[key], np.float64), np.asarray(comp[key])
        assert c.dtype == np.dtype(dtype) and c.shape == r.shape, (key, c.dtype, c.shape)
        bound = rtol * (np.abs(r) + lr * np.asarray(scale[f"d_{key[0].lower()}{key[1:]}"]).reshape(r.shape))
        excess = np.abs(c.astype(np.float64) - r) - bound
        assert np.all(excess <= 0), f"{key}: |comp - ref| exceeds the one-step bound by up to {excess.max():.3g}"


def run_python(*args, env=None, cwd=None, timeout=600):
    """Run ``python *args`` in a fresh process (this interpreter); returns the CompletedProcess.

    env holds variables to add to (or, with value None, remove from) this process's environment.
    """
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = str(value)
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=environment,
                          cwd=cwd, timeout=timeout)
