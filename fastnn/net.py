"""The hand-in's network, of any depth: parameter initialisation and NetClassifier.

Training runs whole epochs in compiled code (`fastnn._kernels._train_epoch`); Python only
draws the shuffle, records the end-of-epoch metrics and decides when to stop.
"""

import time
import warnings

import numpy as np

from . import reference
from ._trainer import Trainer, forward_logits
from ._validation import OVERFLOW_MESSAGE, check_c, check_params, check_X, check_y, raise_non_finite
from .cost import cost_grad
from .optim import Optimizer
from .schedules import make_schedule

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def get_init_params(input_dim, hidden_size, output_size, seed=None, dtype=np.float64):
    """The hand-in's initialisation, for any depth; zero biases.

    The first layer draws W1 ~ N(0, sqrt(2/(d+h1))); every later layer, whose input has
    been through a ReLU, W_l ~ N(0, sqrt(4/(fan_in+fan_out))). With one hidden layer
    that is the hand-in's W1 ~ N(0, sqrt(2/(d+h))), W2 ~ N(0, sqrt(4/(h+k))).

    Parameters
    ----------
    input_dim : int
        d, >= 1.
    hidden_size : int or sequence of int
        The width of the hidden layer, or of each hidden layer in order (h1, h2, ...).
    output_size : int
        k, the number of classes.
    seed : int, numpy Generator or None
        Seed of the random generator (None: fresh entropy).
    dtype : float32 or float64

    Returns
    -------
    dict
        W1 (d, h1), b1 (1, h1), ..., WL (h_{L-1}, k), bL (1, k), all of `dtype`.
    """
    hidden = [hidden_size] if isinstance(hidden_size, (int, np.integer)) else list(hidden_size)
    if not hidden:
        raise ValueError("hidden_size must give at least one hidden layer")
    sizes = [input_dim, *hidden, output_size]
    names = ["input_dim", *(["hidden_size"] * len(hidden)), "output_size"]
    for name, size in zip(names, sizes):
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {size!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        gain = 2 if layer == 1 else 4
        params[f"W{layer}"] = rng.normal(0, np.sqrt(gain / (fan_in + fan_out)), (fan_in, fan_out)).astype(dtype)
        params[f"b{layer}"] = np.zeros((1, fan_out), dtype)
    return params


def _logits(X, params):
    """Validated logits of X under params, computed in bounded-memory chunks."""
    weights, biases = check_params(params)
    X = check_X(X, weights[0].shape[0], weights[0].dtype)
    logits, non_finite = forward_logits(X, weights, biases)
    if non_finite:
        raise_non_finite(X, weights, biases)
        raise FloatingPointError(OVERFLOW_MESSAGE)
    return logits


class NetClassifier:
    """A network of ReLU hidden layers and a softmax output, trained by mini-batch SGD and friends.

    The hand-in's API: ``hist = NetClassifier().fit(X_train, y_train, X_val, y_val,
    init_params)``, then ``predict``, ``predict_proba`` and ``score``. After fit,
    ``params`` holds the parameters of the epoch with the best validation loss (the
    last epoch's without validation data) and ``hist`` the per-epoch metrics.
    """

    cost_grad = staticmethod(cost_grad)

    def __init__(self):
        self.params = None
        self.hist = None
        self.stop_reason = None

    def fit(self, X_train, y_train, X_val=None, y_val=None, init_params=None, batch_size=32, lr=0.1,
            c=1e-4, epochs=30, *, optimizer="sgd", momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8,
            lr_schedule="constant", lr_gamma=0.1, lr_step=10, lr_min=0.0, early_stopping=False,
            patience=5, min_delta=0.0, shuffle=True, seed=None, verbose=False, progress=False,
            callback=None):
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
            improved by more than min_delta for `patience` epochs. The best parameters
            are kept either way.
        shuffle : bool, seed : int or None
            Reshuffle the rows every epoch, from a generator seeded with `seed`. The same
            seed gives bit-identical parameters and history.
        verbose : bool
            Print one line per epoch.
        progress : bool
            Show a tqdm progress bar over the epochs (needs the optional tqdm).
        callback : callable or None
            Called as callback(epoch, hist, params) after each epoch; returning True stops
            training.

        Returns
        -------
        hist : dict
            "train_loss", "train_acc", "val_loss", "val_acc": float64 arrays with one entry
            per completed epoch, measured on the full sets at the end of the epoch. The
            losses are the mean cross-entropy, without the L2 term. Without validation
            data the "val_" arrays are empty.

        Notes
        -----
        Divergence: if a batch or an epoch's metrics meet NaN or inf, training stops with
        a RuntimeWarning; ``params`` keeps the best finite parameters (the initial ones if
        no epoch finished) and ``stop_reason`` is "diverged".

        Interruption: on KeyboardInterrupt (Ctrl-C), ``params`` and ``hist`` are set from
        the epochs completed so far, ``stop_reason`` is "interrupted", and the interrupt is
        re-raised; catch it to go on with the partial model.
        """
        run = _TrainingRun(
            X_train, y_train, X_val, y_val, init_params, batch_size, lr, c, epochs,
            Optimizer(optimizer, momentum, beta1, beta2, eps),
            make_schedule(lr_schedule, lr, epochs, lr_gamma, lr_step, lr_min), seed, shuffle, min_delta,
        )
        if not (isinstance(patience, (int, np.integer)) and patience >= 1):
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        self.stop_reason = "completed"
        bar = _progress_bar(epochs) if progress else None
        try:
            for epoch in range(epochs):
                started = time.perf_counter()
                if not run.train_epoch(epoch):
                    self.stop_reason = "diverged"
                    break
                metrics = run.history_line()
                if verbose:
                    print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                        f"{key} {value:.4f}" for key, value in metrics.items()) +
                        f", lr {run.schedule(epoch):.3g}, {time.perf_counter() - started:.2f} s")
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({key: f"{value:.4f}" for key, value in metrics.items()})
                if callback is not None and callback(epoch, run.history(), run.current_params()):
                    self.stop_reason = "callback"
                    break
                if early_stopping and run.epochs_without_improvement >= patience:
                    self.stop_reason = "early_stopping"
                    break
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            self.params, self.hist = run.best_params(), run.history()
            raise
        finally:
            if bar is not None:
                bar.close()
        if self.stop_reason == "diverged":
            warnings.warn(
                f"training diverged in epoch {len(run.hist['train_loss']) + 1} (NaN or inf); "
                "stopped and kept the best finite parameters. Try a smaller lr.",
                RuntimeWarning, stacklevel=2,
            )
        self.params, self.hist = run.best_params(), run.history()
        return self.hist

    def _params_or_fitted(self, params):
        if params is not None:
            return params
        if self.params is None:
            raise ValueError("this NetClassifier is not fitted: call fit first, or pass params")
        return self.params

    def predict_proba(self, X, params=None):
        """Class probabilities, shape (n, k); each row sums to 1."""
        return reference.softmax(_logits(X, self._params_or_fitted(params)))

    def predict(self, X, params=None):
        """Predicted labels, shape (n,): the argmax of the logits."""
        return np.argmax(_logits(X, self._params_or_fitted(params)), axis=1)

    def score(self, X, y, params=None):
        """Accuracy: the fraction of rows of X whose predicted label equals y."""
        params = self._params_or_fitted(params)
        logits = _logits(X, params)
        y = check_y(y, logits.shape[0], logits.shape[1])
        return float(np.mean(np.argmax(logits, axis=1) == y))


def _progress_bar(total):
    try:
        from tqdm.auto import tqdm
    except ImportError as error:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or fastnn[progress])") from error
    return tqdm(total=total, unit="epoch")


class _TrainingRun:
    """The state of one NetClassifier fit: data, the Trainer, history, best parameters."""

    def __init__(self, X_train, y_train, X_val, y_val, init_params, batch_size, lr, c, epochs,
                 optimizer, schedule, seed, shuffle, min_delta):
        if init_params is None:
            raise ValueError("init_params is required: get_init_params(input_dim, hidden_size, output_size)")
        weights, biases = check_params(init_params)
        dtype, d, k = weights[0].dtype, weights[0].shape[0], weights[-1].shape[1]
        self.X = check_X(X_train, d, dtype)
        self.y = check_y(y_train, self.X.shape[0], k)
        raise_non_finite(self.X, weights, biases)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        self.has_val = X_val is not None
        if self.has_val:
            self.X_val = check_X(X_val, d, dtype)
            self.y_val = check_y(y_val, self.X_val.shape[0], k)
            raise_non_finite(self.X_val, weights, biases)
        if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        c = check_c(c)
        if not (np.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta must be finite and >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.schedule, self.shuffle = schedule, shuffle
        self.batch_size = int(min(batch_size, self.X.shape[0]))
        self.rng = np.random.default_rng(seed)
        self.trainer = Trainer(init_params, optimizer, c)
        self.hist = {key: [] for key in HISTORY_KEYS}
        self.best = self.current_params()
        self.best_loss = np.inf  # lowest monitored loss: decides the best parameters
        self.reference_loss = np.inf  # last loss that improved by more than min_delta
        self.epochs_without_improvement = 0

    def train_epoch(self, epoch):
        """One compiled epoch and its metrics; False if training met NaN or inf."""
        order = self.rng.permutation(self.X.shape[0]) if self.shuffle else np.arange(self.X.shape[0])
        lr = float(self.schedule(epoch))
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"the learning-rate schedule gave {lr} for epoch {epoch}; it must be > 0")
        if np.isnan(self.trainer.run_epoch(self.X, self.y, order, self.batch_size, lr)):
            return False
        metrics = {"train": self.trainer.evaluate(self.X, self.y)}
        if self.has_val:
            metrics["val"] = self.trainer.evaluate(self.X_val, self.y_val)
        if not all(np.isfinite(loss) for loss, _ in metrics.values()):
            return False
        for split, (loss, accuracy) in metrics.items():
            self.hist[f"{split}_loss"].append(loss)
            self.hist[f"{split}_acc"].append(accuracy)
        monitored = metrics["val" if self.has_val else "train"][0]
        if monitored < self.reference_loss - self.min_delta:
            self.reference_loss = monitored
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        # With validation data the best parameters are the best epoch's; without, the last.
        if monitored < self.best_loss or not self.has_val:
            self.best_loss = min(self.best_loss, monitored)
            self.best = self.current_params()
        return True

    def history_line(self):
        return {key: values[-1] for key, values in self.hist.items() if values}

    def history(self):
        return {key: np.array(values, dtype=np.float64) for key, values in self.hist.items()}

    def current_params(self):
        return self.trainer.params()

    def best_params(self):
        return {key: value.copy() for key, value in self.best.items()}
