"""fastnn.MLPClassifier: scikit-learn's MLPClassifier API, trained by fastnn's compiled kernels.

The estimator follows scikit-learn's conventions (parameters stored untouched by
__init__, validation in fit, fitted attributes ending in "_") so that Pipeline,
GridSearchCV, cross_val_score, clone and pickle work, and it passes scikit-learn's
estimator checks. The network, the optimizers and the training loop are fastnn's
(`fastnn.training`, `fastnn._engine`); this module translates scikit-learn's parameter
names into them and adds labels and bookkeeping. Needs scikit-learn.
"""

import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "fastnn.MLPClassifier needs scikit-learn >= 1.6: pip install scikit-learn"
    ) from error

from . import _engine, reference
from ._validation import check_hyperparameter
from .datasets import stratified_split
from .io import json_number, label_array
from .optim import Optimizer
from .params import from_layers, get_init_params, to_layers
from .schedules import Adaptive, Constant, InvScaling
from .training import Monitor, TrainingLoop

SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
# scikit-learn's names for the bounds of `fastnn._validation.BOUNDS`.
BOUNDED = {"alpha": "decay", "learning_rate_init": "learning_rate", "power_t": "power_t", "tol": "tol",
           "momentum": "momentum", "beta_1": "beta", "beta_2": "beta", "epsilon": "epsilon",
           "max_iter": "max_iter"}
FITTED_SCALARS = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_", "n_features_in_")


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier: ReLU hidden layers, softmax output, cross-entropy loss.

    A drop-in for ``sklearn.neural_network.MLPClassifier`` (solvers "sgd" and "adam",
    activation ReLU), trained by fastnn's compiled kernels. float32 input trains and
    predicts in float32; any other input in float64.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        The width of each hidden layer; at least one.
    solver : {"adam", "sgd"}, default "adam"
    alpha : float, default 1e-4
        L2 penalty, the hand-in's c: each batch of m rows adds alpha/(2m) sum ||W||^2 to
        its loss.
    batch_size : int or "auto", default "auto"
        Rows per step; "auto" is min(200, n_samples). Larger values are clipped to
        n_samples with a warning.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The sgd schedule, per epoch: invscaling uses learning_rate_init / (t + 1) **
        power_t, with t the samples seen; adaptive divides the rate by 5 whenever
        n_iter_no_change epochs fail to improve by tol, and stops below 1e-6.
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
    max_iter : int, default 200
        Maximum number of epochs.
    shuffle : bool, default True
    random_state : int, RandomState, Generator or None
        Seeds the initialisation, the shuffles and the validation split.
    tol : float, default 1e-4
    verbose : bool, default False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default False
        fit continues from the current coefficients (with a fresh optimizer).
    momentum : float, default 0.9
        For sgd; 0 gives plain SGD.
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out validation_fraction of the training data (stratified), stop when its
        accuracy has not improved by tol for n_iter_no_change epochs, and keep the
        coefficients of the best epoch.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    n_iter_no_change : int, default 10

    Attributes
    ----------
    classes_ : ndarray
        The class labels (any type numpy can sort: integers, strings, ...).
    coefs_, intercepts_ : list of ndarray
        coefs_[i] is the weight matrix of layer i + 1 (W{i+1}), intercepts_[i] its bias.
    loss_ : float
        The last entry of loss_curve_.
    loss_curve_ : list of float
        Per epoch, the mean over the epoch's rows of each batch's cross-entropy, plus the
        L2 term with the weights at the epoch's end.
    validation_scores_ : list of float or None
        Per epoch, the accuracy on the held-out set (early_stopping only).
    best_validation_score_ : float or None
    best_loss_ : float or None
        The lowest entry of loss_curve_ (None with early_stopping).
    history_ : dict of lists
        "loss" (loss_curve_), and with early_stopping "val_loss" (mean cross-entropy
        on the held-out set) and "val_accuracy".
    n_iter_ : int
        Epochs run so far.
    t_ : int
        Training samples seen so far.
    n_features_in_ : int
    n_layers_ : int
        Hidden layers plus input and output (scikit-learn's convention).
    n_outputs_ : int
    out_activation_ : str
        "softmax".
    """

    def __init__(self, hidden_layer_sizes=(100,), solver="adam", alpha=1e-4, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------ public API

    def fit(self, X, y):
        """Train on (X, y) for up to max_iter epochs; returns self.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
            Class labels of any sortable type.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current state; returns self.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        classes : array_like, shape (n_classes,)
            Every class label, required on the first call (y need not hold all of them).
        """
        return self._fit(X, y, incremental=True, classes=classes)

    @property
    def history_(self):
        """Per epoch: "loss" (loss_curve_), and with early_stopping "val_loss" and "val_accuracy"."""
        return {"loss": list(self.loss_curve_), "val_loss": list(self._val_losses),
                "val_accuracy": list(self.validation_scores_ or [])}

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of classes_."""
        return reference.softmax(self._logits(X))

    def predict_log_proba(self, X):
        """Log of predict_proba, computed in log space (stable for confident predictions)."""
        return reference.log_softmax(self._logits(X))

    def predict(self, X):
        """The most probable class label of each row."""
        logits = self._logits(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(logits, axis=1)]

    # ------------------------------------------------------------ training

    def _fit(self, X, y, incremental, classes=None):
        # A call that fails before training starts (bad data, a split that leaves a part
        # empty) leaves the estimator as it was.
        before = dict(self.__dict__)
        rng_state = self._rng.bit_generator.state if hasattr(self, "_rng") else None
        try:
            trainer, loop, incremental = self._prepare(X, y, incremental, classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            if rng_state is not None:
                self._rng.bit_generator.state = rng_state
            raise
        try:
            loop.run(1 if incremental else self.max_iter)
        finally:  # Ctrl-C or an error: keep the completed epochs, consistently, then re-raise
            self._record(loop, trainer)
        if loop.stop_reason == "completed" and not incremental:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def _prepare(self, X, y, incremental, classes):
        """Validate, set up the model for this call and build its trainer and training loop."""
        self._validate_hyperparameters()
        continuing = hasattr(self, "coefs_") and (incremental or self.warm_start)
        X, y = validate_data(self, X, y, reset=not continuing, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        y_index = self._encode_labels(y, incremental, continuing, classes)
        if not continuing:
            self._initialise(X.shape[1], X.dtype)
        X = np.ascontiguousarray(X, dtype=self.coefs_[0].dtype)

        early_stopping = self.early_stopping and not incremental
        validation = None
        if early_stopping:
            train, val = _validation_split(y_index, self.validation_fraction, self._rng)
            X, y_index, validation = X[train], y_index[train], (X[val], y_index[val])
            if not continuing or not self.validation_scores_:
                self.validation_scores_, self.best_validation_score_, self._val_losses = [], -np.inf, []
        elif not incremental:
            self.validation_scores_ = self.best_validation_score_ = None
            self._val_losses = []
        if not early_stopping and self.best_loss_ is None:
            self.best_loss_ = np.inf
        if not incremental:  # a new fit starts a new optimizer, at learning_rate_init
            self._optimizer_state = None
            self._lr, self._no_improvement_count = float(self.learning_rate_init), 0

        weights, biases = self._layers()  # coefs_ and intercepts_ may have been assigned
        optimizer = self._optimizer()
        state, step = self._optimizer_state_for(optimizer, weights, biases)
        trainer = _engine.Trainer(weights, biases, optimizer, float(self.alpha), state, step)
        schedule = self._schedule()
        batch_size = self._batch_size(X.shape[0])
        loop = TrainingLoop(
            trainer, X, y_index, batch_size, schedule, self._monitor(validation is not None),
            self._measure(validation, X.shape[0], batch_size), self._rng, self.shuffle, report=self._report,
            report_stall=self._report_stall(validation is not None, schedule), lr_name="learning_rate_init",
            samples_before=self.t_)
        return trainer, loop, incremental

    def _optimizer_state_for(self, optimizer, weights, biases):
        """(state, step) to continue from: the saved optimizer's if it fits this optimizer and
        these shapes, else (None, 0) for a fresh one (a changed solver, momentum on or off,
        coefficients of another shape)."""
        if self._optimizer_state is None:
            return None, 0
        state, step = self._optimizer_state
        return (state, step) if optimizer.state_mismatch(state, weights, biases) is None else (None, 0)

    def _schedule(self):
        """The learning rate's schedule, continuing from the current rate."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            schedule = InvScaling(self.learning_rate_init, self.power_t)
        elif self.solver == "sgd" and self.learning_rate == "adaptive":
            schedule = Adaptive(self.learning_rate_init, lr_name="learning_rate_init")
        else:
            schedule = Constant(self.learning_rate_init, lr_name="learning_rate_init")
        schedule.lr = self._lr
        return schedule

    def _monitor(self, early_stopping):
        """scikit-learn's stopping rule: n_iter_no_change epochs that fail to beat the best by tol
        (training loss, or validation accuracy with early_stopping, whose best epoch is kept)."""
        if early_stopping:
            return Monitor("val_accuracy", "max", self.tol, self.n_iter_no_change, rule="best", keep="best",
                           best=self.best_validation_score_, count=self._no_improvement_count)
        return Monitor("loss", "min", self.tol, self.n_iter_no_change, rule="best", keep="last",
                       best=self.best_loss_, count=self._no_improvement_count)

    def _measure(self, validation, n_samples, batch_size):
        """The epoch's loss (with scikit-learn's L2 term) and, with validation data, its loss and accuracy."""
        n_batches = -(-n_samples // batch_size)

        def measure(trainer, batch_loss):
            # The L2 term scikit-learn adds per batch, alpha/(2m) sum ||W||^2, averaged over
            # the rows, with the weights at the end of the epoch.
            with np.errstate(over="ignore", invalid="ignore"):
                metrics = {"loss": float(batch_loss + self.alpha * n_batches * trainer.squared_weights()
                                         / (2 * n_samples))}
            if validation is not None:
                status, metrics["val_loss"], metrics["val_accuracy"] = trainer.evaluate(*validation)
                if status != _engine.OK:
                    return None
            return metrics

        return measure

    def _report(self, epoch, metrics, lr, seconds):
        if self.verbose:
            print(f"Iteration {self.n_iter_ + 1 + epoch}, loss = {metrics['loss']:.8f}" + (
                f", validation score = {metrics['val_accuracy']:.6f}" if "val_accuracy" in metrics else ""))

    def _report_stall(self, early_stopping, schedule):
        def report(slowed_down):
            if self.verbose:
                what = "Validation score" if early_stopping else "Training loss"
                print(f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} "
                      "consecutive epochs. " + (f"Setting learning rate to {schedule.lr:f}" if slowed_down
                                                else "Stopping."))
        return report

    def _record(self, loop, trainer):
        """Store what the completed epochs of a run give: coefficients, curves, counters, optimizer state."""
        self._store(loop.params())
        losses = loop.history_of("loss").tolist()
        self.n_iter_ += loop.epochs_run
        self.t_ += loop.epochs_run * loop.X.shape[0]
        self.loss_curve_.extend(losses)
        if losses:
            self.loss_ = losses[-1]
        if loop.monitor.key == "val_accuracy":
            self.validation_scores_.extend(loop.history_of("val_accuracy").tolist())
            self._val_losses.extend(loop.history_of("val_loss").tolist())
            self.best_validation_score_ = loop.monitor.best
        else:
            self.best_loss_ = loop.monitor.best
        self._no_improvement_count = loop.monitor.count
        self._lr = float(loop.schedule.lr)
        # The optimizer's state goes on only from a cleanly ended run: after a divergence or
        # an interrupt it belongs to parameters that were not kept.
        ended_cleanly = loop.stop_reason in ("completed", "stalled", "callback")
        self._optimizer_state = (trainer.state, trainer.step) if ended_cleanly else None

    def _initialise(self, n_features, dtype):
        """Fresh coefficients and bookkeeping for a first fit (or a fit without warm_start)."""
        rng = _generator(self.random_state)
        self._rng = rng
        params = get_init_params(n_features, self._hidden_sizes(), len(self.classes_), seed=rng, dtype=dtype)
        self._store(params)
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_, self.best_loss_, self.loss_ = [], None, None
        self.validation_scores_, self.best_validation_score_ = None, None
        self._val_losses = []
        self._no_improvement_count = 0
        self._optimizer_state = None
        self._lr = float(self.learning_rate_init)
        self.n_layers_ = len(self.coefs_) + 1
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"

    def _encode_labels(self, y, incremental, continuing, classes):
        """Set classes_ if this call starts a model; return y as indices into classes_."""
        if incremental and not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = unique_labels(classes)
        elif incremental and classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the earlier calls, {self.classes_!r}")
        elif not continuing:
            self.classes_ = unique_labels(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes_ {self.classes_.tolist()}: {unknown.tolist()[:10]}")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _store(self, params):
        weights, biases = to_layers(params)
        self.coefs_, self.intercepts_ = list(weights), list(biases)

    def _params(self):
        return from_layers(self.coefs_, self.intercepts_)

    def _layers(self):
        """The validated (weights, biases) of coefs_ and intercepts_, which must fit the data and the classes.

        Users may assign coefs_ and intercepts_; a network whose widths disagree with
        n_features_in_ or classes_ would make the kernels index past the logits.
        """
        weights, biases = to_layers(self._params())
        if weights[0].shape[0] != self.n_features_in_ or weights[-1].shape[1] != len(self.classes_):
            raise ValueError(f"coefs_ take {weights[0].shape[0]} features to {weights[-1].shape[1]} outputs, but the "
                             f"model has {self.n_features_in_} features and {len(self.classes_)} classes")
        return weights, biases

    def _optimizer(self):
        names = (("momentum", "momentum"), ("beta1", "beta_1"), ("beta2", "beta_2"), ("eps", "epsilon"))
        if self.solver == "adam":
            return Optimizer("adam", beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon, names=names)
        if self.momentum == 0:
            return Optimizer("sgd", names=names)
        return Optimizer("nesterov" if self.nesterovs_momentum else "momentum", momentum=self.momentum, names=names)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(f"Got batch_size={self.batch_size} larger than the {n_samples} samples; "
                          "it is clipped to the number of samples", UserWarning, stacklevel=4)
        return min(int(self.batch_size), n_samples)

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        return [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)

    def _validate_hyperparameters(self):
        sizes = self._hidden_sizes()
        if not sizes or not all(isinstance(size, numbers.Integral) and size >= 1 for size in sizes):
            raise ValueError(f"hidden_layer_sizes must be one or more integers >= 1, got {self.hidden_layer_sizes!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS} (fastnn has no lbfgs), got {self.solver!r}")
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {LEARNING_RATES}, got {self.learning_rate!r}")
        if not (self.batch_size == "auto" or isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be 'auto' or an integer >= 1, got {self.batch_size!r}")
        for name, bounds in BOUNDED.items():
            check_hyperparameter(name, getattr(self, name), bounds)
        check_hyperparameter("n_iter_no_change", self.n_iter_no_change, "patience", allow_inf=True)
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {self.validation_fraction!r}")
        if self.early_stopping:
            check_hyperparameter("validation_fraction", self.validation_fraction)

    # ------------------------------------------------------------ prediction

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        weights, biases = self._layers()
        status, logits = _engine.logits(np.ascontiguousarray(X, dtype=weights[0].dtype), weights, biases)
        if status != _engine.OK:
            raise FloatingPointError("the logits overflowed (or the coefficients hold NaN or inf)")
        return logits

    # ------------------------------------------------------------ saving (fastnn.io)

    _file_kind = "MLPClassifier"

    def _file_contents(self):
        """(params, arrays, metadata) for `fastnn.io.save`: coefficients, classes, curves, optimizer
        state; hyper-parameters and fitted scalars as JSON."""
        if not hasattr(self, "coefs_"):
            raise ValueError("this MLPClassifier is not fitted: there is nothing to save")
        arrays = {"classes": label_array(self.classes_)}
        curves = {"loss_curve": self.loss_curve_, "validation_scores": self.validation_scores_ or [],
                  "val_losses": self._val_losses}
        arrays.update({name: np.asarray(values, dtype=np.float64) for name, values in curves.items()})
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = label_array(self.feature_names_in_)
        weights, biases = self._layers()
        # Only a state the solver can continue from is saved: one left by another solver
        # or other shapes would be refused by load (partial_fit starts afresh instead).
        state, step = self._optimizer_state_for(self._optimizer(), weights, biases)
        if state is not None:
            for prefix, per_layer in zip(("opt_vW", "opt_sW", "opt_vb", "opt_sb"), state):
                arrays.update({f"{prefix}{layer}": array for layer, array in enumerate(per_layer, 1)})
        hyperparameters = self.get_params()
        hyperparameters["hidden_layer_sizes"] = list(np.atleast_1d(self.hidden_layer_sizes).tolist())
        if not (hyperparameters["random_state"] is None or isinstance(hyperparameters["random_state"], int)):
            warnings.warn("random_state is not an int or None, so it is not saved: the loaded model has "
                          "random_state=None (its coefficients and training state are saved in full)",
                          UserWarning, stacklevel=4)
            hyperparameters["random_state"] = None
        fitted = {name: json_number(getattr(self, name)) for name in FITTED_SCALARS}
        fitted.update(has_validation_scores=self.validation_scores_ is not None, learning_rate=self._lr,
                      no_improvement_count=self._no_improvement_count, optimizer_step=int(step),
                      has_optimizer_state=state is not None, rng_state=self._rng.bit_generator.state)
        return self._params(), arrays, {"hyperparameters": hyperparameters, "fitted": fitted}

    @classmethod
    def _from_file_contents(cls, params, arrays, metadata):
        """An MLPClassifier from what `_file_contents` gave; every array checked against the network."""
        hyperparameters = dict(metadata["hyperparameters"])
        hyperparameters["hidden_layer_sizes"] = tuple(hyperparameters["hidden_layer_sizes"])
        model = cls(**hyperparameters)
        model._validate_hyperparameters()
        fitted = metadata["fitted"]
        weights, biases = to_layers(params)
        classes = arrays["classes"]
        if classes.ndim != 1 or len(classes) != weights[-1].shape[1] or not np.array_equal(np.unique(classes), classes):
            raise ValueError(f"classes must be {weights[-1].shape[1]} sorted, distinct labels, got {classes.shape}")
        if fitted["n_features_in_"] != weights[0].shape[0]:
            raise ValueError(f"n_features_in_ is {fitted['n_features_in_']} but W1 has {weights[0].shape[0]} rows")
        widths = [W.shape[1] for W in weights[:-1]]
        if widths != list(model._hidden_sizes()):
            raise ValueError(f"hidden_layer_sizes {hyperparameters['hidden_layer_sizes']} disagree with the "
                             f"coefficients' widths {widths}")
        for name in ("loss_", "best_loss_", "best_validation_score_"):
            if not (fitted[name] is None or isinstance(fitted[name], (int, float))):
                raise TypeError(f"{name} must be a number or null")
        if not (isinstance(fitted["optimizer_step"], int) and fitted["optimizer_step"] >= 0):
            raise ValueError(f"optimizer_step must be an integer >= 0, got {fitted['optimizer_step']!r}")
        check_hyperparameter("learning_rate", fitted["learning_rate"])
        model.classes_ = classes
        model._store(params)
        model.n_layers_, model.n_outputs_, model.out_activation_ = len(weights) + 1, len(classes), "softmax"
        for name in FITTED_SCALARS:
            setattr(model, name, fitted[name])
        model.n_iter_, model.t_, model.n_features_in_ = int(model.n_iter_), int(model.t_), int(model.n_features_in_)
        if "feature_names_in" in arrays:
            if arrays["feature_names_in"].shape != (model.n_features_in_,):
                raise ValueError("feature_names_in does not name every feature")
            model.feature_names_in_ = arrays["feature_names_in"].astype(object)
        model.loss_curve_ = arrays["loss_curve"].tolist()
        model.validation_scores_ = arrays["validation_scores"].tolist() if fitted["has_validation_scores"] else None
        model._val_losses = arrays["val_losses"].tolist()
        model._lr = float(fitted["learning_rate"])
        model._no_improvement_count = int(fitted["no_improvement_count"])
        model._rng = np.random.default_rng()
        model._rng.bit_generator.state = fitted["rng_state"]
        model._optimizer_state = None
        if fitted["has_optimizer_state"]:
            model._optimizer_state = (model._saved_optimizer_state(weights, biases, arrays),
                                      int(fitted["optimizer_step"]))
        return model

    def _saved_optimizer_state(self, weights, biases, arrays):
        """The saved optimizer state, checked entry by entry against the shapes the solver keeps.

        The compiled update trusts these shapes, so a file must not be able to choose them.
        """
        names = ("opt_vW", "opt_sW", "opt_vb", "opt_sb")
        state = tuple(tuple(np.ascontiguousarray(arrays[f"{name}{layer}"]) for layer in range(1, len(weights) + 1))
                      for name in names)
        mismatch = self._optimizer().state_mismatch(state, weights, biases, names)
        if mismatch is not None:
            raise ValueError(mismatch)
        return state


def _generator(random_state):
    """A numpy Generator from scikit-learn's random_state conventions (None, int, RandomState, Generator)."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator)):
        return np.random.default_rng(random_state)
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}")


def _validation_split(y_index, fraction, rng):
    """(training rows, validation rows): a stratified split with about `fraction` held out."""
    train, val = stratified_split(y_index, (1 - fraction, fraction), seed=rng)
    if len(val) == 0 or len(train) == 0:
        raise ValueError(f"validation_fraction={fraction} of {len(y_index)} samples leaves an empty "
                         "training or validation set; use more data or turn early_stopping off")
    return train, val
