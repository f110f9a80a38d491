"""fastnn.MLPClassifier: scikit-learn's estimator checks, its ecosystem, and fastnn's training underneath."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnn import MLPClassifier, get_init_params, reference  # noqa: E402
from fastnn.datasets import load_digits, stratified_split  # noqa: E402
from helpers import assert_same_loss, assert_same_params, assert_same_step, error_scale, make_problem  # noqa: E402

# No check is expected to fail: an entry here would count against the estimator.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [MLPClassifier(), MLPClassifier(hidden_layer_sizes=(16, 8), solver="sgd", learning_rate_init=0.05,
                                    early_stopping=True, max_iter=50)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    train, test = stratified_split(y, (0.75, 0.25), seed=0)
    return X[train], y[train], X[test], y[test]


def test_two_hidden_layers_learn_the_digits(digits):
    X, y, X_test, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), random_state=0).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.97
    assert [W.shape for W in clf.coefs_] == [(64, 128), (128, 64), (64, 10)]
    assert [b.shape for b in clf.intercepts_] == [(128,), (64,), (10,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.n_features_in_ == 64
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_ == clf.loss_curve_[-1] == clf.best_loss_
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_one_full_batch_sgd_step_is_the_reference_gradient_step():
    X, y, _ = make_problem(40, 5, 7, 3, seed=1)
    labels = np.array(["cat", "dog", "emu"])[y]  # any label type; classes_ sorts them
    clf = MLPClassifier(hidden_layer_sizes=(7, 4), solver="sgd", momentum=0, batch_size=40, alpha=0.3,
                        learning_rate_init=0.1, max_iter=1, shuffle=False, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, labels)
    start = MLPClassifier(hidden_layer_sizes=(7, 4), random_state=0, max_iter=1)
    start._validate_hyperparameters()
    start.classes_ = clf.classes_
    start._initialise(5, np.dtype(np.float64))
    params = start._params()
    cost, grads = reference.cost_grad(X, y, params, 0.3)
    ref_params, _ = reference.optimizer_step(params, grads, 0.1, "sgd")
    ref_params = {key: value.ravel() if key.startswith("b") else value for key, value in ref_params.items()}
    comp_params = {}
    for layer, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True), 1):
        comp_params[f"W{layer}"], comp_params[f"b{layer}"] = W, b
    scale = error_scale(X, y, params, 0.3)
    assert_same_step(ref_params, comp_params, np.float64, 0.1, scale)
    # loss_curve_'s L2 term uses the weights after the step; its cross-entropy those before.
    squares = sum(np.sum(W**2) for W in clf.coefs_)
    cross_entropy = cost - 0.3 / 80 * sum(np.sum(params[f"W{layer}"] ** 2) for layer in (1, 2, 3))
    assert_same_loss(cross_entropy + 0.3 / 80 * squares, clf.loss_curve_[0], np.float64)


def test_partial_fit_epochs_equal_fit_epochs():
    X, y, _ = make_problem(150, 6, 10, 3, seed=2)
    settings = dict(hidden_layer_sizes=(10, 5), random_state=3, batch_size=32)
    with pytest.warns(ConvergenceWarning):
        fitted = MLPClassifier(max_iter=3, **settings).fit(X, y)
    streamed = MLPClassifier(**settings)
    with pytest.raises(ValueError, match="classes must be passed"):
        streamed.partial_fit(X, y)
    streamed.partial_fit(X, y, classes=[0, 1, 2])
    streamed.partial_fit(X, y)
    streamed.partial_fit(X, y, classes=[0, 1, 2])
    assert streamed.n_iter_ == fitted.n_iter_ == 3
    assert streamed.loss_curve_ == fitted.loss_curve_
    for a, b in zip(streamed.coefs_ + streamed.intercepts_, fitted.coefs_ + fitted.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not in classes_"):
        streamed.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="differs from the classes"):
        streamed.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_partial_fit_classes_may_be_absent_from_the_first_batch():
    X, y, _ = make_problem(60, 4, 6, 3, seed=5)
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    clf.partial_fit(X[y < 2], y[y < 2], classes=np.array([0, 1, 2]))
    clf.partial_fit(X, y)
    assert clf.predict_proba(X).shape == (60, 3)


def test_float32_trains_and_predicts_in_float32(digits):
    X, y, X_test, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32, 16), random_state=0, max_iter=5)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X.astype(np.float32), y)
    assert all(W.dtype == np.float32 for W in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X_test.astype(np.float32)).dtype == np.float32
    assert clf.predict_log_proba(X_test).dtype == np.float32  # the coefficients decide
    with pytest.warns(ConvergenceWarning):
        clf64 = clone(clf).fit(X, y)
    assert clf64.coefs_[0].dtype == np.float64


def test_predict_log_proba_is_stable_where_the_log_of_predict_proba_is_not():
    X, y, _ = make_problem(30, 3, 4, 2, seed=1)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X, y)
    clf.coefs_[-1] = clf.coefs_[-1] * 1e5  # saturate the softmax
    with np.errstate(divide="ignore"):
        naive = np.log(clf.predict_proba(X))
    stable = clf.predict_log_proba(X)
    assert np.isinf(naive).any() and np.all(np.isfinite(stable))
    finite = np.isfinite(naive)
    np.testing.assert_allclose(stable[finite], naive[finite], rtol=1e-9, atol=1e-12)


def test_early_stopping_keeps_the_best_epoch_and_records_validation_loss(digits):
    X, y, _, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, random_state=0, n_iter_no_change=3,
                        validation_fraction=0.2).fit(X, y)
    assert clf.n_iter_ < 200 and clf.best_loss_ is None
    assert len(clf.validation_scores_) == len(clf.history_["val_loss"]) == len(clf.history_["loss"]) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert all(np.isfinite(clf.history_["val_loss"]))
    # The held-out rows, drawn as fit draws them: the initialisation first, then the split.
    rng = np.random.default_rng(0)
    get_init_params(64, [32], 10, seed=rng)
    val = stratified_split(np.searchsorted(clf.classes_, y), (0.8, 0.2), seed=rng)[1]
    assert clf.score(X[val], y[val]) == clf.best_validation_score_  # the best epoch's coefficients


def test_warm_start_continues_and_cold_fit_restarts():
    X, y, _ = make_problem(100, 5, 8, 3, seed=4)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, warm_start=True, random_state=0).fit(X, y)
    first = [W.copy() for W in clf.coefs_]
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 8 and len(clf.loss_curve_) == 8
    with pytest.warns(ConvergenceWarning):
        clf.set_params(warm_start=False).fit(X, y)
    assert clf.n_iter_ == 4
    np.testing.assert_array_equal(clf.coefs_[0], first[0])


@pytest.mark.parametrize("settings, message", [
    (dict(solver="lbfgs"), "solver must be one of"),
    (dict(hidden_layer_sizes=()), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes=(5, 0)), "hidden_layer_sizes"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate="optimal"), "learning_rate must be one of"),
    (dict(learning_rate_init=0.0), "learning_rate_init must be > 0"),
    (dict(momentum=1.5), "momentum"),
    (dict(alpha=-1.0), "alpha"),
    (dict(max_iter=0), "max_iter"),
    (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction"),
])
def test_bad_hyperparameters_are_named(settings, message):
    X, y, _ = make_problem(20, 3, 4, 2)
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**settings).fit(X, y)


def test_divergence_warns_and_keeps_finite_coefficients():
    X, y, _ = make_problem(200, 5, 8, 3, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e12, momentum=0, random_state=0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        clf.fit(X * 1e3, y)
    assert all(np.all(np.isfinite(W)) for W in clf.coefs_ + clf.intercepts_)


def test_pipeline_cross_validation_grid_search_clone_and_pickle(digits):
    X, y, X_test, y_test = digits
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X, y, cv=3)
        assert scores.shape == (3,) and scores.min() > 0.88  # unshuffled folds of the digits are harder
        search = GridSearchCV(pipeline, {"mlpclassifier__alpha": [1e-4, 1e-2], "mlpclassifier__hidden_layer_sizes":
                                         [(16,), (32, 16)]}, cv=2, n_jobs=2).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.all(np.isfinite(scores))
    assert search.best_score_ == scores.max() and search.best_score_ > 0.9
    best = search.best_estimator_
    restored = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(restored.predict_proba(X_test), best.predict_proba(X_test))
    fresh = clone(best)
    assert not hasattr(fresh[-1], "coefs_") and fresh.get_params()["mlpclassifier__alpha"] == best[-1].alpha
