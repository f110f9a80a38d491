"""What the tests share: the one tolerance table, the comparisons built on it, subprocess runs.

Imported as ``helpers`` (pyproject puts tests/ on pytest's pythonpath). conftest.py keeps
only fixtures, hypothesis profiles and pytest hooks.
"""

import os
import subprocess
import sys

import numba
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

# NUMBA_DISABLE_JIT=1 runs every kernel as plain Python (CI's coverage job): nothing compiles.
JIT_DISABLED = bool(numba.config.DISABLE_JIT)


def _layers(params):
    """(weights, 1-D biases) of params as float64 arrays, in layer order."""
    n_layers = len(params) // 2
    weights = [np.asarray(params[f"W{l}"], np.float64) for l in range(1, n_layers + 1)]
    biases = [np.asarray(params[f"b{l}"], np.float64).reshape(-1) for l in range(1, n_layers + 1)]
    return weights, biases


def error_scale(X, y, params, c=0.0, *, activation="relu", output="softmax", sample_weight=None):
    """Per-entry magnitude of the terms summed into each gradient, in float64.

    The gradient's formulas with every operand replaced by its absolute value (and
    softmax - onehot by softmax + onehot), so that rounding error is bounded by about
    eps * scale * (the number of terms). Any depth, activation, output and row weights.
    Where a factor is computed from a rounded value, its error is carried too: the
    derivatives of tanh and logistic (taken from the activation a, they move by about
    2 * the error of a), and the logistic, identity and exp outputs (activation(z)
    moves by activation'(z) * the error of z; exp amplifies it by exp(z)).
    """
    from fastnn import reference

    weights, biases = _layers(params)
    n, k = X.shape[0], weights[-1].shape[1]
    row_scale = (np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64))
    row_scale = row_scale / row_scale.sum()
    activations, activation_scales, derivatives = [np.asarray(X, np.float64)], [np.abs(np.asarray(X, np.float64))], []
    for W, b in zip(weights[:-1], biases[:-1]):
        Z = activations[-1] @ W + b
        Z_scale = activation_scales[-1] @ np.abs(W) + np.abs(b)
        A = reference.activate(Z, activation)
        if activation == "relu":
            derivative, own_rounding = (Z > 0).astype(np.float64), 0
        elif activation == "identity":
            derivative, own_rounding = np.ones_like(Z), 0
        else:
            derivative = np.abs(reference.backward_activation(np.ones_like(A), A, activation))
            own_rounding = np.abs(A)  # tanh and the logistic round their result
        activations.append(A)
        activation_scales.append(Z_scale * derivative + own_rounding)
        if activation in ("tanh", "logistic"):  # the backward derivative comes from the rounded activation
            derivative = derivative + 2 * activation_scales[-1]
        derivatives.append(derivative)
    Z = activations[-1] @ weights[-1] + biases[-1]
    if output == "softmax":
        probs = reference.softmax(Z)
        dZ_scale = (probs + reference.one_in_k_encoding(y, k)) * row_scale[:, None]
    else:
        value = reference.output_value(Z, output)
        sensitivity = {"logistic": value * (1 - value), "identity": np.ones_like(Z), "exp": value}[output]
        Z_scale = activation_scales[-1] @ np.abs(weights[-1]) + np.abs(biases[-1])
        T = np.asarray(y, np.float64).reshape(n, k)
        dZ_scale = (np.abs(value) + np.abs(T) + sensitivity * Z_scale) * row_scale[:, None]
        if output == "identity":
            dZ_scale /= k
    norm = n if sample_weight is None else float(np.sum(sample_weight))
    scales = {}
    for layer in range(len(weights), 0, -1):
        W = weights[layer - 1]
        scales[f"d_w{layer}"] = activation_scales[layer - 1].T @ dZ_scale + c / norm * np.abs(W)
        scales[f"d_b{layer}"] = dZ_scale.sum(axis=0).reshape(np.shape(params[f"b{layer}"]))
        if layer > 1:
            dZ_scale = (dZ_scale @ np.abs(W).T) * derivatives[layer - 2]
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


def assert_as_accurate(ref, comp, oracle, dtype):
    """Assert float32 parameters (comp) are as accurate as the float32 reference's (ref) against a float64 oracle.

    For runs where float32 rounding is amplified beyond `assert_same_params`' rule
    (Adam divides by the root of its second moment, so a gradient entry near 0 moves its
    weight by about lr whatever its rounding; an exp output multiplies the errors of its
    inputs by exp(z)): there the float32 reference itself is off, and whichever of two
    float32 runs is nearer the float64 run is the more accurate. Rule, per parameter P:
    max |comp - oracle| <= max(2 max |ref - oracle|, RTOL max |oracle|).
    """
    rtol = RTOL[np.dtype(dtype)]
    assert list(comp) == list(ref) == list(oracle)
    for key in oracle:
        truth = np.asarray(oracle[key], np.float64)
        assert np.asarray(comp[key]).dtype == np.dtype(dtype), key
        comp_error = np.abs(np.asarray(comp[key], np.float64) - truth).max()
        ref_error = np.abs(np.asarray(ref[key], np.float64) - truth).max()
        bound = max(2 * ref_error, rtol * np.abs(truth).max())
        assert comp_error <= bound, (f"{key}: compiled float32 is {comp_error:.3g} from float64, "
                                     f"reference {ref_error:.3g}")


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
