"""The one training loop: schedules, the monitor, and the divergence and interrupt policies of both estimators."""

import math

import numpy as np
import pytest

import fastnn
from fastnn.datasets import load_digits
from fastnn.schedules import Adaptive, InvScaling, make_schedule
from fastnn.training import Monitor
from helpers import make_problem


def test_invscaling_follows_the_samples_seen():
    schedule = InvScaling(0.1, power_t=0.5)
    assert schedule.lr == 0.1
    schedule.end(99)
    assert schedule.lr == pytest.approx(0.1 / 10)


def test_adaptive_divides_by_five_until_one_millionth():
    schedule = Adaptive(1e-5, lr_name="learning_rate_init")
    assert schedule.slow_down() and schedule.lr == pytest.approx(2e-6)
    assert schedule.slow_down() and schedule.lr == pytest.approx(4e-7)
    assert not schedule.slow_down()


@pytest.mark.parametrize("name, value, message", [
    ("lr", 0.0, "lr must be > 0"), ("lr", math.inf, "lr must be > 0"), ("lr", True, "lr must be > 0"),
])
def test_schedule_bounds_name_the_parameter(name, value, message):
    with pytest.raises(ValueError, match=message):
        make_schedule("constant", value, 10)


@pytest.mark.parametrize("rule, values, counts", [
    # reference (Keras): 0.95 and 0.91 each beat the last big improvement (1.0) by < 0.1,
    # but 0.89 beats it by more: the count resets.
    ("reference", [1.0, 0.95, 0.91, 0.89], [0, 1, 2, 0]),
    # best (scikit-learn): every epoch is compared with the best so far.
    ("best", [1.0, 0.95, 0.91, 0.89], [0, 1, 2, 3]),
])
def test_monitor_rules(rule, values, counts):
    monitor = Monitor("loss", "min", tol=0.1, patience=3, rule=rule)
    got = []
    for value in values:
        monitor.update({"loss": value})
        got.append(monitor.count)
    assert got == counts
    assert monitor.best == 0.89


def test_monitor_stalls_after_patience():
    reference = Monitor("loss", patience=2, rule="reference")
    best = Monitor("loss", tol=0.1, patience=2, rule="best")
    for monitor in (reference, best):
        for _ in range(3):
            monitor.update({"loss": 1.0})
    assert reference.stalled()  # count 2 >= 2
    assert not best.stalled()  # scikit-learn stops when the count exceeds n_iter_no_change
    best.update({"loss": 1.0})
    assert best.stalled()


def test_the_best_rule_counts_reaching_the_best_improved_by_tol_as_progress():
    """scikit-learn's rule: loss <= best - tol (score >= best + tol) is progress, so with tol = 0 an epoch
    that equals the best resets the count (Keras' rule needs a strict improvement)."""
    for mode, values in (("min", [1.0, 0.9, 0.9, 0.9, 0.9]), ("max", [0.5, 0.6, 0.6, 0.6, 0.6])):
        best = Monitor("value", mode, tol=0.0, patience=1, rule="best")
        reference = Monitor("value", mode, tol=0.0, patience=1, rule="reference")
        for value in values:
            best.update({"value": value})
            reference.update({"value": value})
        assert best.count == 0 and not best.stalled()
        assert reference.count == 3 and reference.stalled()
        tolerant = Monitor("value", mode, tol=0.05, patience=1, rule="best")
        for value in values:
            tolerant.update({"value": value})
        assert tolerant.count == 3  # 0.9 is not 0.9 - 0.05: no progress after the second epoch


def _interrupt_after(epochs):
    calls = []

    def report(*args):
        calls.append(args)
        if len(calls) == epochs:
            raise KeyboardInterrupt

    return report


def test_ctrl_c_during_mlp_fit_keeps_the_completed_epochs():
    X, y = load_digits()
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    initial = fastnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=1, random_state=0)
    clf._report = _interrupt_after(4)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 4
    assert clf.t_ == 4 * len(X)
    # The coefficients are those of epoch 4: the same as 4 uninterrupted epochs.
    four = fastnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=4, random_state=0)
    with pytest.warns(Warning):
        four.fit(X, y)
    for got, expected in zip(clf.coefs_, four.coefs_, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert clf.loss_curve_ == four.loss_curve_
    with pytest.warns(Warning):
        initial.fit(X, y)
    assert not np.array_equal(clf.coefs_[0], initial.coefs_[0])
    assert clf.score(X, y) > initial.score(X, y)
    clf.partial_fit(X, y)  # training goes on, with a fresh optimizer
    assert clf.n_iter_ == 1 and clf.t_ == 5 * len(X)  # n_iter_ counts the call's epochs, as scikit-learn's


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_exception_in_a_netclassifier_callback_keeps_the_completed_epochs(error):
    X, y, params = make_problem(80, 5, 7, 3, seed=3)
    clf = fastnn.NetClassifier()
    clf.fit(X, y, X, y, params, epochs=2, seed=0)  # a first fit, to be replaced

    def callback(epoch, hist, current):
        if epoch == 2:
            raise error("stop")

    with pytest.raises(error):
        clf.fit(X, y, None, None, params, epochs=10, seed=1, callback=callback)
    assert clf.stop_reason == ("interrupted" if error is KeyboardInterrupt else "error")
    assert len(clf.hist["train_loss"]) == 3 and len(clf.hist["val_loss"]) == 0
    uninterrupted = fastnn.NetClassifier()
    uninterrupted.fit(X, y, None, None, params, epochs=3, seed=1)
    for key in params:
        np.testing.assert_array_equal(clf.params[key], uninterrupted.params[key])


@pytest.mark.parametrize("estimator", ["net", "mlp"])
def test_divergence_keeps_finite_parameters_of_a_completed_epoch(estimator):
    X, y = load_digits()
    if estimator == "net":
        clf = fastnn.NetClassifier()
        params = fastnn.get_init_params(64, 32, 10, seed=0)
        with pytest.warns(RuntimeWarning, match=r"diverged in epoch \d+.*Try a smaller lr"):
            clf.fit(X, y, None, None, params, lr=1e12, epochs=3)
        kept = list(clf.params.values())
        assert clf.stop_reason == "diverged"
    else:
        clf = fastnn.MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", momentum=0, learning_rate_init=1e12,
                                   random_state=0)
        # scikit-learn's error (no early stopping keeps a best epoch), after the warning
        with pytest.warns(RuntimeWarning, match=r"diverged in epoch \d+.*learning_rate_init"):
            with pytest.raises(ValueError, match="non-finite parameter weights.*fastnn kept the parameters"):
                clf.fit(X, y)
        kept = clf.coefs_ + clf.intercepts_
        assert clf.n_iter_ == len(clf.loss_curve_) < 200 and np.isnan(clf.loss_curve_[-1])
    assert all(np.all(np.isfinite(array)) for array in kept)


def test_coefficients_that_do_not_fit_the_classes_are_refused():
    X, y = load_digits()
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0, warm_start=True)
    with pytest.warns(Warning):
        clf.fit(X, y)
    clf.coefs_[-1], clf.intercepts_[-1] = clf.coefs_[-1][:, :9].copy(), clf.intercepts_[-1][:9].copy()
    for call in (lambda: clf.fit(X, y), lambda: clf.predict(X)):
        with pytest.raises(ValueError, match="9 outputs, but the model has 64 features and 10 outputs"):
            call()


def test_a_warm_start_that_does_not_beat_the_best_epoch_keeps_it():
    X, y = load_digits()
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", early_stopping=True, random_state=0,
                               max_iter=30, n_iter_no_change=30)
    with pytest.warns(Warning):
        clf.fit(X, y)
    best, coefs = clf.best_validation_score_, [W.copy() for W in clf.coefs_]
    clf.set_params(warm_start=True, learning_rate_init=5.0, max_iter=1)  # one epoch that makes things worse
    with pytest.warns(Warning):
        clf.fit(X, y)
    if clf.best_validation_score_ == best:  # no epoch beat the best: its coefficients stay
        for kept, before in zip(clf.coefs_, coefs, strict=True):
            np.testing.assert_array_equal(kept, before)
    else:
        pytest.fail("the degraded epoch beat the best validation score")


def test_a_model_saved_after_a_solver_change_loads(tmp_path):
    X, y = load_digits()
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    clf.set_params(solver="sgd")  # the saved Adam state no longer fits
    fastnn.save(tmp_path / "m.npz", clf)
    loaded = fastnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    loaded.partial_fit(X, y)  # starts a fresh sgd optimizer
    assert loaded.n_iter_ == 1 and loaded.t_ == 3 * len(X)


def test_a_fit_that_fails_before_training_leaves_the_model_as_it_was():
    X, y = load_digits()
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    coefs, classes, n_iter = [W.copy() for W in clf.coefs_], clf.classes_.copy(), clf.n_iter_
    clf.set_params(early_stopping=True)
    with pytest.raises(ValueError, match="the resulting train set will be empty"):
        clf.fit(X[:1], y[:1])  # one row: no validation split possible
    assert clf.n_iter_ == n_iter and np.array_equal(clf.classes_, classes)
    for kept, before in zip(clf.coefs_, coefs, strict=True):
        np.testing.assert_array_equal(kept, before)
