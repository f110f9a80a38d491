"""fastnn.MLPClassifier and MLPRegressor: scikit-learn's estimator checks, its ecosystem, and fastnn's training
underneath (scikit-learn's own test_mlp.py runs in tests/test_sklearn_acceptance.py)."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnn import MLPClassifier, MLPRegressor, _buffers, _inputs, reference  # noqa: E402
from fastnn.datasets import load_digits, stratified_split  # noqa: E402
from helpers import RTOL, assert_same_loss, assert_same_result, assert_same_step, error_scale, make_problem  # noqa: E402,E501

# No check is expected to fail: an entry here would count against the estimator.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor(), MLPClassifier(solver="lbfgs", activation="tanh", max_iter=50),
     MLPRegressor(hidden_layer_sizes=(16, 8), solver="sgd", activation="logistic", learning_rate_init=0.05)],
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


def glorot_params(layer_units, activation, random_state):
    """scikit-learn's initialisation, drawn as its _init_coef draws it, as a params dict."""
    params = {}
    factor = 2.0 if activation == "logistic" else 6.0
    for layer, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:]), 1):
        bound = np.sqrt(factor / (fan_in + fan_out))
        params[f"W{layer}"] = random_state.uniform(-bound, bound, (fan_in, fan_out))
        params[f"b{layer}"] = random_state.uniform(-bound, bound, fan_out)
    return params


def test_one_full_batch_sgd_step_is_the_reference_gradient_step():
    X, y, _ = make_problem(40, 5, 7, 3, seed=1)
    labels = np.array(["cat", "dog", "emu"])[y]  # any label type; classes_ sorts them
    clf = MLPClassifier(hidden_layer_sizes=(7, 4), solver="sgd", momentum=0, batch_size=40, alpha=0.3,
                        learning_rate_init=0.1, max_iter=1, shuffle=False, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, labels)
    params = glorot_params([5, 7, 4, 3], "relu", np.random.RandomState(0))
    cost, grads = reference.cost_grad(X, y, params, 0.3)
    ref_params, _ = reference.optimizer_step(params, grads, 0.1, "sgd")
    ref_params = {key: value.ravel() if key.startswith("b") else value for key, value in ref_params.items()}
    comp_params = {}
    for layer, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True), 1):
        comp_params[f"W{layer}"], comp_params[f"b{layer}"] = W, b
    scale = error_scale(X, y, params, 0.3)
    assert_same_step(ref_params, comp_params, np.float64, 0.1, scale)
    # loss_curve_ is scikit-learn's: each batch's loss and L2 term with the weights before its step.
    assert_same_loss(cost, clf.loss_curve_[0], np.float64)


def test_partial_fit_epochs_equal_fit_epochs():
    X, y, _ = make_problem(150, 6, 10, 3, seed=2)
    settings = dict(hidden_layer_sizes=(10, 5), random_state=3, batch_size=32, shuffle=False)
    with pytest.warns(ConvergenceWarning):
        fitted = MLPClassifier(max_iter=3, **settings).fit(X, y)
    streamed = MLPClassifier(**settings)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        streamed.partial_fit(X, y)
    streamed.partial_fit(X, y, classes=[0, 1, 2])
    streamed.partial_fit(X, y)
    streamed.partial_fit(X, y, classes=[0, 1, 2])
    assert streamed.n_iter_ == 1 and fitted.n_iter_ == 3  # scikit-learn's: the epochs of the last call
    assert streamed.t_ == fitted.t_ == 450
    assert streamed.loss_curve_ == fitted.loss_curve_
    for a, b in zip(streamed.coefs_ + streamed.intercepts_, fitted.coefs_ + fitted.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        streamed.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
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
    assert clf.predict_log_proba(X_test).dtype == np.float64  # as NumPy's float64 X @ float32 W
    np.testing.assert_allclose(clf.predict_proba(X_test), clf.predict_proba(X_test.astype(np.float32)), rtol=1e-4)
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
    # The held-out rows, drawn as fit draws them: the initialisation first, then scikit-learn's split
    # (not stratified for more than two classes, as scikit-learn's).
    random_state = np.random.RandomState(0)
    glorot_params([64, 32, 10], "relu", random_state)
    val = train_test_split(np.arange(len(y)), random_state=random_state, test_size=0.2)[1]
    assert clf.score(X[val], y[val]) == clf.best_validation_score_  # the best epoch's coefficients


def test_warm_start_continues_and_cold_fit_restarts():
    X, y, _ = make_problem(100, 5, 8, 3, seed=4)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, warm_start=True, random_state=0).fit(X, y)
    first = [W.copy() for W in clf.coefs_]
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 8 and clf.t_ == 800
    assert not np.array_equal(clf.coefs_[0], first[0])
    with pytest.warns(ConvergenceWarning):
        clf.set_params(warm_start=False).fit(X, y)
    assert clf.n_iter_ == 4
    np.testing.assert_array_equal(clf.coefs_[0], first[0])


@pytest.mark.parametrize("settings, message", [
    (dict(solver="newton"), "The 'solver' parameter of MLPClassifier must be a str among"),
    (dict(hidden_layer_sizes=(5, 0)), r"hidden_layer_sizes must be > 0, got \[5, 0\]"),
    (dict(batch_size=0), "The 'batch_size' parameter"),
    (dict(learning_rate="optimal"), "The 'learning_rate' parameter"),
    (dict(learning_rate_init=0.0), "The 'learning_rate_init' parameter"),
    (dict(momentum=1.5), "The 'momentum' parameter"),
    (dict(alpha=-1.0), "The 'alpha' parameter"),
    (dict(max_iter=0), "The 'max_iter' parameter"),
    (dict(shuffle="yes"), "The 'shuffle' parameter of MLPClassifier must be an instance of 'bool'"),
    (dict(warm_start=2), "The 'warm_start' parameter"),
    (dict(n_iter_no_change=0.5), "The 'n_iter_no_change' parameter"),
])
def test_bad_hyperparameters_are_named(settings, message):
    X, y, _ = make_problem(20, 3, 4, 2)
    with pytest.raises(ValueError, match=message):  # InvalidParameterError is a ValueError (and a TypeError)
        MLPClassifier(**settings).fit(X, y)


def test_divergence_without_early_stopping_raises_and_keeps_finite_coefficients():
    X, y, _ = make_problem(200, 5, 8, 3, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e12, momentum=0, random_state=0)
    with pytest.warns(RuntimeWarning, match="diverged"), pytest.raises(ValueError, match="non-finite parameter"):
        clf.fit(X * 1e3, y)
    assert all(np.all(np.isfinite(W)) for W in clf.coefs_ + clf.intercepts_)


def test_divergence_with_early_stopping_keeps_the_best_epoch():
    X, y, _ = make_problem(200, 5, 8, 3, seed=0)
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1.0, activation="identity",
                       early_stopping=True, random_state=0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        reg.fit(X * 1e3, y.astype(float) * 1e3)
    assert np.isnan(reg.validation_scores_[-1]) and len(reg.validation_scores_) == reg.n_iter_
    assert all(np.all(np.isfinite(W)) for W in reg.coefs_ + reg.intercepts_)


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


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_binary_problems_have_one_logistic_output_as_scikit_learn():
    X, y, _ = make_problem(60, 4, 6, 2, seed=7)
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0).fit(X, np.array(["no", "yes"])[y])
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1 and clf.coefs_[-1].shape == (6, 1)
    proba = clf.predict_proba(X)
    z = clf._logits(X)[:, 0]
    np.testing.assert_allclose(proba, np.column_stack([1 / (1 + np.exp(z)), 1 / (1 + np.exp(-z))]), rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.where(z > 0, "yes", "no"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_targets_train_one_logistic_output_per_label():
    X, Y, _ = make_problem(80, 5, 6, 4, seed=8)
    Y = np.column_stack([Y == 0, Y == 1, Y >= 2]).astype(int)
    Y[::3, 0] = 1  # rows with two labels
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(X).shape == (80, 3) and clf.score(X, Y) > 0.9
    np.testing.assert_array_equal(clf.predict(X), (clf.predict_proba(X) > 0.5).astype(int))


def test_lbfgs_follows_scipy_on_the_reference_cost():
    """fastnn's L-BFGS is scipy's on the compiled cost_grad: the same iterates as scipy on the reference's."""
    import scipy.optimize

    X, y, _ = make_problem(50, 4, 6, 3, seed=9)
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", alpha=0.1, max_iter=15, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf.fit(X, y)
    params = glorot_params([4, 6, 3], "relu", np.random.RandomState(0))
    keys = ("W1", "W2", "b1", "b2")  # scikit-learn's packing: the weights, then the biases

    def loss_and_gradient(flat):
        sizes = np.cumsum([params[key].size for key in keys])[:-1]
        unpacked = {key: part.reshape(params[key].shape) for key, part in zip(keys, np.split(flat, sizes))}
        cost, grads = reference.cost_grad(X, y, unpacked, 0.1)
        return cost, np.concatenate([grads[f"d_{key[0].lower()}{key[1:]}"].ravel() for key in keys])

    result = scipy.optimize.minimize(loss_and_gradient, np.concatenate([params[key].ravel() for key in keys]),
                                     method="L-BFGS-B", jac=True, options={"maxiter": 15, "gtol": 1e-4})
    assert clf.n_iter_ == result.nit == 15 and not hasattr(clf, "loss_curve_")
    np.testing.assert_allclose(clf.loss_, result.fun, rtol=1e-9)
    np.testing.assert_allclose(clf.coefs_[0].ravel(), result.x[:24], rtol=1e-6, atol=1e-9)


def test_the_flat_gradient_buffer_holds_the_gradients_cost_grad_returns():
    from fastnn import _engine
    from fastnn.params import to_layers

    X, y, params = make_problem(33, 5, 7, 3, seed=10)
    weights, biases = to_layers(params)
    flat = np.empty(_buffers.n_parameters(weights, biases))
    _, cost, d_W, d_b = _engine.cost_grad(X, y, weights, biases, 0.2)
    _, cost_flat, d_W_flat, d_b_flat = _engine.cost_grad(X, y, weights, biases, 0.2, gradient=flat)
    assert cost_flat == cost
    np.testing.assert_array_equal(flat, np.concatenate([a.ravel() for a in (*d_W, *d_b)]))
    assert all(np.shares_memory(view, flat) for view in (*d_W_flat, *d_b_flat))
    with pytest.raises(ValueError, match="the flat gradient"):
        _engine.cost_grad(X, y, weights, biases, 0.2, gradient=flat[1:])


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_integer_sample_weights_equal_repeated_rows(solver):
    X, y, _ = make_problem(40, 4, 5, 3, seed=11)
    weights = np.arange(40) % 3  # 0, 1 and 2
    settings = dict(hidden_layer_sizes=(5,), solver=solver, random_state=0, max_iter=20, shuffle=False,
                    batch_size=200, momentum=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**settings).fit(X, y, sample_weight=weights)
        repeated = MLPClassifier(**settings).fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss, output", [("squared_error", "identity"), ("poisson", "exp")])
def test_the_regressor_learns_single_and_multiple_outputs(loss, output):
    rng = np.random.default_rng(12)
    X = rng.uniform(-1, 1, (300, 3))
    Y = np.column_stack([np.exp(X[:, 0] + 0.5 * X[:, 1]), np.exp(np.sin(2 * X[:, 2]))])
    for targets in (Y[:, 0], Y):
        reg = MLPRegressor(loss=loss, hidden_layer_sizes=(20,), solver="lbfgs", random_state=0, max_iter=500)
        reg.fit(X, targets)
        assert reg.out_activation_ == output and reg.predict(X).shape == targets.shape
        assert reg.score(X, targets) > 0.95


@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
def test_to_and_from_scikit_learn_keep_the_predictions(kind):
    import sklearn.neural_network

    X, y, _ = make_problem(90, 5, 7, 3, seed=13)
    fastnn_class = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastnn_class(hidden_layer_sizes=(7, 5), activation="tanh", max_iter=20, random_state=0).fit(X, y)
    exported = model.to_sklearn()
    assert type(exported) is getattr(sklearn.neural_network, kind)
    np.testing.assert_allclose(exported.predict(X), model.predict(X), rtol=1e-12)
    if kind == "MLPClassifier":
        np.testing.assert_allclose(exported.predict_proba(X), model.predict_proba(X), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exported.partial_fit(X, y)  # scikit-learn trains on from fastnn's state
    imported = fastnn_class.from_sklearn(exported)
    np.testing.assert_allclose(imported.predict(X), exported.predict(X), rtol=1e-12)
    imported.partial_fit(X, y)
    with pytest.raises(TypeError, match="from_sklearn takes a sklearn.neural_network"):
        fastnn_class.from_sklearn(model)


def sparse_problem(n_samples, n_features, density, seed):
    """A random CSR matrix with about density * n_features nonzeros per row (some rows empty), and labels."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    per_row = rng.binomial(n_features, density, n_samples)
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    X = scipy.sparse.csr_matrix((rng.random(indptr[-1]), rng.integers(0, n_features, indptr[-1]), indptr),
                                shape=(n_samples, n_features))
    X.sum_duplicates()
    return X, rng.integers(0, 3, n_samples)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_sparse_cost_grad_equals_the_dense_one(dtype, activation):
    import scipy.sparse

    from fastnn import _engine
    from fastnn.params import to_layers

    X, y, params = make_problem(70, 9, (6, 5), 3, dtype, seed=14)
    X[X < 0.2] = 0  # exact zeros, and rows without nonzeros
    X[::7] = 0
    weights, biases = to_layers(params)
    scale = error_scale(X, y, params, 0.3, activation=activation)

    def named(result):  # cost_grad's (cost, grads) from the engine's (status, cost, d_W, d_b)
        status, cost, d_W, d_b = result
        assert status == _engine.OK
        grads = {}
        for layer, (d_w, d_bias) in enumerate(zip(d_W, d_b, strict=True), 1):
            grads[f"d_w{layer}"], grads[f"d_b{layer}"] = d_w, d_bias.reshape(scale[f"d_b{layer}"].shape)
        return float(cost), grads

    dense = named(_engine.cost_grad(X, y, weights, biases, 0.3, activation=activation))
    for matrix in (scipy.sparse.csr_matrix(X), scipy.sparse.csc_array(X)):
        for parallel in (False, True):
            sparse = named(_engine.cost_grad(_inputs.as_input(matrix, dtype), y, weights, biases, 0.3, parallel,
                                             activation=activation))
            assert_same_result(dense, sparse, dtype, scale)
    _, logits = _engine.logits(_inputs.as_input(scipy.sparse.csr_matrix(X), dtype), weights, biases, activation)
    np.testing.assert_allclose(logits, _engine.logits(X, weights, biases, activation)[1], rtol=RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_sparse_training_follows_dense_training(solver):
    import scipy.sparse

    X, y = sparse_problem(200, 50, 0.1, seed=15)
    settings = dict(hidden_layer_sizes=(8, 6), solver=solver, random_state=0, max_iter=10, batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**settings).fit(X.toarray(), y)
        sparse = MLPClassifier(**settings).fit(X, y, sample_weight=np.ones(200))
        columns = MLPRegressor(**settings).fit(scipy.sparse.csc_matrix(X), y.astype(float))
    for a, b in zip(dense.coefs_ + dense.intercepts_, sparse.coefs_ + sparse.intercepts_, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))
    assert columns.predict(X).shape == (200,)


def test_a_wide_sparse_matrix_is_never_densified():
    """200,000 features: a dense copy of X would take 1.6 GB, one dense batch 320 MB."""
    import tracemalloc

    X, y = sparse_problem(1000, 200_000, 5e-5, seed=16)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    clf.partial_fit(X[:10], y[:10], classes=[0, 1, 2]).predict_proba(X[:10])  # compiled before the measurement
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
            clf.predict_proba(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # W1 (200,000 x 4 float64: 6.4 MB), its gradient, Adam's two moments, the initial draw
    assert peak < 80e6


@pytest.mark.parametrize("corruption, message", [
    (lambda X: X.indices.__setitem__(0, 50), "column indices outside"),
    (lambda X: X.indptr.__setitem__(-1, X.nnz - 1), "indptr"),
])
def test_a_sparse_matrix_with_a_broken_structure_is_refused(corruption, message):
    X, y = sparse_problem(30, 50, 0.2, seed=17)
    corruption(X)
    with pytest.raises(ValueError, match=message):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, y)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_no_hidden_layers_follows_scikit_learns_mlp(sparse):
    """hidden_layer_sizes=(): one layer, softmax or logistic (a logistic regression), L-BFGS as scikit-learn's."""
    import scipy.sparse
    from sklearn.neural_network import MLPClassifier as ScikitLearnMLP

    X, y = load_digits()
    X = X[:400]
    for labels in (y[:400], y[:400] == 3):
        settings = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=1.0, tol=1e-10, max_iter=2000, random_state=0)
        ours = MLPClassifier(**settings).fit(scipy.sparse.csr_matrix(X) if sparse else X, labels)
        theirs = ScikitLearnMLP(**settings).fit(X, labels)
        assert ours.n_layers_ == theirs.n_layers_ == 2 and ours.coefs_[0].shape == theirs.coefs_[0].shape
        assert ours.n_iter_ == theirs.n_iter_  # the same iterates, from the same initial coefficients
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-10)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-7)


def test_no_hidden_layers_trains_with_every_solver_and_saves(tmp_path):
    import fastnn

    X, y, _ = make_problem(120, 6, 4, 3, seed=18)
    for solver in ("sgd", "adam"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = MLPClassifier(hidden_layer_sizes=(), solver=solver, learning_rate_init=0.05, random_state=0)
            clf.fit(X, y)
        assert clf.score(X, y) > 0.5 and len(clf.loss_curve_) == clf.n_iter_
        fastnn.save(tmp_path / "linear.npz", clf)
        np.testing.assert_array_equal(fastnn.load(tmp_path / "linear.npz").predict_proba(X), clf.predict_proba(X))
    reg = MLPRegressor(hidden_layer_sizes=(), solver="lbfgs").fit(X, X @ np.arange(6.0) + 1)
    assert reg.score(X, X @ np.arange(6.0) + 1) > 0.999


def test_a_warm_started_refit_of_a_stopped_model_runs_one_epoch():
    """scikit-learn keeps the no-improvement count across warm starts: a stopped model stops again at once."""
    X, y, _ = make_problem(100, 5, 6, 3, seed=19)
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver="sgd", tol=10.0, n_iter_no_change=2, warm_start=True,
                        random_state=0).fit(X, y)
    assert clf.n_iter_ == 4 and clf._no_improvement_count == 3  # the first epoch, then 3 > 2 without progress
    clf.fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 5 and clf._no_improvement_count == 4


def test_a_loaded_model_exports_to_scikit_learn(tmp_path):
    import fastnn

    X, y, _ = make_problem(60, 4, 5, 3, seed=20)
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, np.array(["a", "b", "c"])[y])
    fastnn.save(tmp_path / "m.npz", clf)
    exported = fastnn.load(tmp_path / "m.npz").to_sklearn()
    np.testing.assert_array_equal(exported.predict(X), clf.predict(X))
    assert not np.shares_memory(exported.coefs_[0], clf.coefs_[0])


@pytest.mark.parametrize("weights, message", [(np.zeros(30), "at least one non-zero"),
                                              (-np.ones(30), "Negative values"),
                                              (np.r_[np.ones(29), np.nan], "NaN")])
def test_bad_sample_weights_are_refused_by_every_solver(weights, message):
    X, y, _ = make_problem(30, 4, 3, 3, seed=21)
    for solver in ("lbfgs", "sgd"):
        with pytest.raises(ValueError, match=message):
            MLPClassifier(hidden_layer_sizes=(3,), solver=solver, max_iter=2).fit(X, y, sample_weight=weights)


def test_a_float32_lbfgs_fit_whose_gradients_overflow_keeps_finite_coefficients():
    """Gradients that overflow in float32 are non-finite for L-BFGS's line search, never a step: the fit
    ends with finite coefficients (and scikit-learn's error), so the model can still be saved."""
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((40, 3)) * 1e10).astype(np.float32)
    y = np.full(40, 1e30, np.float32)
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            reg.fit(X, y)
    assert all(np.all(np.isfinite(W)) for W in reg.coefs_ + reg.intercepts_)


def test_depth_is_bounded_before_anything_compiles():
    """Each depth compiles its own kernels (100 layers took minutes): deeper than MAX_LAYERS is refused at once."""
    import fastnn
    from fastnn.params import MAX_LAYERS

    X, y, _ = make_problem(20, 3, 4, 2, seed=20)
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        MLPClassifier(hidden_layer_sizes=(2,) * MAX_LAYERS).fit(X, y)
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        fastnn.get_init_params(3, [2] * MAX_LAYERS, 2)
    params = fastnn.get_init_params(3, [2] * (MAX_LAYERS - 1), 2, seed=0)  # the deepest accepted
    assert len(params) == 2 * MAX_LAYERS
