"""NetClassifier: the hand-in's training API, for a network of any depth.

A thin translator: its parameter names become the training loop's schedule, monitor and
measurements (`fastnn.training`); the epochs run in compiled code (`fastnn._engine`).
"""

import numpy as np

from . import _engine, _outputs
from ._progress import progress_bar
from ._validation import (
    ACTIVATIONS,
    OVERFLOW_MESSAGE,
    check_c,
    check_choice,
    check_hyperparameter,
    check_sample_weight,
    check_X,
    check_y,
    raise_non_finite,
)
from .cost import cost_grad
from .optim import Optimizer
from .params import get_init_params, to_layers  # noqa: F401  (get_init_params: re-exported)
from .scaling import apply_scaling, check_scaling
from .schedules import make_schedule
from .training import Monitor, Trainer, TrainingLoop

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def _logits(X, params, activation, scaling=None):
    """Validated logits of X (scaled by `scaling`) under params and the hidden activation, in bounded-memory chunks."""
    weights, biases = to_layers(params)
    scaling = check_scaling(scaling, weights[0].shape[0])
    X = apply_scaling(check_X(X, weights[0].shape[0], weights[0].dtype), scaling)
    status, logits = _engine.logits(X, weights, biases, activation)
    if status != _engine.OK:
        raise_non_finite(X, weights, biases)
        raise FloatingPointError(OVERFLOW_MESSAGE)
    return logits


class NetClassifier:
    """A network of hidden layers (ReLU by default) and a softmax output, trained by mini-batch SGD and friends.

    The hand-in's API: ``hist = NetClassifier().fit(X_train, y_train, X_val, y_val,
    init_params)``, then ``predict``, ``predict_proba`` and ``score``. After fit,
    ``params`` holds the parameters of the epoch with the best validation loss (the
    last epoch's without validation data) and ``hist`` the per-epoch metrics.
    ``activation`` is the hidden layers' activation the parameters were trained with
    ("relu" until a fit chooses another); predictions use it.

    Labels are class indices 0..k-1. Two optional attributes travel with a saved model:
    ``classes`` (the labels the indices stand for, when they are not 0..k-1: names,
    or other numbers) and ``trained_on`` (a dict describing the training data, as the
    command line records it). Neither changes what ``predict`` returns.

    ``feature_scaling`` (None, or a `fastnn.scaling.FeatureScaling` set before fit: the
    command line's ``--scale``) is part of the model, as a Keras Normalization layer
    is: fit, predict, predict_proba and score see (X - offset) / scale instead of X,
    and it is saved with the model.
    """

    cost_grad = staticmethod(cost_grad)

    def __init__(self):
        self.params = None
        self.activation = "relu"
        self.hist = None
        self.stop_reason = None
        self.classes = None
        self.trained_on = None
        self.feature_scaling = None

    def fit(self, X_train, y_train, X_val=None, y_val=None, init_params=None, batch_size=32, lr=0.1,
            c=1e-4, epochs=30, *, optimizer="sgd", momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8,
            lr_schedule="constant", lr_gamma=0.1, lr_step=10, lr_min=0.0, early_stopping=False,
            patience=5, min_delta=0.0, shuffle=True, seed=None, verbose=False, progress=False,
            callback=None, activation="relu", sample_weight=None, metrics="full"):
        """Train on (X_train, y_train), measuring both sets after every epoch.

        Parameters
        ----------
        X_train : array_like, shape (n, d)
        y_train : array_like of int, shape (n,), labels in [0, k)
        X_val, y_val : array_like or None
            Validation data; None for none.
        init_params : dict
            W1, b1, ..., WL, bL as from `get_init_params`; the depth is theirs. Never modified: training works on
            a copy, in the parameters' dtype (float32 data trains in float32).
        batch_size : int, default 32
            Rows per step; the last batch of an epoch may be smaller (its loss is the mean
            over its own rows).
        lr : float, default 0.1
            Initial learning rate.
        c : float, default 1e-4
            Weight decay, as in cost_grad.
        epochs : int, default 30
        optimizer : {"sgd", "momentum", "nesterov", "adam"}
            With momentum / beta1, beta2, eps (see `fastnn.optim.Optimizer`).
        lr_schedule : {"constant", "step", "exponential", "cosine"} or callable
            Per epoch, with lr_gamma, lr_step, lr_min (see `fastnn.schedules.make_schedule`).
        early_stopping : bool
            Stop once the monitored loss (validation loss, else training loss) has not
            improved by more than min_delta for `patience` epochs. With validation data
            the best epoch's parameters are kept either way; without, the last epoch's.
        shuffle : bool, seed : int or None
            Reshuffle the rows every epoch, from a generator seeded with `seed`. The same
            seed gives bit-identical parameters and history.
        verbose : bool
            Print one line per epoch.
        progress : bool
            Show a progress bar within each epoch, on stderr (tqdm's if it is installed,
            else a plain one); the verbose lines print through it.
        callback : callable or None
            Called as callback(epoch, hist, params) after each epoch; returning True stops
            training.
        activation : {"relu", "tanh", "logistic", "identity"}
            The hidden layers' activation.
        sample_weight : array_like, shape (n,), optional
            Per-row weights of the training data (finite, >= 0, not all 0): each batch's
            loss is their weighted mean, as in `cost_grad`. The history stays unweighted
            (but for the running training loss of ``metrics="running"``).
        metrics : {"full", "running"}
            How the training metrics are measured. "full" (the hand-in's history): loss
            and accuracy over the whole training set after each epoch, one extra forward
            pass over it. "running" (Keras' and scikit-learn's loss): the training loss is
            the mean of the batch losses seen during the epoch, each before its update,
            which costs nothing; the training accuracy is not measured. The validation
            metrics are measured on the full validation set either way.

        Returns
        -------
        hist : dict
            "train_loss", "train_acc", "val_loss", "val_acc": float64 arrays with one entry
            per completed epoch (see `metrics`). The losses are the mean cross-entropy,
            without the L2 term. Without validation data the "val_" arrays are empty, and
            with ``metrics="running"`` the "train_acc" array.

        Notes
        -----
        Divergence: if a batch or an epoch's metrics meet NaN or inf, training stops with
        a RuntimeWarning; ``params`` keeps the parameters of the best completed epoch (with
        validation data) or of the last (without; the initial ones if no epoch finished)
        and ``stop_reason`` is "diverged".

        Interruption: on KeyboardInterrupt (Ctrl-C), or an exception raised by the
        callback, ``params`` and ``hist`` are set from the epochs completed so far,
        ``stop_reason`` is "interrupted" (or "error"), and the exception propagates;
        catch it to go on with the partial model.
        """
        activation = check_choice("activation", activation, ACTIVATIONS)
        running = check_choice("metrics", metrics, ("full", "running")) == "running"
        data = _FitData(X_train, y_train, X_val, y_val, init_params, self.feature_scaling)
        sample_weight = check_sample_weight(sample_weight, data.X.shape[0], data.X.dtype)
        batch_size = check_hyperparameter("batch_size", batch_size)
        patience = check_hyperparameter("patience", patience)
        epochs = check_hyperparameter("epochs", epochs)
        c = check_c(c)
        optimizer = Optimizer(optimizer, momentum, beta1, beta2, eps)
        schedule = make_schedule(lr_schedule, lr, epochs, lr_gamma, lr_step, lr_min)
        monitor = Monitor("val_loss" if data.has_val else "train_loss", "min",
                          tol=check_hyperparameter("min_delta", min_delta, "tol"),
                          patience=patience if early_stopping else None,
                          keep="best" if data.has_val else "last")
        trainer = Trainer(*data.layers, optimizer, c, activation=activation)
        bar = progress_bar(data.X.shape[0], "row", f"epoch 1/{epochs}") if progress else None

        def report(epoch, metrics, lr, seconds):
            if verbose:
                line = (f"epoch {epoch + 1}/{epochs}: "
                        + ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
                        + f", lr {lr:.3g}, {seconds:.3f} s")
                bar.write(line) if bar is not None else print(line, flush=True)
            if bar is not None:
                bar.reset()
                bar.set_description(f"epoch {epoch + 2}/{epochs}")

        def show_progress(rows_done, rows_total):
            bar.update(rows_done - bar.n)

        def user_callback(epoch, loop):
            return callback(epoch, _history(loop), loop.last_params())

        loop = TrainingLoop(trainer, data.X, data.y, int(min(batch_size, data.X.shape[0])), schedule, monitor,
                            data.measure_running if running else data.measure, np.random.default_rng(seed), shuffle,
                            callback=None if callback is None else user_callback, report=report,
                            progress=None if bar is None else show_progress, sample_weight=sample_weight)
        try:
            loop.run(epochs, stacklevel=3)
        finally:  # an interrupt or an error keeps the completed epochs, then propagates
            if bar is not None:
                bar.close()
            self.params, self.hist = _with_shapes(loop.params(), init_params), _history(loop)
            self.activation = activation
            self.stop_reason = {"stalled": "early_stopping"}.get(loop.stop_reason, loop.stop_reason)
        return self.hist

    # ------------------------------------------------------------ saving (fastnn.io)

    def _file_contents(self):
        """(params, arrays, metadata) for `fastnn.io.save`: the parameters, the history, the stop reason."""
        if self.params is None:
            raise ValueError("this NetClassifier is not fitted: there is nothing to save")
        arrays = {f"hist_{key}": np.asarray(self.hist[key], dtype=np.float64) for key in HISTORY_KEYS}
        if self.classes is not None:
            from .io import label_array

            arrays["classes"] = label_array(self.classes)
        metadata = {"stop_reason": self.stop_reason, "trained_on": self.trained_on}
        if self.activation != "relu":  # files of the default stay readable by older versions
            metadata["activation"] = self.activation
        if self.feature_scaling is not None:
            scaling = check_scaling(self.feature_scaling, self.params["W1"].shape[0])
            arrays["scaling_offset"], arrays["scaling_scale"] = scaling.offset, scaling.scale
        return self.params, arrays, metadata

    @classmethod
    def _from_file_contents(cls, params, arrays, metadata):
        """A NetClassifier from what `_file_contents` gave, checked by `fastnn.io.load`."""
        from .io import curve_entry

        model = cls()
        model.params = params
        model.hist = {key: curve_entry(arrays, f"hist_{key}") for key in HISTORY_KEYS}
        stop_reason = metadata.get("stop_reason")
        if not (stop_reason is None or isinstance(stop_reason, str)):
            raise TypeError(f"stop_reason must be a string, got {type(stop_reason).__name__}")
        model.stop_reason = stop_reason
        model.activation = check_choice("activation", metadata.get("activation", "relu"), ACTIVATIONS)
        if "classes" in arrays:
            classes, k = arrays["classes"], params[f"W{len(params) // 2}"].shape[1]
            if classes.shape != (k,) or len(np.unique(classes)) != k:
                raise ValueError(f"classes must be {k} distinct labels, got shape {classes.shape}")
            model.classes = classes
        trained_on = metadata.get("trained_on")
        if not (trained_on is None or isinstance(trained_on, dict)
                and all(isinstance(value, (str, int, float, bool, type(None))) for value in trained_on.values())):
            raise TypeError("trained_on must be a dict of plain values")
        model.trained_on = trained_on
        if ("scaling_offset" in arrays) != ("scaling_scale" in arrays):
            raise ValueError("the feature scaling needs both scaling_offset and scaling_scale")
        if "scaling_offset" in arrays:
            model.feature_scaling = check_scaling((arrays["scaling_offset"], arrays["scaling_scale"]),
                                                  params["W1"].shape[0])
        return model

    def _params_or_fitted(self, params):
        if params is not None:
            return params
        if self.params is None:
            raise ValueError("this NetClassifier is not fitted: call fit first, or pass params")
        return self.params

    def _logits(self, X, params):
        return _logits(X, self._params_or_fitted(params), self.activation, self.feature_scaling)

    def predict_proba(self, X, params=None):
        """Class probabilities, shape (n, k); each row sums to 1."""
        return _outputs.output_value(self._logits(X, params), "softmax")

    def predict(self, X, params=None):
        """Predicted labels, shape (n,): the argmax of the logits."""
        return np.argmax(self._logits(X, params), axis=1)

    def score(self, X, y, params=None):
        """Accuracy: the fraction of rows of X whose predicted label equals y."""
        logits = self._logits(X, params)
        y = check_y(y, logits.shape[0], logits.shape[1])
        return float(np.mean(np.argmax(logits, axis=1) == y))


def _history(loop):
    """NetClassifier's hist: one float64 array per metric, an entry per completed epoch."""
    return {key: loop.history_of(key) for key in HISTORY_KEYS}


def _with_shapes(params, like):
    """params with each bias shaped as the same key of `like` ((1, h) or (h,))."""
    return {key: value.reshape(np.shape(like[key])) for key, value in params.items()}


class _FitData:
    """The validated data of one fit, and the end-of-epoch measurements on it."""

    def __init__(self, X_train, y_train, X_val, y_val, init_params, scaling=None):
        if init_params is None:
            raise ValueError("init_params is required: get_init_params(input_dim, hidden_size, output_size)")
        self.layers = weights, biases = to_layers(init_params)
        dtype, d, k = weights[0].dtype, weights[0].shape[0], weights[-1].shape[1]
        scaling = check_scaling(scaling, d)
        self.X = apply_scaling(check_X(X_train, d, dtype), scaling)
        self.y = check_y(y_train, self.X.shape[0], k)
        raise_non_finite(self.X, weights, biases)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        self.has_val = X_val is not None
        if self.has_val:
            self.X_val = apply_scaling(check_X(X_val, d, dtype), scaling)
            self.y_val = check_y(y_val, self.X_val.shape[0], k)
            raise_non_finite(self.X_val, weights, biases)

    def measure(self, trainer, batch_loss, penalty, train=True):
        """The hand-in's history: loss and accuracy on the full sets after the epoch; None on NaN or inf.

        Without `train`, the validation set's only. batch_loss and penalty are unused
        (the epoch's running figures, `fastnn.training.TrainingLoop`).
        """
        splits = ([("train", self.X, self.y)] if train else []) + (
            [("val", self.X_val, self.y_val)] if self.has_val else [])
        metrics = {}
        for split, X, y in splits:
            status, loss, accuracy = trainer.evaluate(X, y)
            if status != _engine.OK:
                return None
            metrics[f"{split}_loss"], metrics[f"{split}_acc"] = loss, accuracy
        return metrics

    def measure_running(self, trainer, batch_loss, penalty):
        """The running training loss (the epoch's mean batch loss, without weight decay) and the validation set's
        metrics."""
        validation = self.measure(trainer, batch_loss, penalty, train=False)
        return None if validation is None else {"train_loss": float(batch_loss), **validation}
