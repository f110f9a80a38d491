"""Every hidden activation and every output (with its loss) of scikit-learn's MLPs, with and
without sample weights: the compiled path against the reference, the reference against
the math, training, and bad input.

The fast tier covers each activation and each output (every kernel), the slow tier every
combination: each new combination compiles its own kernels (3 to 5 s per dtype and depth).
"""

import itertools

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_reference import numerical_gradient

import fastnn
from fastnn import _engine, reference, training
from fastnn._config import ROW_BLOCK
from fastnn.optim import Optimizer
from helpers import (
    assert_as_accurate,
    assert_identical,
    assert_same_params,
    assert_same_result,
    error_scale,
    make_problem,
)

DTYPES = [np.float32, np.float64]
ACTIVATIONS = ["relu", "tanh", "logistic", "identity"]
OUTPUTS = ["softmax", "logistic", "identity", "exp"]
ALL = list(itertools.product(ACTIVATIONS, OUTPUTS))
# Each activation once and each output once: every kernel, in few compilations.
FAST = [("relu", "softmax"), ("tanh", "logistic"), ("logistic", "identity"), ("identity", "exp")]
# Each pair's tests in one pytest-xdist worker (CI runs `-n 2 --dist loadgroup`): a pair
# compiles in one process, not in both.
_GROUP = {pair: pytest.mark.xdist_group(f"{pair[0]}-{pair[1]}") for pair in ALL}
COMBINATIONS = [pytest.param(*pair, marks=[_GROUP[pair]] + ([] if pair in FAST else [pytest.mark.slow]))
                for pair in ALL]
DEPTHS = {"depth1": (), "depth2": 7, "depth3": (9, 5), "depth4": (6, 8, 4)}
# Each depth and dtype is a compilation of its own (the layers reach the kernels as
# tuples): the fast tier takes the FAST pairs at depth 2 in both dtypes and at depths 1
# (no hidden layer) and 3 in float64; the slow tier every pair at every depth in both dtypes.
NETWORKS = [
    pytest.param(activation, output, dtype, DEPTHS[depth], id=f"{activation}-{output}-{dtype.__name__}-{depth}",
                 marks=[_GROUP[activation, output]] + (
                     [] if (activation, output) in FAST and (depth == "depth2" or depth in ("depth1", "depth3")
                                                             and dtype == np.float64) else [pytest.mark.slow]))
    for activation, output in ALL for dtype in DTYPES for depth in DEPTHS]


def targets(output, n, k, rng):
    """Targets an output takes: labels, 0/1 indicators, real values, counts."""
    if output == "softmax":
        return rng.integers(0, k, n)
    if output == "logistic":
        return rng.integers(0, 2, (n, k)).astype(np.float64)
    if output == "identity":
        return rng.standard_normal((n, k))
    return rng.poisson(1.5, (n, k)).astype(np.float64)


def problem(n, d, h, k, dtype, output, weighted, seed):
    X, _, params = make_problem(n, d, h, k, dtype, seed)
    if output == "exp":  # counts of a few: outputs exp(z) near 1 to start with, not exp(15)
        last = f"W{len(params) // 2}"
        params[last] = (params[last] * 0.1).astype(dtype)
    rng = np.random.default_rng(seed + 1)
    y = targets(output, n, k, rng)
    # Weights with zeros and a wide range, as a user's might be.
    weights = rng.choice([0.0, 0.3, 1.0, 2.5], n) if weighted else None
    if weighted:
        weights[0] = 1.0  # never all zero
    return X, y, params, weights


def check_equal(X, y, params, c, dtype, activation, output, weights):
    kwargs = dict(activation=activation, output=output, sample_weight=weights)
    ref_ = reference.cost_grad(X, y, params, c, **kwargs)
    comp = fastnn.cost_grad(X, y, params, c, **kwargs)
    assert_same_result(ref_, comp, dtype, error_scale(X, y, params, c, **kwargs))


@pytest.mark.parametrize("activation, output, dtype, hidden", NETWORKS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n, k", [(1, 1), (ROW_BLOCK + 3, 3), (2 * ROW_BLOCK, 1)])
def test_compiled_equals_reference(activation, output, dtype, hidden, weighted, n, k):
    if output == "softmax" and k == 1:
        k = 2  # one class is not a classification
    X, y, params, weights = problem(n, 6, hidden, k, dtype, output, weighted, seed=n + k)
    check_equal(X, y, params, 0.3, dtype, activation, output, weights)


@pytest.mark.parametrize("activation, output", COMBINATIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("hidden", [5, (5, 4)], ids=["depth2", "depth3"])
def test_reference_gradient_matches_finite_differences(activation, output, weighted, hidden):
    X, y, params, weights = problem(7, 3, hidden, 2, np.float64, output, weighted, seed=11)
    kwargs = dict(activation=activation, output=output, sample_weight=weights)
    _, grads = reference.cost_grad(X, y, params, 0.4, **kwargs)
    for key in params:
        numeric = numerical_gradient(lambda: reference.cost_grad(X, y, params, 0.4, **kwargs)[0], params[key])
        np.testing.assert_allclose(grads["d_" + key.lower()], numeric, rtol=1e-6, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("output", OUTPUTS)
def test_losses_are_scikit_learns(output):
    """The reference's loss is scikit-learn's, computed from the output as scikit-learn computes it."""
    from sklearn.neural_network._base import LOSS_FUNCTIONS

    rng = np.random.default_rng(5)
    Z, k = rng.standard_normal((40, 3)), 3
    y = targets(output, 40, k, rng)
    weights = rng.random(40)
    name = {"softmax": "log_loss", "logistic": "binary_log_loss", "identity": "squared_error",
            "exp": "poisson"}[output]
    truth = reference.one_in_k_encoding(y, k) if output == "softmax" else y
    expected = LOSS_FUNCTIONS[name](truth, reference.output_value(Z, output), weights)
    ours = np.average(reference.output_loss(Z, y, output), weights=weights)
    assert ours == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("activation, output", COMBINATIONS)
def test_unit_weights_and_explicit_defaults_give_the_same_bits(activation, output):
    X, y, params, _ = problem(150, 5, 7, 3, np.float32, output, False, seed=2)
    kwargs = dict(activation=activation, output=output)
    unweighted = fastnn.cost_grad(X, y, params, 0.2, **kwargs)
    assert_identical(fastnn.cost_grad(X, y, params, 0.2, sample_weight=np.ones(150), **kwargs), unweighted)
    if (activation, output) == ("relu", "softmax"):
        assert_identical(fastnn.cost_grad(X, y, params, 0.2), unweighted)


@pytest.mark.parametrize("activation, output", COMBINATIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bit_identical_serially_and_on_any_number_of_threads(activation, output, weighted):
    X, y, params, weights = problem(5 * ROW_BLOCK + 7, 10, (9, 5), 3, np.float64, output, weighted, seed=4)
    X, y_checked, weights, (W, b), _ = fastnn._validation.check_cost_grad_args(
        X, y, params, 0.2, activation=activation, output=output, sample_weight=weights)
    results = []
    for parallel, threads in ((False, 1), (True, 1), (True, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        try:
            results.append(_engine.cost_grad(X, y_checked, W, b, 0.2, parallel=parallel, activation=activation,
                                             output=output, sample_weight=weights))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for status, cost, d_W, d_b in results[1:]:
        assert status == results[0][0] == _engine.OK
        assert cost == results[0][1]
        for first, other in zip([*results[0][2], *results[0][3]], [*d_W, *d_b], strict=True):
            np.testing.assert_array_equal(first, other)


@given(
    pair=st.sampled_from(FAST), n=st.integers(1, 140), d=st.integers(1, 8),
    h=st.lists(st.integers(1, 12), min_size=1, max_size=2), k=st.integers(1, 5),
    c=st.sampled_from([0.0, 1e-3, 2.0]), scale=st.sampled_from([1e-3, 1.0, 10.0]),
    dtype=st.sampled_from(DTYPES), weighted=st.booleans(), seed=st.integers(0, 2**16),
)
def test_property_compiled_equals_reference(pair, n, d, h, k, c, scale, dtype, weighted, seed):
    activation, output = pair
    k = max(k, 2) if output == "softmax" else k
    X, y, params, weights = problem(n, d, h, k, dtype, output, weighted, seed)
    X = (X * scale).astype(dtype)
    kwargs = dict(activation=activation, output=output, sample_weight=weights)
    try:
        reference.cost_grad(X, y, params, c, **kwargs)
    except FloatingPointError:  # exp(z) overflowed: the compiled path must say so too
        with pytest.raises(FloatingPointError):
            fastnn.cost_grad(X, y, params, c, **kwargs)
        return
    check_equal(X, y, params, c, dtype, activation, output, weights)


# ---------------------------------------------------------------- stability


@pytest.fixture(scope="module")
def elementary():
    """fast_tanh, fast_logistic and fast_exp over an array, through a small kernel."""
    from numba import njit

    from fastnn._kernels.elementary import fast_exp, fast_logistic, fast_tanh

    @njit
    def apply(x, which):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = fast_tanh(x[i]) if which == 0 else fast_logistic(x[i]) if which == 1 else fast_exp(x[i])
        return out

    return lambda x, name: apply(x, ["tanh", "logistic", "exp"].index(name))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["tanh", "logistic", "exp"])
def test_vectorised_elementary_functions_are_within_3_ulp(elementary, dtype, name):
    limit = {np.float32: 85.0, np.float64: 700.0}[dtype] if name == "exp" else 40.0
    magnitudes = 10.0 ** np.arange(-30, np.log10(limit), 0.002)
    x = np.concatenate([np.linspace(-limit, limit, 200_001), magnitudes, -magnitudes]).astype(dtype)
    if name == "logistic":  # below these its value is not a normal number: it saturates there (next test)
        x = x[x > {np.float32: -87, np.float64: -708}[dtype]]
    x64 = x.astype(np.longdouble)
    truth = {"tanh": np.tanh, "exp": np.exp, "logistic": lambda v: 1 / (1 + np.exp(-v))}[name](x64)
    ulps = np.abs(elementary(x, name) - truth) / np.spacing(np.abs(truth).astype(dtype))
    assert ulps.max() <= 3, f"{ulps.max():.2f} ulp at x = {x[np.argmax(ulps)]}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorised_elementary_functions_saturate(elementary, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 1e4, -1e4, 0.0], dtype)
    np.testing.assert_array_equal(elementary(x, "tanh"), [np.nan, 1, -1, 1, -1, 0])
    # Exactly 0 where e^-x overflows, as NumPy's 1 / (1 + exp(-x)): its derivative is then 0 too.
    np.testing.assert_array_equal(elementary(x, "logistic"), [np.nan, 1, 0, 1, 0, 0.5])
    np.testing.assert_array_equal(elementary(x, "exp"), [np.nan, np.inf, 0, np.inf, 0, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_logistic_units_pass_no_gradient(dtype):
    """Units saturated at 0 or 1 have a derivative of exactly 0, so huge inputs multiply 0, not a tiny
    number (which X = 1e30 would turn into gradients of 1e20 where the reference's are 1e-6)."""
    rng = np.random.default_rng(7)
    X = (rng.standard_normal((12, 3)) * 1e30).astype(dtype)
    X[:, 2] = rng.standard_normal(12)  # one ordinary feature: some gradient to compare
    params = {"W1": rng.standard_normal((3, 4)).astype(dtype), "b1": np.zeros(4, dtype),
              "W2": rng.standard_normal((4, 3)).astype(dtype), "b2": np.zeros(3, dtype)}
    y = rng.integers(0, 3, 12)
    ref_ = reference.cost_grad(X, y, params, 0.1, activation="logistic")
    comp = fastnn.cost_grad(X, y, params, 0.1, activation="logistic")
    assert_same_result(ref_, comp, dtype, error_scale(X, y, params, 0.1, activation="logistic"))
    assert np.abs(comp[1]["d_w1"]).max() < 1e3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
def test_saturated_logistic_units_and_outputs_stay_finite(dtype, implementation):
    # Pre-activations of +-1e4: the sigmoid saturates to exactly 0 and 1, its derivative to 0.
    X = np.array([[1.0], [-1.0]], dtype)
    params = {"W1": np.array([[1e4]], dtype), "b1": np.zeros(1, dtype),
              "W2": np.array([[1.0, -1.0]], dtype) * dtype(1e4), "b2": np.zeros(2, dtype)}
    y = np.array([[0.0, 1.0], [1.0, 1.0]])
    for activation in ("logistic", "tanh"):
        cost, grads = implementation(X, y, params, activation=activation, output="logistic")
        assert np.isfinite(cost)
        assert all(np.all(np.isfinite(g)) for g in grads.values())
    # Row 0's unit is 1, its outputs z = (1e4, -1e4) against targets (0, 1): each loses
    # 1e4 (+ log(1 + e^-1e4), which is 0). Row 1's unit is 0, its z = (0, 0): 2 log 2.
    cost, _ = implementation(X, y, params, activation="logistic", output="logistic")
    assert cost == pytest.approx((2e4 + 2 * np.log(2)) / 2, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
def test_poisson_loss_in_log_space(dtype, implementation):
    # exp(-200) underflows to 0 in float32 (and its log would be -inf); in log space the
    # deviance y (log y - z) - y + exp(z) stays exact: 3 (log 3 + 200) - 3.
    X = np.ones((1, 1), dtype)
    params = {"W1": np.ones((1, 1), dtype), "b1": np.zeros(1, dtype),
              "W2": np.full((1, 1), -200, dtype), "b2": np.zeros(1, dtype)}
    cost, grads = implementation(X, np.array([3.0]), params, output="exp")
    assert cost == pytest.approx(3 * (np.log(3) + 200) - 3, rel=1e-6)
    assert grads["d_b2"][0] == pytest.approx(-3, rel=1e-6)  # exp(z) - y


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
def test_an_exp_output_that_overflows_raises(implementation):
    X = np.ones((1, 1))
    params = {"W1": np.ones((1, 1)), "b1": np.zeros(1), "W2": np.full((1, 1), 800.0), "b2": np.zeros(1)}
    with pytest.raises(FloatingPointError, match="overflowed"):
        implementation(X, np.array([1.0]), params, output="exp")


# ---------------------------------------------------------------- bad input


BAD_WEIGHTS = [
    (np.array([1.0, -1.0, 1.0]), ValueError, ">= 0"),
    (np.array([1.0, np.nan, 1.0]), ValueError, "NaN or inf"),
    (np.array([1.0, 1.0]), ValueError, r"shape \(3,\)"),
    (np.ones((3, 1)), ValueError, r"shape \(3,\)"),
    (np.zeros(3), ValueError, "0 for every row"),
    (np.array(["a", "b", "c"]), TypeError, "real numbers"),
]


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
@pytest.mark.parametrize("weights, error, message", BAD_WEIGHTS)
def test_bad_sample_weights_are_named(implementation, weights, error, message):
    X, y, params = make_problem(3, 2, 4, 3)
    with pytest.raises(error, match=message):
        implementation(X, y, params, sample_weight=weights)


BAD_TARGETS = [
    ("logistic", 3, np.array([[0, 1, 2]] * 3), "0/1 targets"),
    ("logistic", 1, np.array([0.5, 1, 0]), "0/1 targets"),
    ("logistic", 3, np.array([0, 1, 1]), r"shape \(n_samples, 3\)"),
    ("identity", 2, np.array([[0.0, np.nan]] * 3), "NaN or inf"),
    ("identity", 1, np.ones((3, 2)), r"shape \(n_samples,\) or \(n_samples, 1\)"),
    ("exp", 2, np.array([[1.0, -1.0]] * 3), ">= 0"),
    ("softmax", 3, np.array([0, 1, 3]), "outside"),
]


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
@pytest.mark.parametrize("output, k, y, message", BAD_TARGETS)
def test_bad_targets_are_named(implementation, output, k, y, message):
    X, _, params = make_problem(3, 2, 4, k)
    with pytest.raises(ValueError, match=message):
        implementation(X, y, params, output=output)


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
@pytest.mark.parametrize("name, value", [("activation", "softplus"), ("output", "sigmoid"), ("activation", None)])
def test_unknown_activation_or_output_is_named(implementation, name, value):
    X, y, params = make_problem(3, 2, 4, 3)
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        implementation(X, y, params, **{name: value})


@pytest.mark.parametrize("activation, output", FAST)
@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
def test_inputs_are_never_modified(implementation, activation, output):
    X, y, params, weights = problem(90, 4, 6, 2, np.float32, output, True, seed=9)
    copies = [X.copy(), y.copy(), weights.copy(), {key: value.copy() for key, value in params.items()}]
    implementation(X, y, params, 0.1, activation=activation, output=output, sample_weight=weights)
    for given_, copy in zip([X, y, weights], copies):
        np.testing.assert_array_equal(given_, copy)
    for key in params:
        np.testing.assert_array_equal(params[key], copies[3][key])


# ---------------------------------------------------------------- training


def _epochs(dtype, activation, output, optimizer, weighted):
    """One epoch by the reference loop and by the compiled Trainer: (reference, compiled, steps, losses)."""
    X, y, params, weights = problem(150, 5, (9, 5), 2, dtype, output, weighted, seed=6)
    order = np.random.default_rng(0).permutation(150)
    if weighted:
        weights[order[40:60]] = 0  # the third batch weighs 0: skipped by both
    kwargs = dict(activation=activation, output=output, sample_weight=weights)
    ref_params, _, ref_step, ref_loss, ref_penalty = reference.train_epoch(
        X, y, params, order, 20, 0.05, 0.1, optimizer, **kwargs)
    X_, y_, s_, (W, b), _ = fastnn._validation.check_cost_grad_args(X, y, params, 0.1, **kwargs)
    trainer = training.Trainer(W, b, Optimizer(optimizer), 0.1, activation=activation, output=output)
    status, loss, penalty = trainer.run_epoch(X_, y_, order.astype(np.int64), 20, 0.05, sample_weight=s_)
    assert status == _engine.OK
    return ref_params, trainer.params(), (ref_step, trainer.step), (ref_loss, loss), (ref_penalty, penalty)


@pytest.mark.parametrize("activation, output", COMBINATIONS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_one_epoch_equals_the_reference_loop(activation, output, optimizer, weighted):
    ref64, comp64, steps, losses, penalties = _epochs(np.float64, activation, output, optimizer, weighted)
    assert steps[0] == steps[1] == (7 if weighted else 8)
    assert losses[1] == pytest.approx(losses[0], rel=1e-12)
    assert penalties[0] > 0 and penalties[1] == pytest.approx(penalties[0], rel=1e-12)
    assert_same_params(ref64, comp64, np.float64)
    ref32, comp32, steps, losses, penalties = _epochs(np.float32, activation, output, optimizer, weighted)
    assert steps[0] == steps[1]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert penalties[1] == pytest.approx(penalties[0], rel=1e-5)
    assert_as_accurate(ref32, comp32, ref64, np.float32)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_net_classifier_trains_every_hidden_activation_with_sample_weights(activation, tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    # Class 3 weighted up 5 times: its recall rises against an unweighted fit.
    weights = np.where(y == 3, 5.0, 1.0)
    fits = {}
    for name, sample_weight in (("weighted", weights), ("plain", None)):
        net = fastnn.NetClassifier()
        net.fit(X, y, init_params=fastnn.get_init_params(64, 32, 10, seed=0), epochs=8, lr=0.3,
                activation=activation, sample_weight=sample_weight, seed=0)
        fits[name] = net
    net = fits["weighted"]
    assert net.activation == activation
    assert net.score(X, y) > 0.85
    recall = lambda model: np.mean(model.predict(X[y == 3]) == 3)
    assert recall(net) >= recall(fits["plain"])
    # The activation travels with a saved model.
    fastnn.save(tmp_path / "net.npz", net)
    loaded = fastnn.load(tmp_path / "net.npz")
    assert loaded.activation == activation
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
