"""fastnn.MLPClassifier and fastnn.MLPRegressor: scikit-learn's MLP estimators, trained by
fastnn's compiled kernels.

A drop-in for ``sklearn.neural_network``: the same parameters, validated by scikit-learn's
own `_parameter_constraints` mechanism, the same fitted attributes and the same
semantics (initialisation, stopping rules, warm starts, partial_fit, early stopping,
warnings). The network, the optimizers and the training loop are fastnn's
(`fastnn.training`, `fastnn._engine`); L-BFGS is scipy's, driving the compiled cost_grad
over one flat parameter buffer. This module translates scikit-learn's parameter names
into them and adds labels and bookkeeping. Needs scikit-learn.

Where fastnn differs on purpose, the docstrings say so: training stops at the first
epoch that meets NaN or inf (keeping the last finite parameters), the squared error's
gradient is the gradient of the loss reported (scikit-learn's is k times larger for k
outputs), and float32 input trains in float32 with L-BFGS too.
"""

import numbers
import warnings

import numpy as np
import scipy.optimize

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_classifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "fastnn.MLPClassifier and MLPRegressor need scikit-learn >= 1.6: pip install scikit-learn"
    ) from error

from . import _blas_threads, _buffers, _engine, _inputs, _mlp_state, _outputs
from ._validation import ACTIVATIONS, sklearn_interval
from .optim import Optimizer
from .params import check_depth, from_layers, to_layers
from .schedules import Adaptive, Constant, InvScaling
from .training import Monitor, Trainer, TrainingLoop

STOCHASTIC_SOLVERS = ("sgd", "adam")
DIVERGED = ("Solver produced non-finite parameter weights. The input data may contain large values and need to be "
            "preprocessed.")


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, training, prediction, saving."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [sklearn_interval("decay")],
        "batch_size": [StrOptions({"auto"}), sklearn_interval("batch_size")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [sklearn_interval("learning_rate")],
        "power_t": [sklearn_interval("power_t")],
        "max_iter": [sklearn_interval("max_iter")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [sklearn_interval("tol")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [sklearn_interval("momentum")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [sklearn_interval("validation_fraction")],
        "beta_1": [sklearn_interval("beta")],
        "beta_2": [sklearn_interval("beta")],
        "epsilon": [sklearn_interval("epsilon")],
        "n_iter_no_change": [sklearn_interval("patience"), Options(numbers.Real, {np.inf})],
        "max_fun": [sklearn_interval("max_iter")],
    }

    # ------------------------------------------------------------ public API

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on (X, y): up to max_iter epochs (sgd, adam) or iterations (lbfgs); returns self.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier; an indicator matrix for multilabel) or targets.
        sample_weight : array_like, shape (n_samples,), optional
            Per-row weights of the loss (its mean becomes a weighted mean).

        Raises
        ------
        ValueError
            Bad input, or training met NaN or inf without early stopping (the model then
            keeps the parameters of its last finite epoch).
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    @property
    def history_(self):
        """Per epoch: "loss" (loss_curve_), and with early_stopping "val_loss" and the validation score."""
        return {"loss": list(getattr(self, "loss_curve_", [])), "val_loss": list(getattr(self, "_val_losses", [])),
                self._score_name: list(_mlp_state.validation_scores(self))}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------ training

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        # A call that fails before training starts (bad data, a split that leaves a part
        # too small) leaves the estimator as it was.
        before = dict(self.__dict__)
        try:
            data = self._prepare(X, y, sample_weight, incremental, classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        if self.solver == "lbfgs":
            self._fit_lbfgs(*data[:4])
        else:
            self._fit_stochastic(*data, incremental)
        return self

    def _prepare(self, X, y, sample_weight, incremental, classes):
        """Validate, set up the model for this call.

        Returns (X, y, targets, sample_weight, validation) in the model's dtype: the
        training part, and the held-out (X, y, sample_weight) with early stopping, else None.
        """
        sizes = self._hidden_sizes()
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        check_depth(len(sizes) + 1)
        if self.early_stopping and incremental and self.solver in STOCHASTIC_SOLVERS:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if incremental:
            self._first_partial_fit_call(y, classes)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            # Negative weights make a weighted mean meaningless (scikit-learn accepts them).
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        if first_pass:
            self.out_activation_ = self._output_activation()
        Y = self._encode(y)
        self.n_outputs_ = Y.shape[1]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize([X.shape[1], *sizes, self.n_outputs_], X.dtype)
        weights, _ = self._layers()  # coefs_ and intercepts_ may have been assigned
        dtype = weights[0].dtype
        X = _inputs.as_input(X, dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
        targets = self._kernel_targets(Y, dtype)
        if not (self.early_stopping and self.solver in STOCHASTIC_SOLVERS):
            return X, y, targets, sample_weight, None
        train, val = self._validation_split(Y if is_classifier(self) else None, X.shape[0])
        validation = (_take(X, val), y[val], None if sample_weight is None else sample_weight[val])
        return _take(X, train), y[train], targets[train], \
            None if sample_weight is None else sample_weight[train], validation

    def _initialize(self, layer_units, dtype):
        """Fresh coefficients and bookkeeping for a first fit (or a fit without warm_start).

        scikit-learn's initialisation (Glorot's uniform, bound sqrt(6 / (fan_in + fan_out)),
        sqrt(2 / ...) for the logistic activation), drawn from the same random state in
        the same order: the same random_state gives the same initial coefficients.
        """
        self.n_iter_, self.t_ = 0, 0
        self.n_layers_ = len(layer_units)
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(self._random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
        self.loss_ = None
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self._val_losses = []
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf
        self._optimizer_state = None
        self._lr = float(self.learning_rate_init)

    # ------------------------------------------------------------ stochastic solvers

    def _fit_stochastic(self, X, y, targets, sample_weight, validation, incremental):
        self._continue_bookkeeping(validation is not None)
        if not incremental:  # a new fit starts a new optimizer, at learning_rate_init
            self._optimizer_state = None
            self._lr = float(self.learning_rate_init)
        weights, biases = self._layers()
        optimizer = self._optimizer()
        state, step = self._optimizer_state_for(optimizer, weights, biases)
        trainer = Trainer(weights, biases, optimizer, float(self.alpha), state, step,
                                  activation=self.activation, output=self.out_activation_,
                                  loss_range=_engine.clipped_loss_range(weights[0].dtype))
        schedule = self._schedule()
        batch_size = self._batch_size(X.shape[0])
        loop = TrainingLoop(
            trainer, X, targets, batch_size, schedule, self._monitor(validation is not None),
            self._measure(validation), self._random_state, self.shuffle,
            report=self._report, report_stall=self._report_stall(validation is not None, schedule),
            lr_name="learning_rate_init", samples_before=getattr(self, "t_", 0), sample_weight=sample_weight)
        try:
            loop.run(1 if incremental else self.max_iter)
        finally:  # Ctrl-C or an error: keep the completed epochs, consistently, then re-raise
            self._record(loop, trainer, validation is not None)
        if loop.stop_reason == "diverged" and validation is None:
            raise ValueError(f"{DIVERGED} (fastnn kept the parameters of the last epoch without NaN or inf.)")
        if loop.stop_reason == "completed" and not incremental:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=4)

    def _validation_split(self, targets, n_samples):
        """(training rows, validation rows): scikit-learn's split, stratified for binary problems."""
        stratify = None
        if targets is not None and self.n_outputs_ == 1:  # scikit-learn stratifies binary problems only
            stratify = targets
        train, val = train_test_split(np.arange(n_samples), random_state=self._random_state,
                                      test_size=self.validation_fraction, stratify=stratify)
        if len(val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                             "dataset.")
        return train, val

    def _continue_bookkeeping(self, early_stopping):
        """Curves and best values to continue from (a model set up by hand may lack some)."""
        if not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []
        self._val_losses = getattr(self, "_val_losses", [])
        if early_stopping and getattr(self, "validation_scores_", None) is None:
            self.validation_scores_, self.best_validation_score_, self._val_losses = [], -np.inf, []
        if not early_stopping and getattr(self, "best_loss_", None) is None:
            self.best_loss_ = np.inf
        self._no_improvement_count = getattr(self, "_no_improvement_count", 0)
        self._optimizer_state = getattr(self, "_optimizer_state", None)
        self._lr = getattr(self, "_lr", float(self.learning_rate_init))

    def _record(self, loop, trainer, early_stopping):
        """Store what the completed epochs of a run give: coefficients, curves, counters, optimizer state.

        An epoch that met NaN or inf counts as run, with NaN in the curves (as in
        scikit-learn), but its parameters are not kept.
        """
        self._store(loop.params())
        diverged = loop.stop_reason == "diverged"
        nan = [float("nan")] if diverged else []
        losses = loop.history_of("loss").tolist() + nan
        self.n_iter_ = loop.epochs_run + len(nan)
        self.t_ = getattr(self, "t_", 0) + self.n_iter_ * loop.X.shape[0]
        self.loss_curve_.extend(losses)
        if losses:
            self.loss_ = losses[-1]
        if early_stopping:
            self.validation_scores_.extend(loop.history_of("val_score").tolist() + nan)
            self._val_losses.extend(loop.history_of("val_loss").tolist() + nan)
            self.best_validation_score_ = loop.monitor.best
        else:
            self.best_loss_ = loop.monitor.best
        self._no_improvement_count = loop.monitor.count
        self._lr = float(loop.schedule.lr)
        # The optimizer's state goes on only from a cleanly ended run: after a divergence or
        # an interrupt it belongs to parameters that were not kept.
        ended_cleanly = loop.stop_reason in ("completed", "stalled", "callback")
        self._optimizer_state = (trainer.state, trainer.step) if ended_cleanly else None

    def _optimizer(self):
        names = (("momentum", "momentum"), ("beta1", "beta_1"), ("beta2", "beta_2"), ("eps", "epsilon"))
        if self.solver == "adam":
            return Optimizer("adam", beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon, names=names)
        if self.momentum == 0:
            return Optimizer("sgd", names=names)
        return Optimizer("nesterov" if self.nesterovs_momentum else "momentum", momentum=self.momentum, names=names)

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
        """scikit-learn's stopping rule: more than n_iter_no_change epochs that fail to beat the best
        by tol (training loss, or the validation score with early_stopping, whose best epoch is kept)."""
        patience = None if self.n_iter_no_change == np.inf else self.n_iter_no_change
        if early_stopping:
            return Monitor("val_score", "max", self.tol, patience, rule="best", keep="best",
                           best=self.best_validation_score_, count=self._no_improvement_count)
        return Monitor("loss", "min", self.tol, patience, rule="best", keep="last",
                       best=self.best_loss_, count=self._no_improvement_count)

    def _measure(self, validation):
        """The epoch's loss (with scikit-learn's L2 term) and, with validation data, its loss and score."""

        def measure(trainer, batch_loss, penalty):
            # scikit-learn's loss_curve_: each batch's clipped loss plus its L2 term
            # alpha/(2 sum of the batch's weights) sum ||W||^2, with the weights before the
            # batch's update, averaged over the rows.
            with np.errstate(over="ignore", invalid="ignore"):
                metrics = {"loss": float(batch_loss + 0.5 * self.alpha * penalty)}
            if validation is not None:
                X_val, y_val, weight_val = validation
                status, logits = trainer.logits(X_val)
                if status != _engine.OK:
                    return None
                losses = _outputs.row_losses(logits, self._kernel_targets(self._encode(y_val), logits.dtype),
                                             self.out_activation_)
                with np.errstate(over="ignore", invalid="ignore"):
                    metrics["val_loss"] = float(np.average(losses, weights=weight_val))
                    metrics["val_score"] = self._validation_score(y_val, self._from_logits(logits), weight_val)
            return metrics

        return measure

    def _report(self, epoch, metrics, lr, seconds):
        if self.verbose:
            print(f"Iteration {epoch + 1}, loss = {metrics['loss']:.8f}")
            if "val_score" in metrics:
                print(f"Validation score: {metrics['val_score']:f}")

    def _report_stall(self, early_stopping, schedule):
        def report(slowed_down):
            if self.verbose:
                what = "Validation score" if early_stopping else "Training loss"
                print(f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} "
                      "consecutive epochs. " + (f"Setting learning rate to {schedule.lr:f}" if slowed_down
                                                else "Stopping."))
        return report

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          UserWarning, stacklevel=5)
        return int(np.clip(self.batch_size, 1, n_samples))

    # ------------------------------------------------------------ L-BFGS

    def _fit_lbfgs(self, X, y, targets, sample_weight):
        """scipy's L-BFGS-B over one flat parameter buffer, scikit-learn's stopping rules and warning.

        The compiled cost_grad reads the layers as views into the buffer scipy evaluates
        (float64) and writes the gradient into a flat buffer: no packing or unpacking per
        evaluation. A float32 model is evaluated in float32 (one conversion of the buffer
        each way).
        """
        weights, biases = self._layers()
        dtype = weights[0].dtype
        size = _buffers.n_parameters(weights, biases)
        start = np.empty(size, np.float64)
        for view, array in zip(sum(_buffers.layer_views(start, weights, biases), ()), (*weights, *biases)):
            view[...] = array
        scratch = None if dtype == np.float64 else np.empty(size, dtype)
        alpha = float(self.alpha)
        loss_range = _engine.clipped_loss_range(dtype)  # scikit-learn's objective: the clipped log-loss

        def loss_and_gradient(flat):
            scipy_blas.raise_if_interrupted()  # Ctrl-C is held by scipy_blas_on_one_thread
            if scratch is not None:
                scratch[:] = flat
                flat = scratch
            W, b = _buffers.layer_views(flat, weights, biases)
            gradient = np.empty(size, dtype)
            status, cost, _, _ = _engine.cost_grad(X, targets, W, b, alpha, activation=self.activation,
                                                   output=self.out_activation_, sample_weight=sample_weight,
                                                   gradient=gradient, loss_range=loss_range)
            if status != _engine.OK:  # L-BFGS-B's line search backs off from an infinite cost
                return np.inf, np.zeros(size)
            return cost, gradient.astype(np.float64, copy=False)

        with _blas_threads.scipy_blas_on_one_thread() as scipy_blas:
            result = scipy.optimize.minimize(loss_and_gradient, start, method="L-BFGS-B", jac=True,
                                             options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                                      "gtol": self.tol})
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        W, b = _buffers.layer_views(result.x, weights, biases)
        self.coefs_ = [w.astype(dtype) for w in W]
        self.intercepts_ = [v.astype(dtype) for v in b]
        if self.verbose:
            print(f"L-BFGS-B: {result.nit} iterations, {result.nfev} evaluations, loss = {self.loss_:.8f}")
        if result.status != 0:  # scikit-learn's message (sklearn.utils.optimize._check_optimize_result)
            message = result.message.decode() if isinstance(result.message, bytes) else result.message
            advice = (f"\nIncrease the number of iterations to improve the convergence (max_iter={self.max_iter})."
                      if self.n_iter_ == self.max_iter else "")
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}):\n"
                          f"{message}\n{advice}\nYou might also want to scale the data as shown in:\n"
                          "    https://scikit-learn.org/stable/modules/preprocessing.html",
                          ConvergenceWarning, stacklevel=4)
        if not np.isfinite(self.loss_):
            raise ValueError(DIVERGED)

    # ------------------------------------------------------------ the network

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        return list(sizes) if hasattr(sizes, "__iter__") else [sizes]

    def _store(self, params):
        weights, biases = to_layers(params)
        self.coefs_, self.intercepts_ = list(weights), list(biases)

    def _params(self):
        return from_layers(self.coefs_, self.intercepts_)

    def _layers(self):
        """The validated (weights, biases) of coefs_ and intercepts_, which must fit the data and the outputs.

        Users may assign coefs_ and intercepts_; a network whose widths disagree with
        n_features_in_ or n_outputs_ would make the kernels index past the logits.
        """
        weights, biases = to_layers(self._params())
        if weights[0].shape[0] != self.n_features_in_ or weights[-1].shape[1] != self.n_outputs_:
            raise ValueError(f"coefs_ take {weights[0].shape[0]} features to {weights[-1].shape[1]} outputs, but the "
                             f"model has {self.n_features_in_} features and {self.n_outputs_} outputs")
        return weights, biases

    # ------------------------------------------------------------ prediction

    def _logits(self, X):
        """The output layer's pre-activation, in the dtype of X and the coefficients combined (as NumPy would)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32])
        weights, biases = self._layers()
        dtype = np.result_type(X.dtype, weights[0].dtype)
        if weights[0].dtype != dtype:
            weights, biases = tuple(W.astype(dtype) for W in weights), tuple(b.astype(dtype) for b in biases)
        status, logits = _engine.logits(_inputs.as_input(X, dtype), weights, biases, self.activation)
        if status != _engine.OK:
            raise FloatingPointError("the logits overflowed (or the coefficients hold NaN or inf)")
        return logits

    # ------------------------------------------------------------ interoperability and files (fastnn._mlp_state)

    def to_sklearn(self):
        """The fitted scikit-learn estimator with this model's parameters and fitted state.

        Its predictions are this model's (computed by NumPy instead of fastnn's kernels),
        so a model trained with fastnn deploys wherever scikit-learn's does (pickle,
        ONNX through skl2onnx, ...).
        """
        return _mlp_state.to_sklearn(self)

    @classmethod
    def from_sklearn(cls, estimator):
        """A fastnn model from a fitted ``sklearn.neural_network`` estimator of the same kind.

        Raises
        ------
        TypeError
            estimator is not scikit-learn's estimator of this kind.
        sklearn.exceptions.NotFittedError
            estimator is not fitted.
        """
        return _mlp_state.from_sklearn(cls, estimator)

    def _file_contents(self):
        return _mlp_state.file_contents(self)

    @classmethod
    def _from_file_contents(cls, params, arrays, metadata):
        return _mlp_state.from_file_contents(cls, params, arrays, metadata)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier, trained by fastnn's compiled kernels.

    A drop-in for ``sklearn.neural_network.MLPClassifier`` (scikit-learn 1.9): the same
    parameters, attributes and semantics. Multiclass problems have a softmax output and
    the cross-entropy; binary problems one logistic output; multilabel indicator targets
    one logistic output per label. float32 input trains and predicts in float32; any
    other input in float64.

    Parameters
    ----------
    hidden_layer_sizes : int or array_like of int, default (100,)
        The width of each hidden layer; () gives a network without hidden layers (a
        multinomial or binary logistic regression).
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        The hidden layers' activation.
    solver : {"lbfgs", "sgd", "adam"}, default "adam"
        lbfgs: scipy's L-BFGS-B on the whole training set (max_iter iterations, max_fun
        evaluations of the loss, tol on the projected gradient).
    alpha : float, default 1e-4
        L2 penalty: the loss of m rows with weights s adds alpha/(2 sum s) sum ||W||^2.
    batch_size : int or "auto", default "auto"
        Rows per step; "auto" is min(200, n_samples); larger values are clipped.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The sgd schedule: invscaling uses learning_rate_init / (t + 1) ** power_t, with t
        the samples seen; adaptive divides the rate by 5 whenever n_iter_no_change epochs
        fail to improve by tol, and stops below 1e-6.
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
    max_iter : int, default 200
        Epochs (sgd, adam) or iterations (lbfgs) of one fit.
    shuffle : bool, default True
    random_state : int, RandomState or None
        Seeds the initialisation, the shuffles and the validation split; the same value
        gives scikit-learn's initial coefficients.
    tol : float, default 1e-4
    verbose : bool or int, default False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default False
        fit continues from the current coefficients (with a fresh optimizer); y must
        have the classes of the previous fit.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out validation_fraction of the training data (stratified for binary
        problems), stop when its accuracy has not improved by tol for more than
        n_iter_no_change epochs, and keep the coefficients of the best epoch.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    n_iter_no_change : int or np.inf, default 10
    max_fun : int, default 15000
        lbfgs: the most evaluations of the loss.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (for multilabel targets, 0 .. n_labels - 1).
    coefs_, intercepts_ : list of ndarray
        coefs_[i] is the weight matrix of layer i + 1, intercepts_[i] its bias.
    loss_ : float
    loss_curve_ : list of float
        sgd and adam: per epoch, the mean over the epoch's rows of each batch's loss,
        plus the L2 term.
    validation_scores_ : list of float or None
        Per epoch, the accuracy on the held-out set (early_stopping only).
    best_validation_score_, best_loss_ : float or None
    history_ : dict of lists
        "loss" (loss_curve_), "val_loss" (mean loss on the held-out set) and
        "val_accuracy" (validation_scores_).
    n_iter_ : int
        Epochs (or lbfgs iterations) of the last fit or partial_fit call.
    t_ : int
        Training samples seen so far (by the stochastic solvers).
    n_features_in_, n_layers_, n_outputs_ : int
    out_activation_ : str
        "softmax" (multiclass) or "logistic" (binary, multilabel).
    """

    _score_name = "val_accuracy"
    _OUTPUT_ACTIVATIONS = ("softmax", "logistic")

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        _set_parameters(self, locals())

    @available_if(lambda estimator: estimator._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current state; returns self.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array_like, shape (n_samples,), optional
        classes : array_like, shape (n_classes,)
            Every class label, required on the first call (y need not hold all of them).
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """The most probable class label of each row (an indicator matrix for multilabel models)."""
        return self._from_logits(self._logits(X))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of classes_.

        Binary models have one logistic output z: the columns are sigmoid(-z) and sigmoid(z).
        """
        return self._probabilities(self._logits(X))

    def predict_log_proba(self, X):
        """log(predict_proba(X)); where a probability underflows to 0, its log computed in log space."""
        logits = self._logits(X)
        probabilities = self._probabilities(logits)
        with np.errstate(divide="ignore"):
            log_probabilities = np.log(probabilities)
        underflowed = probabilities == 0
        if underflowed.any():
            if self.out_activation_ == "softmax":
                exact = _outputs.log_softmax(logits)
            else:
                z = np.hstack([-logits, logits]) if self.n_outputs_ == 1 else logits
                exact = -np.logaddexp(0, -z)
            log_probabilities[underflowed] = exact[underflowed]
        return log_probabilities

    def _probabilities(self, logits):
        if self.out_activation_ == "softmax":
            return _outputs.output_value(logits, "softmax")
        if self.n_outputs_ == 1:
            return np.hstack([_outputs.output_value(-logits, "logistic"), _outputs.output_value(logits, "logistic")])
        return _outputs.output_value(logits, "logistic")

    def _from_logits(self, logits):
        """Labels from logits, as scikit-learn's LabelBinarizer decodes the outputs."""
        if self.out_activation_ == "softmax":
            return self.classes_[np.argmax(logits, axis=1)]
        values = _outputs.output_value(logits, "logistic")
        return self._binarizer().inverse_transform(values.ravel() if self.n_outputs_ == 1 else values)

    def _validation_score(self, y, predictions, sample_weight):
        return float(accuracy_score(y, predictions, sample_weight=sample_weight))

    # ------------------------------------------------------------ labels

    def _first_partial_fit_call(self, y, classes):
        """On the first partial_fit call, set classes_ from `classes`; later, check `classes` is the same."""
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            if getattr(self, "classes_", None) is not None:
                if not np.array_equal(self.classes_, unique_labels(classes)):
                    raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                                     f"{self.classes_!r}")
            else:
                self._label_binarizer = LabelBinarizer()
                is_multilabel = type_of_target(y).startswith("multilabel")
                self._label_binarizer.fit(y if is_multilabel else classes)
                self.classes_ = self._label_binarizer.classes_

    def _validate_input(self, X, y, incremental, reset):
        """(X, y, y binarized) checked; sets or checks classes_ as scikit-learn does."""
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' "
                                 f"has {classes}.")
        return X, y

    def _encode(self, y):
        """y as the outputs' 0/1 indicators (n_samples, n_outputs), bool."""
        Y = self._binarizer().transform(y).astype(bool)
        # two softmax outputs (a file that predates logistic ones)
        if self.out_activation_ == "softmax" and Y.shape[1] == 1:
            Y = np.hstack([~Y, Y])
        return Y

    def _binarizer(self):
        if getattr(self, "_label_binarizer", None) is None:
            self._label_binarizer = _binarizer_for(self.classes_, self.out_activation_, self.n_outputs_)
        return self._label_binarizer

    def _output_activation(self):
        return "softmax" if self._binarizer().y_type_ == "multiclass" else "logistic"


    def _kernel_targets(self, Y, dtype):
        """Softmax: the labels' indices (int64); logistic: the 0/1 indicators in the model's dtype."""
        if self.out_activation_ == "softmax":
            return np.argmax(Y, axis=1).astype(np.int64)
        return np.ascontiguousarray(Y, dtype=dtype)

    def _restore_classes(self, classes, out_activation, n_outputs):
        expected = n_outputs if out_activation == "softmax" or n_outputs > 1 else (1, 2)
        if (classes.ndim != 1 or len(classes) not in np.atleast_1d(expected)
                or not np.array_equal(np.unique(classes), classes)):
            raise ValueError(f"classes must be sorted, distinct labels for {n_outputs} outputs, got {classes.shape}")
        self.classes_ = classes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor, trained by fastnn's compiled kernels.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` (scikit-learn 1.9). The
    parameters are MLPClassifier's, with the loss first.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        squared_error: an identity output and half the squared error, averaged over the
        outputs (its gradient is that loss's: scikit-learn's is k times larger for k
        outputs). poisson: an exponential output and half the Poisson deviance.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
    warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
    beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        As for `MLPClassifier`; early stopping monitors the R^2 of the held-out set.

    Attributes
    ----------
    coefs_, intercepts_, loss_, loss_curve_, validation_scores_, best_validation_score_,
    best_loss_, n_iter_, t_, n_features_in_, n_layers_, n_outputs_
        As for `MLPClassifier`.
    history_ : dict of lists
        "loss", "val_loss" and "val_r2" (validation_scores_).
    out_activation_ : str
        "identity" (squared_error) or "exp" (poisson).
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}
    _score_name = "val_r2"
    _OUTPUT_ACTIVATIONS = ("identity", "exp")

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        _set_parameters(self, locals())

    @available_if(lambda estimator: estimator._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current state; returns self.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like, shape (n_samples,), optional
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        return self._from_logits(self._logits(X))

    def _from_logits(self, logits):
        values = _outputs.output_value(logits, self.out_activation_)
        return values.ravel() if values.shape[1] == 1 else values

    def _validation_score(self, y, predictions, sample_weight):
        if not np.all(np.isfinite(predictions)):
            return float("nan")
        return float(r2_score(y, predictions, sample_weight=sample_weight))

    def _first_partial_fit_call(self, y, classes):
        pass

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _encode(self, y):
        return np.asarray(y).reshape(len(y), -1)

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"


    def _kernel_targets(self, Y, dtype):
        return np.ascontiguousarray(Y, dtype=dtype)


def _set_parameters(estimator, values):
    """Store __init__'s arguments untouched, as scikit-learn's estimators do."""
    for name, value in values.items():
        if name != "self":
            setattr(estimator, name, value)


def _take(X, rows):
    """The given rows of a validated X (dense, or `fastnn._inputs.CheckedSparse`)."""
    return X.take(rows) if isinstance(X, _inputs.CheckedSparse) else X[rows]


def _binarizer_for(classes, out_activation, n_outputs):
    """A fitted LabelBinarizer that encodes and decodes these classes as the model's outputs do."""
    binarizer = LabelBinarizer()
    if out_activation == "logistic" and n_outputs > 1:  # multilabel: one indicator column per label
        return binarizer.fit(np.eye(n_outputs, dtype=int))
    return binarizer.fit(classes)
