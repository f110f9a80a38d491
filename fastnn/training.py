"""The one training loop behind every estimator.

Each epoch runs in compiled code (`fastnn._engine.Trainer.run_epoch`); this loop
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

from ._engine import OK

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
    """One training run: epochs of a `fastnn._engine.Trainer` under a schedule and a monitor.

    Parameters
    ----------
    trainer : fastnn._engine.Trainer
    X, y : ndarray
        Validated training data (C-contiguous, the trainer's dtype) and its targets as
        the trainer's output takes them (int64 labels for softmax).
    batch_size : int
    schedule : a schedule of `fastnn.schedules`
    monitor : Monitor
    measure : callable
        measure(trainer, batch_loss, penalty) -> dict of the epoch's metrics (floats), or
        None if they met NaN or inf. batch_loss is the epoch's mean batch loss, penalty
        the same mean of each batch's weight-decay sums (`fastnn._engine.Trainer.run_epoch`).
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
