"""The one training loop behind every estimator.

Each epoch runs in compiled code (`Trainer.run_epoch`, through `fastnn._engine.train_epoch`); this loop
shuffles the row order, asks the schedule for the rate, has the estimator measure the epoch, lets
the monitor decide what is best and whether progress stalls, and keeps the parameters
to end with. Its policies hold for every estimator:

- Divergence: NaN or inf in a batch or in the epoch's metrics stops training with a
  RuntimeWarning; the run ends with the parameters the monitor keeps (the best or the
  last completed epoch's, the initial ones if none completed), stop reason "diverged".
- Interruption: an exception raised during training (Ctrl-C's KeyboardInterrupt, or an
  error in a callback) leaves the loop holding the completed epochs (history, kept
  parameters, stop reason "interrupted" or "error"), then propagates; the estimator
  stores them before it re-raises.
- Stalls: after `patience` epochs without improvement the schedule may slow down
  (scikit-learn's adaptive rate); otherwise training stops.
"""

import math
import time
import warnings

import numpy as np

from . import _engine, _outputs
from ._buffers import check, check_buffers, check_layers, step_buffers
from ._engine import EXACT_LOSS_RANGE, NON_FINITE, OK
from ._inputs import CheckedSparse, input_fits
from .params import from_layers

PROGRESS_STEPS = 50  # progress reports per epoch, at most


class Monitor:
    """What decides the best epoch, and when progress stalls.

    Parameters
    ----------
    key : str
        The metric monitored (a key of the metrics an estimator measures).
    mode : {"min", "max"}
        Whether lower or higher is better.
    tol : float
        The improvement that counts as progress.
    patience : int, float or None
        Epochs without progress before the stall action (None: never).
    rule : {"reference", "best"}
        "reference" (Keras' EarlyStopping): progress means beating the value of the last
        epoch that made progress by more than tol. "best" (scikit-learn's MLP): progress
        means reaching the best value so far improved by tol (an epoch that equals the
        best counts when tol is 0), and training stalls after more than `patience` epochs
        without it.
    keep : {"best", "last"}
        The parameters a run ends with: the best epoch's (the last epoch's if no epoch
        was best) or the last completed epoch's.
    best, count : float, int
        Where to start from (an estimator continuing an earlier fit).
    """

    def __init__(self, key, mode="min", tol=0.0, patience=None, rule="reference", keep="best",
                 best=None, count=0):
        self.key, self.mode, self.tol, self.patience, self.rule, self.keep = key, mode, tol, patience, rule, keep
        worst = math.inf if mode == "min" else -math.inf
        self.best = worst if best is None else best
        self.reference = self.best
        self.count = count

    def _better(self, value, than, margin=0.0):
        return value < than - margin if self.mode == "min" else value > than + margin

    def _at_least(self, value, than, margin):
        return value <= than - margin if self.mode == "min" else value >= than + margin

    def update(self, metrics):
        """Record one epoch's metrics; return True if it is the best epoch so far."""
        value = metrics[self.key]
        if self.rule == "best":
            progress = self._at_least(value, self.best, self.tol)
        else:
            progress = self._better(value, self.reference, self.tol)
            if progress:
                self.reference = value
        self.count = 0 if progress else self.count + 1
        is_best = self._better(value, self.best)
        if is_best:
            self.best = value
        return is_best

    def stalled(self):
        """True once progress has stalled for `patience` epochs (more than that under rule "best")."""
        if self.patience is None:
            return False
        return self.count > self.patience if self.rule == "best" else self.count >= self.patience


def best_is_known(monitor):
    """Whether the monitor starts from a best value of an earlier run (not the worst possible)."""
    return math.isfinite(monitor.best)


class TrainingLoop:
    """One training run: epochs of a `fastnn.training.Trainer` under a schedule and a monitor.

    Parameters
    ----------
    trainer : fastnn.training.Trainer
    X, y : ndarray
        Validated training data (C-contiguous, the trainer's dtype) and its targets as
        the trainer's output takes them (int64 labels for softmax).
    batch_size : int
    schedule : a schedule of `fastnn.schedules`
    monitor : Monitor
    measure : callable
        measure(trainer, batch_loss, penalty) -> dict of the epoch's metrics (floats), or
        None if they met NaN or inf. batch_loss is the epoch's mean batch loss, penalty
        the same mean of each batch's weight-decay sums (`Trainer.run_epoch`, through `fastnn._engine.train_epoch`).
    rng : numpy Generator or RandomState
        Draws the shuffles.
    shuffle : bool
        Shuffle the rows before each epoch: each epoch permutes the previous epoch's
        order (the run starts from the rows' own order), as scikit-learn's MLPs do, so
        the same random state gives scikit-learn's batches.
    callback : callable or None
        callback(epoch, loop) after each epoch; True stops training.
    report : callable or None
        report(epoch, metrics, lr, seconds) after each epoch (printing, progress bars).
    report_stall : callable or None
        report_stall(slowed_down) when progress stalls, before training goes on (True,
        with the schedule's new rate in `schedule.lr`) or stops (False).
    lr_name : str
        The learning rate's name in the estimator's words, for the divergence warning.
    samples_before : int
        Training rows seen by earlier runs (scikit-learn's invscaling counts them).
    progress : callable or None
        progress(rows_done, rows_total) about PROGRESS_STEPS times within each epoch
        (a progress bar). The epoch then runs in chunks of whole batches: the same
        parameters, and the same loss up to the order of its sum.
    sample_weight : ndarray or None
        Validated per-row weights of X (the trainer's dtype).
    """

    def __init__(self, trainer, X, y, batch_size, schedule, monitor, measure, rng, shuffle=True, callback=None,
                 report=None, report_stall=None, lr_name="lr", samples_before=0, progress=None, sample_weight=None):
        self.trainer, self.X, self.y, self.batch_size = trainer, X, y, batch_size
        self.sample_weight = sample_weight
        self.schedule, self.monitor, self.measure = schedule, monitor, measure
        self.rng, self.shuffle, self.callback, self.lr_name = rng, shuffle, callback, lr_name
        self.report, self.report_stall = report, report_stall
        self.samples_before = samples_before
        self.progress = progress
        self.stop_reason = None
        self._order = np.arange(X.shape[0], dtype=np.int64)
        start = trainer.params()
        # A monitor that continues an earlier run starts with that run's best value: the
        # parameters the run starts from are the best until an epoch beats it.
        best = start if monitor.keep == "best" and best_is_known(monitor) else None
        self._metrics = []  # per epoch; only the first `epochs_run` entries count
        # (completed epochs, the last completed epoch's parameters, the best's), replaced
        # whole after each epoch: an interrupt never leaves the record half-updated.
        self._completed = (0, start, best)

    @property
    def history(self):
        """One dict of metrics per completed epoch."""
        return self._metrics[:self.epochs_run]

    @property
    def epochs_run(self):
        return self._completed[0]

    def params(self):
        """The parameters the run ends with: the monitor's choice among the completed epochs."""
        _, last, best = self._completed
        chosen = best if self.monitor.keep == "best" and best is not None else last
        return {key: value.copy() for key, value in chosen.items()}

    def last_params(self):
        """A copy of the parameters of the last completed epoch (the initial ones before any)."""
        return {key: value.copy() for key, value in self._completed[1].items()}

    def history_of(self, key):
        """One metric's values over the completed epochs, as a float64 array."""
        return np.array([metrics[key] for metrics in self.history if key in metrics], dtype=np.float64)

    def run(self, epochs, first_epoch=0, stacklevel=4):
        """Up to `epochs` epochs; returns the stop reason.

        "completed" (all epochs ran), "stalled" (the monitor's patience ran out),
        "callback", or "diverged" (with a RuntimeWarning). An exception propagates after
        `stop_reason` is set to "interrupted" (KeyboardInterrupt) or "error"; the
        completed epochs stay available (`history`, `params()`). stacklevel: the
        divergence warning's, as for `warnings.warn` counted from this method.
        """
        self.stop_reason = "completed"
        try:
            for epoch in range(first_epoch, first_epoch + epochs):
                if not self._epoch(epoch):
                    break
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            raise
        except BaseException:
            self.stop_reason = "error"
            raise
        if self.stop_reason == "diverged":
            epoch = first_epoch + self.epochs_run + 1
            warnings.warn(f"training diverged in epoch {epoch} (NaN or inf); stopped and kept the parameters of "
                          f"{'the best' if self.monitor.keep == 'best' else 'the last'} completed epoch "
                          f"(the initial ones if none completed). Try a smaller {self.lr_name}.",
                          RuntimeWarning, stacklevel=stacklevel)
        return self.stop_reason

    def _epoch(self, epoch):
        """One epoch; False when training stops after it."""
        started = time.perf_counter()
        self.schedule.begin(epoch)
        lr = self.schedule.lr
        if self.shuffle:
            self._order = self._order[self.rng.permutation(len(self._order))]
        status, batch_loss, penalty = self._run_epoch(self._order, lr)
        metrics = self.measure(self.trainer, batch_loss, penalty) if status == OK else None
        if metrics is None or not all(np.isfinite(value) for value in metrics.values()):
            self.stop_reason = "diverged"
            return False
        params = self.trainer.params()
        count, _, best = self._completed
        del self._metrics[count:]  # an entry left by an interrupted epoch
        self._metrics.append(metrics)
        self._completed = (count + 1, params, params if self.monitor.update(metrics) else best)
        self.schedule.end(self.samples_seen())
        if self.report is not None:
            self.report(epoch, metrics, lr, time.perf_counter() - started)
        if self.callback is not None and self.callback(epoch, self):
            self.stop_reason = "callback"
            return False
        if self.monitor.stalled():
            slowed_down = self.schedule.slow_down()
            if self.report_stall is not None:
                self.report_stall(slowed_down)
            if slowed_down:
                self.monitor.count = 0
                return True
            self.stop_reason = "stalled"
            return False
        return True

    def _run_epoch(self, order, lr):
        """(status, mean batch loss, penalty) of one epoch (`Trainer.run_epoch`), in chunks of whole batches
        when progress is reported."""
        if self.progress is None:
            return self.trainer.run_epoch(self.X, self.y, order, self.batch_size, lr, self.sample_weight)
        n = len(order)
        batches = -(-n // self.batch_size)
        chunk = max(1, -(-batches // PROGRESS_STEPS)) * self.batch_size
        loss_sum = penalty_sum = 0.0
        for start in range(0, n, chunk):
            rows = order[start:start + chunk]
            status, loss, penalty = self.trainer.run_epoch(self.X, self.y, rows, self.batch_size, lr,
                                                           self.sample_weight)
            if status != OK:
                return status, loss, penalty
            loss_sum += loss * len(rows)
            penalty_sum += penalty * len(rows)
            self.progress(start + len(rows), n)
        return OK, loss_sum / n, penalty_sum / n

    def samples_seen(self):
        """Training rows processed by earlier runs and this run's completed epochs."""
        return self.samples_before + self.epochs_run * self.X.shape[0]


class Trainer:
    """Working parameters, optimizer state and buffers of one training run.

    The parameters are copies (what the caller passed is never modified); every array
    the compiled epoch writes is checked here before each epoch.

    Parameters
    ----------
    weights, biases : tuples of ndarray
        Validated layers to start from (`fastnn.params.to_layers`); copied.
    optimizer : fastnn.optim.Optimizer
    c : float
        Weight decay, validated.
    state, step : optional
        Optimizer state and step count to continue from (`Trainer.state`, `Trainer.step`
        of an earlier run); default: a fresh optimizer. A state that does not fit the
        optimizer and the layers raises ValueError.
    activation, output : str
        The hidden activation and the output (with its loss), as `fastnn.cost_grad`
        names them.
    loss_range : (float, float)
        Clips the loss the epochs report, as `cost_grad` does; the default clips nothing.
    """

    def __init__(self, weights, biases, optimizer, c, state=None, step=0, activation="relu", output="softmax",
                 loss_range=EXACT_LOSS_RANGE):
        self.weights = tuple(np.array(W, copy=True) for W in weights)
        self.biases = tuple(np.array(b, copy=True) for b in biases)
        check_layers(self.weights, self.biases)
        self.optimizer, self.c = optimizer, c
        self.activation, self.output = activation, output
        self.loss_range = _engine.as_range(loss_range)
        self.state = optimizer.init_state(self.weights, self.biases) if state is None else state
        self._check_state()
        if not (isinstance(step, (int, np.integer)) and step >= 0):
            raise ValueError(f"the optimizer's step count must be an integer >= 0, got {step!r}")
        self.step = int(step)
        self._rows = 0  # rows the batch buffers hold

    @property
    def dtype(self):
        return self.weights[0].dtype

    def _check_state(self):
        mismatch = self.optimizer.state_mismatch(self.state, self.weights, self.biases)
        if mismatch is not None:
            raise ValueError(mismatch)

    def _targets_layout(self):
        """(dtype, columns) of the targets the kernels take for this output."""
        if self.output == "softmax":
            return np.dtype(np.int64), 1
        return self.dtype, self.weights[-1].shape[1]

    def _check_batch_buffers(self, batch_size, weighted, sparse):
        """(X_batch, weights_batch) for batches of batch_size rows, checked with the other buffers.

        A sparse X needs no X_batch (its batches are its rows' nonzeros): it gets an empty one.
        """
        target_dtype, columns = self._targets_layout()
        d = self.weights[0].shape[0]
        if batch_size > self._rows:
            self._X_batch = np.empty((0, d), self.dtype)  # allocated by the first dense epoch
            self.targets_batch = np.empty((batch_size, columns), target_dtype)
            self._weights_batch = np.empty(batch_size, self.dtype)
            self.buffers = step_buffers(batch_size, self.weights, self.biases)
            self._rows = batch_size
        if not sparse and self._X_batch.shape[0] != self._rows:
            self._X_batch = np.empty((self._rows, d), self.dtype)
        X_batch = self._X_batch[:0] if sparse else self._X_batch
        check("the batch buffer", X_batch, (0 if sparse else self._rows, d), self.dtype)
        check("the target buffer", self.targets_batch, (self._rows, columns), target_dtype)
        check("the weight buffer", self._weights_batch, (self._rows,), self.dtype)
        check_buffers(self.buffers, batch_size, self.weights)
        return X_batch, self._weights_batch if weighted else self._weights_batch[:0]

    def _fits(self, X, y, sample_weight):
        """Whether validated X, y and sample_weight fit the network and this output."""
        n = X.shape[0]
        target_dtype, columns = self._targets_layout()
        if not (input_fits(X, self.weights[0].shape[0], self.dtype) and y.dtype == target_dtype
                and y.flags.c_contiguous):
            return False
        if sample_weight is not None and not (sample_weight.shape == (n,) and sample_weight.dtype == self.dtype
                                              and sample_weight.flags.c_contiguous):
            return False
        if self.output == "softmax":  # the labels index the logits
            return y.shape == (n,) and (n == 0 or 0 <= y.min() and y.max() < self.weights[-1].shape[1])
        return y.shape == (n, columns)

    def run_epoch(self, X, y, order, batch_size, lr, sample_weight=None):
        """(status, loss, penalty) of one compiled epoch over X[order] in batches, in place.

        y and sample_weight as `cost_grad` takes them. The loss is each batch's weighted
        mean loss (before its update), averaged over the rows; it leaves out the
        weight-decay term. penalty is the same average of each batch's
        sum_l ||W_l||^2 / (its weight sum), with the weights before its update (0 if c
        is 0): each batch's decay term averaged over the rows is c/2 times it. Both NaN,
        with status NON_FINITE, if training met NaN or inf (the parameters are then
        partly updated).
        """
        n = X.shape[0]
        if not (self._fits(X, y, sample_weight) and order.ndim == 1 and order.dtype == np.int64
                and (order.size == 0 or 0 <= order.min() and order.max() < n) and batch_size >= 1):
            raise ValueError("run_epoch: X, y, sample_weight, order and batch_size do not fit the network")
        check_layers(self.weights, self.biases)
        self._check_state()
        sparse = isinstance(X, CheckedSparse)
        X_batch, weights_batch = self._check_batch_buffers(batch_size, sample_weight is not None, sparse)
        status, self.step, loss, penalty = _engine.train_epoch(
            self, X, _engine.kernel_targets(y, self.output),
            np.empty(0, self.dtype) if sample_weight is None else sample_weight, order, batch_size, lr, X_batch,
            weights_batch)
        return status, loss, penalty

    def logits(self, X):
        """(status, logits of X) under the current parameters; X validated already."""
        return _engine.logits(X, self.weights, self.biases, self.activation)

    def evaluate(self, X, y, sample_weight=None):
        """(status, weighted mean loss, accuracy) on X, y.

        Accuracy: of the argmax for softmax; of every output thresholded at 0.5 for
        logistic (a row counts when all its outputs are right); NaN for regression.
        """
        status, values = self.logits(X)
        if status != OK:
            return status, np.nan, np.nan
        if self.output == "softmax" and sample_weight is None:
            return (OK, *_engine.loss_and_accuracy(values, y))
        loss = float(np.average(_outputs.row_losses(values, y, self.output), weights=sample_weight))
        status = OK if np.isfinite(loss) else NON_FINITE
        hits = _outputs.hits(values, y, self.output)
        return status, loss, (np.nan if hits is None else float(np.average(hits, weights=sample_weight)))

    def params(self):
        """A copy of the current parameters as a dict (biases 1-D)."""
        return {key: value.copy() for key, value in from_layers(self.weights, self.biases).items()}
