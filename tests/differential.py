"""fastnn's MLP estimators against scikit-learn's on seeded random configurations.

`configuration(seed)` draws a problem and the estimator's parameters; `fit_both` fits
fastnn's estimator, scikit-learn's, and scikit-learn's again on X moved by one ulp (every
entry to the next float up), recording what each fit leaves (`Outcome`). The third fit
measures how far rounding alone carries scikit-learn's own run: a long L-BFGS run or a
large learning rate turns a 1-ulp change into a different model, and there fastnn can
only be compared as far as scikit-learn agrees with itself (`compare`).

Used by tests/test_sklearn_equivalence.py; ``python tests/differential.py N`` prints the
distribution of the differences over N configurations.
"""

import dataclasses
import sys
import warnings

import numpy as np
import scipy.sparse

from fastnn import CompileWarning

KINDS = ("multiclass", "binary", "multilabel", "squared_error", "poisson")
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

# Differences rounding explains, when scikit-learn's own run does not amplify a 1-ulp
# change of its input: relative to each array's largest magnitude. (Observed over 600
# configurations: stable runs agree to 3e-12 at most; see the module's main.)
RTOL = 1e-9
# A quantity may differ by this factor times the difference a 1-ulp change of X makes
# to scikit-learn's own result (its chaos), on top of RTOL.
CHAOS_FACTOR = 1e3


def configuration(seed):
    """(kind, estimator parameters, X, y, sample_weight) of one seeded random configuration."""
    rng = np.random.default_rng(seed)
    kind = KINDS[rng.integers(len(KINDS))]
    n, d = int(rng.integers(24, 90)), int(rng.integers(2, 7))
    X = rng.standard_normal((n, d))
    if rng.random() < 0.25:  # sparse input: a CSR matrix with about half its entries 0
        X[rng.random(X.shape) < 0.5] = 0
        X = scipy.sparse.csr_matrix(X)
    dense = X.toarray() if scipy.sparse.issparse(X) else X
    signal = dense @ rng.standard_normal((d, 3))
    if kind == "multiclass":
        y = np.argmax(signal + rng.standard_normal(signal.shape), axis=1)
        if len(np.unique(y)) < 3:
            y[:3] = [0, 1, 2]
    elif kind == "binary":
        y = np.where(signal[:, 0] + 0.5 * rng.standard_normal(n) > 0, "yes", "no")
        y[:2] = ["yes", "no"]
    elif kind == "multilabel":
        y = (signal + 0.5 * rng.standard_normal(signal.shape) > 0).astype(int)
    elif kind == "squared_error":
        y = signal[:, 0] + 0.1 * rng.standard_normal(n)
    else:
        y = rng.poisson(np.exp(0.3 * signal[:, 0])).astype(float)
    solver = ("sgd", "adam", "lbfgs")[rng.integers(3)]
    depth = int(rng.integers(0, 4))
    params = dict(
        hidden_layer_sizes=tuple(int(width) for width in rng.integers(1, 10, depth)),
        activation=ACTIVATIONS[rng.integers(4)],
        solver=solver,
        alpha=float((0.0, 1e-4, 1e-2, 0.3)[rng.integers(4)]),
        batch_size="auto" if rng.random() < 0.3 else int(rng.integers(2, n + 10)),
        learning_rate=("constant", "invscaling", "adaptive")[rng.integers(3)],
        learning_rate_init=float(10 ** rng.uniform(-3, -0.7) if solver == "sgd" else 10 ** rng.uniform(-3.5, -1.5)),
        max_iter=int(rng.integers(2, 40)),
        shuffle=bool(rng.random() < 0.8),
        random_state=int(rng.integers(1000)),
        tol=float((0.0, 1e-4, 1e-2)[rng.integers(3)]),
        momentum=float((0.0, 0.5, 0.9)[rng.integers(3)]),
        nesterovs_momentum=bool(rng.random() < 0.5),
        early_stopping=bool(rng.random() < 0.35),
        validation_fraction=float((0.1, 0.2, 0.3)[rng.integers(3)]),
        n_iter_no_change=int(rng.integers(1, 6)),
    )
    if kind in ("squared_error", "poisson"):
        params["loss"] = kind
    sample_weight = rng.uniform(0.2, 2.0, n) if rng.random() < 0.3 else None
    return kind, params, X, y, sample_weight


def one_ulp_up(X):
    """X with every stored value moved to the next float up."""
    if scipy.sparse.issparse(X):
        moved = X.copy()
        moved.data = np.nextafter(moved.data, np.inf)
        return moved
    return np.nextafter(X, np.inf)


@dataclasses.dataclass
class Outcome:
    """What one fit left: its error, its warnings, its fitted state and its predictions."""

    error: tuple = None  # (type name, message)
    warnings: list = dataclasses.field(default_factory=list)  # (category name, message)
    counts: dict = dataclasses.field(default_factory=dict)  # n_iter_, t_
    curves: dict = dataclasses.field(default_factory=dict)  # name -> float64 array
    arrays: dict = dataclasses.field(default_factory=dict)  # coefficients, probabilities
    predictions: np.ndarray = None  # a classifier's labels


def fit(estimator, X, y, sample_weight):
    """Fit and record the `Outcome`."""
    outcome = Outcome()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(X, y, sample_weight=sample_weight)
        except Exception as error:  # noqa: BLE001 - recorded and compared, not hidden
            outcome.error = (type(error).__name__, str(error))
    outcome.warnings = [(w.category.__name__, str(w.message)) for w in caught
                        if not issubclass(w.category, (DeprecationWarning, CompileWarning))]
    if outcome.error is not None:
        return outcome
    outcome.counts = {name: int(getattr(estimator, name)) for name in ("n_iter_", "t_") if hasattr(estimator, name)}
    for name in ("loss_curve_", "validation_scores_"):
        if getattr(estimator, name, None) is not None:
            outcome.curves[name] = np.asarray(getattr(estimator, name), np.float64)
    for name in ("loss_", "best_loss_", "best_validation_score_"):
        value = getattr(estimator, name, None)
        if value is not None:
            outcome.curves[name] = np.array([value], np.float64)
    for layer, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_), 1):
        outcome.arrays[f"W{layer}"], outcome.arrays[f"b{layer}"] = np.asarray(W), np.asarray(b)
    if hasattr(estimator, "predict_proba"):  # labels, compared exactly, and probabilities
        outcome.predictions = np.asarray(estimator.predict(X))
        outcome.arrays["predict_proba"] = estimator.predict_proba(X)
    else:  # values, compared as arrays
        outcome.arrays["predict"] = np.asarray(estimator.predict(X), np.float64)
    return outcome


def fit_both(seed):
    """(configuration, fastnn's Outcome, scikit-learn's, scikit-learn's on X one ulp up)."""
    import sklearn.neural_network

    import fastnn

    kind, params, X, y, sample_weight = configuration(seed)
    name = "MLPRegressor" if kind in ("squared_error", "poisson") else "MLPClassifier"
    ours = fit(getattr(fastnn, name)(**params), X, y, sample_weight)
    theirs = fit(getattr(sklearn.neural_network, name)(**params), X, y, sample_weight)
    perturbed = fit(getattr(sklearn.neural_network, name)(**params), one_ulp_up(X), y, sample_weight)
    return (kind, params), ours, theirs, perturbed


def _scale(array):
    return max(float(np.max(np.abs(array), initial=0.0)), 1e-300)


def _relative(a, b):
    """|a - b| relative to b's largest magnitude; inf where the shapes differ or only one is NaN."""
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    finite = ~np.isnan(b)
    return float(np.max(np.abs(a[finite] - b[finite]), initial=0.0)) / _scale(b[finite])


def compare(ours, theirs, perturbed):
    """The differences between fastnn's fit and scikit-learn's that rounding does not explain.

    Returns (problems, report): problems lists what disagrees (empty when the fits agree);
    report maps each compared quantity to (fastnn's difference, scikit-learn's own
    difference under a 1-ulp change of X).

    The rule: errors and warnings must be the same. When scikit-learn's run is stable
    (the perturbed fit has its epoch count, warnings and predictions), the counts, the
    predictions and every curve and array must agree within RTOL plus CHAOS_FACTOR times
    scikit-learn's own difference. When it is not, rounding decides where scikit-learn
    itself ends: then only the epochs both scikit-learn fits share with fastnn's are
    compared, each loss_curve_ and validation score epoch by epoch, up to the first epoch
    where scikit-learn's two fits differ by more than RTOL.
    """
    problems, report = [], {}
    if ours.error != theirs.error:
        return [f"error: fastnn {ours.error}, scikit-learn {theirs.error}"], report
    if ours.error is not None:
        return [], report
    stable = (perturbed.error is None and perturbed.counts == theirs.counts
              and perturbed.warnings == theirs.warnings and np.array_equal(perturbed.predictions, theirs.predictions))
    if ours.warnings != theirs.warnings and stable:
        problems.append(f"warnings: fastnn {ours.warnings}, scikit-learn {theirs.warnings}")
    if stable:
        if ours.counts != theirs.counts:
            problems.append(f"counts: fastnn {ours.counts}, scikit-learn {theirs.counts}")
        if not np.array_equal(ours.predictions, theirs.predictions):
            problems.append(f"predictions differ on {np.sum(ours.predictions != theirs.predictions)} rows")
        for group in ("curves", "arrays"):
            for name, expected in getattr(theirs, group).items():
                got = getattr(ours, group).get(name)
                if got is None:
                    problems.append(f"{name}: missing")
                    continue
                difference = _relative(np.asarray(got, np.float64), np.asarray(expected, np.float64))
                chaos = _relative(np.asarray(getattr(perturbed, group)[name], np.float64),
                                  np.asarray(expected, np.float64))
                report[name] = (difference, chaos)
                if not difference <= RTOL + CHAOS_FACTOR * chaos:
                    problems.append(f"{name}: differs by {difference:.2e} (scikit-learn's own chaos {chaos:.2e})")
        return problems, report
    for name in ("loss_curve_", "validation_scores_"):
        if name not in theirs.curves:
            continue
        mine, expected, other = ours.curves.get(name), theirs.curves[name], perturbed.curves.get(name)
        if mine is None or other is None:
            problems.append(f"{name}: missing")
            continue
        shared = min(len(mine), len(expected), len(other))
        agree = np.abs(other[:shared] - expected[:shared]) <= RTOL * np.maximum(np.abs(expected[:shared]), 1e-300)
        first = shared if agree.all() else int(np.argmin(agree))
        if first == 0:
            continue
        difference = _relative(mine[:first], expected[:first])
        report[f"{name}[:{first}]"] = (difference, 0.0)
        if not difference <= RTOL:
            problems.append(f"{name}: the first {first} epochs differ by {difference:.2e}")
    return problems, report


if __name__ == "__main__":  # the distribution of the differences: python tests/differential.py N [FIRST]
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    first_seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    worst = {}
    unstable = failures = 0
    for seed in range(first_seed, first_seed + count):
        (kind, params), ours, theirs, perturbed = fit_both(seed)
        problems, report = compare(ours, theirs, perturbed)
        stable = perturbed.counts == theirs.counts and np.array_equal(perturbed.predictions, theirs.predictions)
        unstable += not stable
        for name, (difference, chaos) in report.items():
            key = name.split("[")[0] + ("" if stable else " (unstable)")
            worst.setdefault(key, []).append((difference, chaos))
        if problems:
            failures += 1
            print(f"seed {seed} {kind} {params}:\n  " + "\n  ".join(problems), flush=True)
    print(f"{count} configurations, {unstable} where a 1-ulp change moves scikit-learn's own result, "
          f"{failures} with differences")
    for key, values in sorted(worst.items()):
        differences = np.array([value[0] for value in values])
        ratios = np.array([value[0] / max(value[1], 1e-300) for value in values if value[1] > 0])
        print(f"{key:32s} n={len(values):4d} difference median {np.median(differences):.1e} "
              f"max {differences.max():.1e}; over own chaos: max {ratios.max() if ratios.size else 0:.1e}")
