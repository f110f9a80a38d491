"""fastnn.MLPClassifier: scikit-learn's MLPClassifier API, trained by fastnn's compiled kernels.

The estimator follows scikit-learn's conventions (parameters stored untouched by
__init__, validation in fit, fitted attributes ending in "_") so that Pipeline,
GridSearchCV, cross_val_score, clone and pickle work, and it passes scikit-learn's
estimator checks. The network, the optimizers and the training loop are fastnn's
(`fastnn._trainer.Trainer`); this module adds labels, stopping rules and bookkeeping.
Needs scikit-learn (``pip install fastnn[sklearn]``).
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
        "fastnn.MLPClassifier needs scikit-learn >= 1.6: pip install scikit-learn (or fastnn[sklearn])"
    ) from error

from . import reference
from ._trainer import Trainer, forward_logits
from ._validation import check_params
from .datasets import stratified_split
from .net import get_init_params
from .optim import Optimizer

SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
MIN_ADAPTIVE_LR = 1e-6  # the adaptive schedule stops once the learning rate falls below this


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

        if incremental and self._optimizer_state is not None:  # partial_fit continues the optimizer
            trainer = Trainer(self._params(), self._optimizer(), float(self.alpha), *self._optimizer_state)
        else:  # a new fit starts a new one, at learning_rate_init
            trainer = Trainer(self._params(), self._optimizer(), float(self.alpha))
            if not incremental:
                self._lr, self._no_improvement_count = float(self.learning_rate_init), 0
        trainer, best = self._train(trainer, X, y_index, validation, incremental)
        self._optimizer_state = (trainer.state, trainer.step)
        self._store(trainer.params() if best is None else best)
        return self

    def _train(self, trainer, X, y_index, validation, incremental):
        """Up to max_iter epochs (one if incremental) with scikit-learn's stopping rules.

        Returns (trainer, best params or None). With validation data (X_val, y_val),
        best holds the parameters of the epoch with the best validation accuracy of this
        call. On divergence the trainer is rebuilt from the parameters before the
        diverging epoch.
        """
        batch_size = self._batch_size(X.shape[0])
        best = None
        for epoch in range(1 if incremental else self.max_iter):
            before = trainer.params()
            order = self._rng.permutation(X.shape[0]) if self.shuffle else np.arange(X.shape[0])
            loss = self._epoch_loss(trainer, trainer.run_epoch(X, y_index, order, batch_size, self._lr),
                                    X.shape[0], batch_size)
            if not np.isfinite(loss):
                warnings.warn(f"training diverged in epoch {self.n_iter_ + 1} (NaN or inf); stopped and kept "
                              "the coefficients from before that epoch. Try a smaller learning_rate_init.",
                              RuntimeWarning, stacklevel=4)
                return Trainer(before, trainer.optimizer, trainer.c), best
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if validation is not None:
                val_loss, val_accuracy = trainer.evaluate(*validation)
                self._val_losses.append(val_loss)
                self.validation_scores_.append(val_accuracy)
                if val_accuracy > self.best_validation_score_:
                    best = trainer.params()
            self._count_no_improvement(validation is not None)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}" + (
                    f", validation score = {self.validation_scores_[-1]:.6f}" if validation is not None else ""))
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                self._lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if incremental:  # partial_fit: one epoch, no stopping rule
                break
            if self._no_improvement_count > self.n_iter_no_change and self._stop_or_slow_down(validation is not None):
                break
            if epoch == self.max_iter - 1:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                              "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
        return trainer, best

    def _epoch_loss(self, trainer, cross_entropy, n_samples, batch_size):
        """The epoch's loss: the batches' mean cross-entropy plus the L2 term.

        The L2 term is what scikit-learn adds per batch, alpha/(2m) sum ||W||^2, averaged
        over the rows, with the weights at the end of the epoch. inf or NaN if training
        diverged.
        """
        n_batches = -(-n_samples // batch_size)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(cross_entropy + self.alpha * n_batches * trainer.squared_weights() / (2 * n_samples))

    def _count_no_improvement(self, early_stopping):
        """scikit-learn's rule: count the epochs whose score did not improve on the best by tol."""
        if early_stopping:
            score = self.validation_scores_[-1]
            worse = score < self.best_validation_score_ + self.tol
            self.best_validation_score_ = max(self.best_validation_score_, score)
        else:
            worse = self.loss_ > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, self.loss_)
        self._no_improvement_count = self._no_improvement_count + 1 if worse else 0

    def _stop_or_slow_down(self, early_stopping):
        """After n_iter_no_change epochs without improvement: True to stop, or (adaptive sgd) slow down."""
        what = "Validation score" if early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver == "sgd" and self.learning_rate == "adaptive" and self._lr > MIN_ADAPTIVE_LR:
            self._lr /= 5
            self._no_improvement_count = 0
            if self.verbose:
                print(f"{message} Setting learning rate to {self._lr:f}")
            return False
        if self.verbose:
            print(f"{message} Stopping.")
        return True

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
        n_layers = len(params) // 2
        self.coefs_ = [params[f"W{layer}"] for layer in range(1, n_layers + 1)]
        self.intercepts_ = [params[f"b{layer}"].reshape(-1) for layer in range(1, n_layers + 1)]

    def _params(self):
        params = {}
        for layer, (W, b) in enumerate(zip(self.coefs_, self.intercepts_), 1):
            params[f"W{layer}"], params[f"b{layer}"] = W, b
        return params

    def _optimizer(self):
        if self.solver == "adam":
            return Optimizer("adam", beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        if self.momentum == 0:
            return Optimizer("sgd")
        return Optimizer("nesterov" if self.nesterovs_momentum else "momentum", momentum=self.momentum)

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
        for name, low, high in [("alpha", 0, np.inf), ("learning_rate_init", 0, np.inf), ("tol", 0, np.inf),
                                ("power_t", 0, np.inf), ("momentum", 0, 1), ("beta_1", 0, 1), ("beta_2", 0, 1),
                                ("validation_fraction", 0, 1), ("epsilon", 0, np.inf)]:
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        for name in ("learning_rate_init", "epsilon"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    # ------------------------------------------------------------ prediction

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        weights, biases = check_params(self._params())
        logits, non_finite = forward_logits(np.ascontiguousarray(X, dtype=weights[0].dtype), weights, biases)
        if non_finite:
            raise FloatingPointError("the logits overflowed (or the coefficients hold NaN or inf)")
        return logits


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
