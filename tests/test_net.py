"""NetClassifier and the compiled training loop, against a Python loop over the reference."""

import numba
import numpy as np
import pytest

import fastnn
from fastnn import reference
from fastnn.datasets import load_digits, stratified_split
from fastnn.schedules import make_schedule
from helpers import assert_same_loss, assert_same_params, make_problem

DTYPES = [np.float32, np.float64]
KEYS = ("W1", "b1", "W2", "b2")
HYPER = dict(momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8)  # NetClassifier's defaults, passed to both


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("hidden", [17, (17, 6), (17, 6, 8)], ids=["depth2", "depth3", "depth4"])
def test_one_epoch_equals_the_reference_loop(dtype, optimizer, hidden):
    X, y, params = make_problem(203, 9, hidden, 4, dtype, seed=1)  # 203 = 6 batches of 32 and one of 11
    lr = 0.1 if optimizer != "adam" else 0.01
    seed = 5
    clf = fastnn.NetClassifier()
    clf.fit(X, y, None, None, params, batch_size=32, lr=lr, c=0.3, epochs=1, seed=seed, optimizer=optimizer, **HYPER)
    order = np.random.default_rng(seed).permutation(len(X))
    ref_params, _, _, _, _ = reference.train_epoch(X, y, params, order, 32, lr, 0.3, optimizer, **HYPER)
    assert_same_params(ref_params, clf.params, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_epochs_without_shuffle_equal_the_reference_loop(dtype):
    X, y, params = make_problem(100, 6, 10, 3, dtype, seed=2)
    clf = fastnn.NetClassifier()
    clf.fit(X, y, None, None, params, batch_size=16, lr=0.2, c=1e-2, epochs=3, shuffle=False)
    ref_params, state, step = params, None, 0
    for _ in range(3):  # each epoch starts where the last one ended
        ref_params, state, step, _, _ = reference.train_epoch(X, y, ref_params, np.arange(100), 16, 0.2, 1e-2,
                                                           state=state, step=step)
    assert step == 3 * 7
    assert_same_params(ref_params, clf.params, dtype)


def _fit(threads, dtype, seed=3):
    X, y, params = make_problem(300, 12, 20, 5, dtype, seed=0)
    numba.set_num_threads(threads)
    try:
        clf = fastnn.NetClassifier()
        hist = clf.fit(X[:200], y[:200], X[200:], y[200:], params, batch_size=20, epochs=4, seed=seed,
                       optimizer="adam", lr=0.01)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return clf.params, hist


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_same_bits_with_one_thread_and_all(dtype):
    params_1, hist_1 = _fit(1, dtype)
    params_all, hist_all = _fit(numba.config.NUMBA_NUM_THREADS, dtype)
    for key in KEYS:
        np.testing.assert_array_equal(params_1[key], params_all[key])
    for key in hist_1:
        np.testing.assert_array_equal(hist_1[key], hist_all[key])
    other, _ = _fit(1, dtype, seed=4)
    assert not np.array_equal(other["W1"], params_1["W1"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_digits_reach_097_test_accuracy(dtype):
    # The hand-in's set-up: stratified 75/25 split, batch 32, lr 0.1, c 1e-4, 30 epochs.
    X, y = load_digits(dtype)
    train, test = stratified_split(y, (0.75, 0.25), seed=0)
    params = fastnn.get_init_params(64, 256, 10, seed=0, dtype=dtype)
    clf = fastnn.NetClassifier()
    hist = clf.fit(X[train], y[train], X[test], y[test], params, batch_size=32, lr=0.1, c=1e-4, epochs=30, seed=0)
    assert clf.score(X[test], y[test]) >= 0.97
    assert clf.params["W1"].dtype == dtype
    assert len(hist["train_loss"]) == 30 and hist["train_loss"][-1] < hist["train_loss"][0]
    best = int(np.argmin(hist["val_loss"]))
    assert clf.score(X[test], y[test]) == pytest.approx(hist["val_acc"][best])


def test_history_and_predictions():
    X, y, params = make_problem(120, 5, 8, 3, seed=6)
    clf = fastnn.NetClassifier()
    hist = clf.fit(X[:90], y[:90], X[90:], y[90:], params, epochs=5, seed=0)
    assert set(hist) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert all(len(values) == 5 and values.dtype == np.float64 for values in hist.values())
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(proba, axis=1))
    assert clf.score(X, y) == np.mean(clf.predict(X) == y)
    # Without validation data params are the last epoch's, and the last train loss is
    # their mean cross-entropy on the full training set, without the L2 term.
    hist = clf.fit(X[:90], y[:90], None, None, params, epochs=5, seed=0, c=0.5)
    assert_same_loss(reference.cost_grad(X[:90], y[:90], clf.params, 0.0)[0], hist["train_loss"][-1], np.float64)
    assert hist["train_acc"][-1] == clf.score(X[:90], y[:90])
    assert fastnn.NetClassifier.cost_grad is fastnn.cost_grad


def test_without_validation_data_the_last_epoch_is_kept():
    X, y, params = make_problem(64, 4, 6, 3, seed=7)
    clf = fastnn.NetClassifier()
    seen = []
    hist = clf.fit(X, y, None, None, params, epochs=3, seed=0,
                   callback=lambda epoch, h, p: seen.append(p["W1"].copy()) and False)
    assert len(hist["val_loss"]) == 0 and len(hist["train_loss"]) == 3
    np.testing.assert_array_equal(clf.params["W1"], seen[-1])


def test_early_stopping_restores_the_best_epoch():
    X, y, params = make_problem(200, 5, 16, 3, seed=8)
    clf = fastnn.NetClassifier()
    hist = clf.fit(X[:100], y[:100], X[100:], y[100:], params, lr=0.5, epochs=200, early_stopping=True,
                   patience=3, seed=0)
    assert clf.stop_reason == "early_stopping"
    assert len(hist["val_loss"]) < 200
    best = int(np.argmin(hist["val_loss"]))
    assert best == len(hist["val_loss"]) - 4  # three epochs without improvement after the best
    assert clf.score(X[100:], y[100:]) == pytest.approx(hist["val_acc"][best])


def test_callback_can_stop_training():
    X, y, params = make_problem(50, 4, 6, 3, seed=9)
    clf = fastnn.NetClassifier()
    hist = clf.fit(X, y, X, y, params, epochs=10, callback=lambda epoch, h, p: epoch == 1)
    assert clf.stop_reason == "callback" and len(hist["train_loss"]) == 2


def test_divergence_stops_with_a_warning_and_keeps_finite_parameters():
    X, y, params = make_problem(100, 5, 8, 3, seed=10)
    X *= 100
    clf = fastnn.NetClassifier()
    with pytest.warns(RuntimeWarning, match="diverged"):
        hist = clf.fit(X, y, X, y, params, lr=1e6, epochs=20, seed=0)
    assert clf.stop_reason == "diverged"
    assert len(hist["train_loss"]) < 20
    assert all(np.all(np.isfinite(value)) for value in clf.params.values())
    assert all(np.all(np.isfinite(values)) for values in hist.values())


def test_keyboard_interrupt_keeps_the_completed_epochs():
    X, y, params = make_problem(80, 4, 6, 3, seed=11)

    def interrupt(epoch, hist, current):
        if epoch == 2:
            raise KeyboardInterrupt

    clf = fastnn.NetClassifier()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X[:60], y[:60], X[60:], y[60:], params, epochs=10, seed=0, callback=interrupt)
    assert clf.stop_reason == "interrupted"
    assert len(clf.hist["val_loss"]) == 3
    best = int(np.argmin(clf.hist["val_loss"]))
    assert clf.score(X[60:], y[60:]) == pytest.approx(clf.hist["val_acc"][best])


def test_init_params_are_not_modified_and_float32_stays_float32():
    X, y, params = make_problem(64, 4, 6, 3, np.float32, seed=12)
    before = {key: value.copy() for key, value in params.items()}
    clf = fastnn.NetClassifier()
    clf.fit(X.astype(np.float64), y, None, None, params, epochs=2)
    for key in KEYS:
        np.testing.assert_array_equal(params[key], before[key])
        assert clf.params[key].dtype == np.float32


@pytest.mark.parametrize("change, error, message", [
    (dict(y_val=np.array([0, 1, 7, 9, 1])), ValueError, r"outside \[0, 3\).*\[7, 9\]"),
    (dict(y_val=None), ValueError, "both X_val and y_val"),
    (dict(init_params=None), ValueError, "init_params is required"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(optimizer="rmsprop"), ValueError, "unknown optimizer"),
    (dict(lr_schedule="linear"), ValueError, "unknown learning-rate schedule"),
    (dict(lr=-0.1), ValueError, "lr must be"),
    (dict(c=-1), ValueError, "c must be"),
    (dict(patience=0), ValueError, "patience"),
    (dict(metrics="batch"), ValueError, "metrics must be one of 'full', 'running'"),
    (dict(momentum=1.5, optimizer="momentum"), ValueError, "momentum"),
    (dict(X_train=np.full((20, 4), np.nan)), ValueError, "X contains NaN"),
    (dict(X_val=np.ones((5, 3))), ValueError, "X has 3 features"),
])
def test_bad_fit_arguments(change, error, message):
    X, y, params = make_problem(20, 4, 6, 3, seed=13)
    arguments = dict(X_train=X, y_train=y, X_val=X[:5], y_val=y[:5], init_params=params, epochs=1)
    arguments.update(change)
    with pytest.raises(error, match=message):
        fastnn.NetClassifier().fit(**arguments)


@pytest.mark.parametrize("dtype", DTYPES)
def test_running_metrics_train_the_same_and_record_the_batch_losses(dtype):
    """metrics="running": the same parameters and validation metrics; the training loss is
    the epoch's mean batch loss before each update (the reference loop's), no training accuracy."""
    X, y, params = make_problem(203, 9, 17, 4, dtype, seed=1)
    fits = {}
    for metrics in ("full", "running"):
        clf = fastnn.NetClassifier()
        hist = clf.fit(X[:150], y[:150], X[150:], y[150:], params, batch_size=32, lr=0.1, c=0.3, epochs=3, seed=5,
                       metrics=metrics)
        fits[metrics] = clf.params, hist
    (full_params, full), (running_params, running) = fits["full"], fits["running"]
    for key in KEYS:
        np.testing.assert_array_equal(full_params[key], running_params[key])
    np.testing.assert_array_equal(full["val_loss"], running["val_loss"])
    np.testing.assert_array_equal(full["val_acc"], running["val_acc"])
    assert running["train_acc"].size == 0 and full["train_acc"].size == 3
    rng, ref_params, state, losses, order = np.random.default_rng(5), params, None, [], np.arange(150)
    for _ in range(3):  # each epoch shuffles the previous epoch's order
        order = order[rng.permutation(150)]
        ref_params, state, _, loss, _ = reference.train_epoch(X[:150], y[:150], ref_params, order, 32, 0.1, 0.3,
                                                              state=state)
        losses.append(loss)
    assert_same_loss(np.array(losses), running["train_loss"], dtype)
    assert not np.allclose(running["train_loss"], full["train_loss"])


def test_predict_before_fit_is_an_error():
    with pytest.raises(ValueError, match="not fitted"):
        fastnn.NetClassifier().predict(np.ones((2, 3)))


def test_get_init_params():
    params = fastnn.get_init_params(300, 200, 10, seed=0, dtype=np.float32)
    assert {key: value.shape for key, value in params.items()} == {
        "W1": (300, 200), "b1": (1, 200), "W2": (200, 10), "b2": (1, 10)}
    assert all(value.dtype == np.float32 for value in params.values())
    assert params["W1"].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert params["W2"].std() == pytest.approx(np.sqrt(4 / 210), rel=0.05)
    assert not params["b1"].any() and not params["b2"].any()
    np.testing.assert_array_equal(fastnn.get_init_params(3, 4, 2, seed=1)["W1"],
                                  fastnn.get_init_params(3, 4, 2, seed=1)["W1"])
    with pytest.raises(ValueError, match="hidden_size"):
        fastnn.get_init_params(3, 0, 2)


def test_get_init_params_of_a_deeper_network():
    params = fastnn.get_init_params(300, [200, 100, 50], 10, seed=0)
    assert {key: value.shape for key, value in params.items()} == {
        "W1": (300, 200), "b1": (1, 200), "W2": (200, 100), "b2": (1, 100),
        "W3": (100, 50), "b3": (1, 50), "W4": (50, 10), "b4": (1, 10)}
    assert params["W1"].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert params["W2"].std() == pytest.approx(np.sqrt(4 / 300), rel=0.02)
    assert params["W4"].std() == pytest.approx(np.sqrt(4 / 60), rel=0.1)


@pytest.mark.parametrize("hidden", [[], [5, 0], [5, 2.5]], ids=["none", "zero", "fraction"])
def test_get_init_params_names_bad_hidden_sizes(hidden):
    with pytest.raises(ValueError, match="hidden"):
        fastnn.get_init_params(3, hidden, 2)


def test_a_deeper_network_learns_the_digits():
    X, y = load_digits()
    train, test = stratified_split(y, (0.75, 0.25), seed=0)
    params = fastnn.get_init_params(64, [128, 64], 10, seed=0)
    clf = fastnn.NetClassifier()
    clf.fit(X[train], y[train], None, None, params, batch_size=32, lr=0.05, epochs=30, optimizer="momentum", seed=0)
    assert clf.score(X[test], y[test]) >= 0.97


@pytest.mark.parametrize("name, options, epoch, expected", [
    ("constant", {}, 7, 0.1),
    ("step", dict(gamma=0.5, step_size=3), 7, 0.025),
    ("exponential", dict(gamma=0.5), 2, 0.025),
    ("cosine", dict(lr_min=0.01), 0, 0.1),
    ("cosine", dict(lr_min=0.01), 10, 0.01),
])
def test_schedules(name, options, epoch, expected):
    assert make_schedule(name, 0.1, 10, **options)(epoch) == pytest.approx(expected)


def test_a_schedule_sets_each_epochs_learning_rate():
    X, y, params = make_problem(40, 3, 5, 2, seed=14)
    clf = fastnn.NetClassifier()
    clf.fit(X, y, None, None, params, batch_size=16, lr=0.1, c=1e-3, epochs=3, lr_schedule="cosine", lr_min=0.01,
            shuffle=False)
    cosine = make_schedule("cosine", 0.1, 3, lr_min=0.01)
    ref_params, state, step = params, None, 0
    for epoch in range(3):
        ref_params, state, step, _, _ = reference.train_epoch(X, y, ref_params, np.arange(40), 16, cosine(epoch), 1e-3,
                                                           state=state, step=step)
    assert_same_params(ref_params, clf.params, np.float64)
