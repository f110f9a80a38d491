"""fastnn's MLPClassifier and MLPRegressor fit scikit-learn's model: the same shuffles, stopping
rule, loss definitions and L2 term, so float64 input gives scikit-learn's fitted model up to
rounding.

The fast tier checks each rule on one case that fails without it; the slow tier fits
hundreds of seeded random configurations with both libraries (`differential`); the
documented differences that remain are tested at the end.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import sklearn.neural_network as sk  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastnn  # noqa: E402
from differential import compare, fit_both  # noqa: E402

# Agreement to rounding: float64 runs that agree stay below 2e-10 apart (see differential.py).
RTOL = 1e-9


def _fit_both(estimator, X, y, sample_weight=None, **params):
    fits = []
    for module in (fastnn, sk):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(getattr(module, estimator)(**params).fit(X, y, sample_weight=sample_weight))
    return fits


def _assert_same_model(ours, theirs, rtol=RTOL):
    assert ours.n_iter_ == theirs.n_iter_ and getattr(ours, "t_", None) == getattr(theirs, "t_", None)
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)
    for mine, expected in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=rtol * np.abs(expected).max())


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_each_epoch_shuffles_the_previous_epochs_order(iris):
    """scikit-learn permutes its running order each epoch, not arange(n): from epoch 2 on, the batches differ."""
    X, y = iris
    ours, theirs = _fit_both("MLPClassifier", X, y, hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=0.1,
                             batch_size=16, max_iter=3, random_state=0)
    _assert_same_model(ours, theirs)


def test_an_epoch_that_equals_the_best_score_is_progress_when_tol_is_0(iris):
    """scikit-learn's rule: score >= best + tol (loss <= best - tol) resets the no-improvement count."""
    X, y = iris
    ours, theirs = _fit_both("MLPClassifier", X, y, hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=1e-4,
                             early_stopping=True, tol=0.0, n_iter_no_change=3, random_state=0)
    assert theirs.n_iter_ > 3 + 2  # a repeated validation score counted as progress
    _assert_same_model(ours, theirs)
    assert ours.validation_scores_ == theirs.validation_scores_
    assert ours.best_validation_score_ == theirs.best_validation_score_


def test_the_lbfgs_objective_is_scikit_learns_clipped_log_loss():
    """Saturated predictions: scikit-learn's loss comes from probabilities clipped to [eps, 1 - eps], and
    L-BFGS's steps follow that objective."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    ours, theirs = _fit_both("MLPClassifier", X, y, hidden_layer_sizes=(34, 8, 27), solver="lbfgs", max_iter=10,
                             random_state=4)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=RTOL)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("output", ["softmax", "logistic"])
def test_the_clipped_loss_equals_the_reference_clipped_row_by_row(output):
    """The compiled cost with scikit-learn's loss range against the reference's losses, clipped the same way."""
    from fastnn import _engine, reference

    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 4)) * 30  # logits far apart: many rows saturate
    params = fastnn.get_init_params(4, 6, 3, seed=1)
    y = rng.integers(0, 3, 70) if output == "softmax" else (rng.random((70, 3)) < 0.5).astype(np.float64)
    low, high = _engine.clipped_loss_range(np.float64)
    Z = reference.logits(X, params)
    clipped = reference.output_loss(Z, y, output, loss_range=(low, high))
    exact = reference.output_loss(Z, y, output)
    assert np.any(clipped != exact)  # the case is one where clipping matters
    squares = params["W1"].ravel() @ params["W1"].ravel() + params["W2"].ravel() @ params["W2"].ravel()
    targets = y.astype(np.int64) if output == "softmax" else y
    weights, biases = fastnn.params.to_layers(params)
    status, cost, _, _ = _engine.cost_grad(X, targets, weights, biases, 0.1, output=output, loss_range=(low, high))
    assert status == _engine.OK
    np.testing.assert_allclose(cost, clipped.mean() + 0.1 / (2 * 70) * squares, rtol=1e-13)
    _, exact_cost, _, _ = _engine.cost_grad(X, targets, weights, biases, 0.1, output=output)
    np.testing.assert_allclose(exact_cost, exact.mean() + 0.1 / (2 * 70) * squares, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_the_l2_term_is_each_batchs_with_the_weights_before_its_update(iris, weighted):
    """scikit-learn adds alpha ||W||^2 / (2 * the batch's weight sum) per batch, before the batch's step."""
    X, y = iris
    sample_weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    ours, theirs = _fit_both("MLPClassifier", X, y, sample_weight, hidden_layer_sizes=(8,), solver="adam",
                             alpha=0.5, batch_size=32, max_iter=4, random_state=1)
    _assert_same_model(ours, theirs)
    ours, theirs = _fit_both("MLPRegressor", X, y.astype(float), sample_weight, hidden_layer_sizes=(8,),
                             solver="sgd", momentum=0, alpha=0.5, batch_size=32, max_iter=4, learning_rate_init=0.01,
                             random_state=1)
    _assert_same_model(ours, theirs)


# ---------------------------------------------------------------- random configurations (slow)

CHUNKS, PER_CHUNK = 8, 40  # 320 configurations


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_configurations_give_scikit_learns_model(chunk):
    """Every configuration: the same errors, warnings, epochs, curves, coefficients and predictions as
    scikit-learn's, within what rounding explains (`differential.compare`)."""
    failures = []
    for seed in range(chunk * PER_CHUNK, (chunk + 1) * PER_CHUNK):
        (kind, params), ours, theirs, perturbed = fit_both(seed)
        problems, _ = compare(ours, theirs, perturbed)
        if problems:
            failures.append(f"seed {seed} ({kind}, {params}): {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- the documented differences


def test_the_squared_errors_gradient_is_the_gradient_of_the_loss_reported():
    """With k outputs scikit-learn's gradient is k times the gradient of its loss: its plain SGD at lr is
    fastnn's at k * lr, with the same loss_curve_."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3))
    Y = X @ rng.standard_normal((3, 2))
    settings = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0, alpha=0.0, batch_size=10, max_iter=3,
                    random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fastnn.MLPRegressor(learning_rate_init=0.02, **settings).fit(X, Y)
        theirs = sk.MLPRegressor(learning_rate_init=0.01, **settings).fit(X, Y)
        ours_one = fastnn.MLPRegressor(learning_rate_init=0.01, **settings).fit(X, Y[:, 0])
        theirs_one = sk.MLPRegressor(learning_rate_init=0.01, **settings).fit(X, Y[:, 0])
    _assert_same_model(ours, theirs)
    _assert_same_model(ours_one, theirs_one)  # one output: no difference


def test_divergence_keeps_the_last_finite_coefficients():
    """scikit-learn ends with NaN coefficients; fastnn stops at the first non-finite epoch and keeps the last
    finite one, with scikit-learn's error."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3)) * 1e3
    y = X @ np.ones(3) * 1e3
    settings = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
            sk.MLPRegressor(**settings).fit(X, y)
    ours = fastnn.MLPRegressor(**settings)
    with pytest.warns(RuntimeWarning, match="diverged"):
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
            ours.fit(X, y)
    assert all(np.all(np.isfinite(W)) for W in ours.coefs_)


def test_negative_sample_weights_are_refused():
    """scikit-learn accepts them; a weighted mean with negative weights is not a loss, so fastnn refuses."""
    X, y = load_iris(return_X_y=True)
    weights = np.ones(len(y))
    weights[0] = -1.0
    sk.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        fastnn.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y, sample_weight=weights)
