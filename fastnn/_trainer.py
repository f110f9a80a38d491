"""The compiled training engine behind NetClassifier and MLPClassifier.

A `Trainer` owns the working parameters (copies: what the caller passed is never
modified), the optimizer's state and the buffers of the compiled epoch, and grows the
buffers when a larger batch comes. Everything per batch happens in compiled code
(`fastnn._kernels._train_epoch`); the estimators decide what to measure and when to stop.
"""

import numpy as np

from . import _blas
from ._config import EVAL_CHUNK
from ._kernels import OK, _logits_into, _loss_and_accuracy, _train_epoch
from .cost import step_buffers
from ._validation import check_params, param_keys


def forward_logits(X, weights, biases):
    """(logits of X, True if a pre-activation or a logit was NaN or inf), in bounded-memory chunks.

    X, weights and biases are validated already (C-contiguous, one dtype, 1-D biases).
    """
    _blas.bind()
    logits = np.empty((X.shape[0], weights[-1].shape[1]), weights[0].dtype)
    return logits, bool(_logits_into(X, weights, biases, EVAL_CHUNK, logits))


class Trainer:
    """Working parameters, optimizer state and buffers of one training run.

    Parameters
    ----------
    params : dict
        W1, b1, ..., WL, bL to start from (copied).
    optimizer : fastnn.optim.Optimizer
    c : float
        Weight decay, validated.
    state, step : optional
        Optimizer state and step count to continue from (`Trainer.state`, `Trainer.step`
        of an earlier run on the same shapes); default: a fresh optimizer.
    """

    def __init__(self, params, optimizer, c, state=None, step=0):
        weights, biases = check_params(params)
        self.shapes = {key: np.shape(params[key]) for key in param_keys(len(weights))}
        self.weights = tuple(np.array(W, copy=True) for W in weights)
        self.biases = tuple(np.array(b, copy=True) for b in biases)
        self.optimizer, self.c = optimizer, c
        self.state = optimizer.init_state(self.weights, self.biases) if state is None else state
        self.step = step
        self._rows = 0  # rows the batch buffers hold

    @property
    def dtype(self):
        return self.weights[0].dtype

    def run_epoch(self, X, y, order, batch_size, lr):
        """One compiled epoch over X[order] in batches; the mean batch loss, NaN if training met NaN or inf.

        The loss is each batch's mean cross-entropy (before its update), averaged over
        the rows; it leaves out the weight-decay term.
        """
        if batch_size > self._rows:
            d = self.weights[0].shape[0]
            self._X_batch = np.empty((batch_size, d), self.dtype)
            self._y_batch = np.empty(batch_size, np.int64)
            self._buffers = step_buffers(batch_size, self.weights, self.biases)
            self._rows = batch_size
        _blas.bind()
        self.step, status, loss = _train_epoch(
            X, y, order, batch_size, self.weights, self.biases, self.c, float(lr), self.optimizer.code,
            self.optimizer.hyper, self.state, self.step, self._X_batch, self._y_batch, self._buffers,
        )
        return loss if status == OK else np.nan

    def logits(self, X):
        """(logits of X, non-finite flag) under the current parameters; X validated already."""
        return forward_logits(X, self.weights, self.biases)

    def evaluate(self, X, y):
        """(mean cross-entropy, accuracy) on X, y; (NaN, NaN) if the forward pass met NaN or inf."""
        logits, non_finite = self.logits(X)
        if non_finite:
            return np.nan, np.nan
        return _loss_and_accuracy(logits, y)

    def squared_weights(self):
        """sum_l ||W_l||^2 in float64, for the weight-decay term of a loss."""
        return float(sum(np.sum(np.square(W, dtype=np.float64)) for W in self.weights))

    def params(self):
        """A copy of the current parameters, as a dict with the shapes the caller passed."""
        flat = {}
        for layer, (W, b) in enumerate(zip(self.weights, self.biases), 1):
            flat[f"W{layer}"], flat[f"b{layer}"] = W, b
        return {key: flat[key].reshape(shape).copy() for key, shape in self.shapes.items()}
