"""The outputs on the NumPy side: what predictions and end-of-epoch metrics compute from
the logits the compiled forward pass returns.

Production code, written apart from `fastnn.reference` (the oracle that tests, benchmarks
and gradcheck import) and built on `scipy.special`, so that a bug in the oracle cannot
hide on both sides of an equality test. scikit-learn's ``neural_network/_base.py`` plays
the same part for its MLPs. Each function keeps the logits' dtype where it returns
values of the logits' kind, and returns losses in float64.
"""

import numpy as np
from scipy import special


def log_softmax(logits):
    """Row-wise log of the softmax of logits (n, k), stable for any finite logits."""
    return special.log_softmax(logits, axis=1)


def output_value(logits, output):
    """The network's output from its logits: class probabilities (softmax), sigmoid, the logits, or exp.

    exp may overflow to inf for huge logits, as the model's own prediction does.
    """
    if output == "softmax":
        return special.softmax(logits, axis=1)
    if output == "logistic":
        return special.expit(logits)
    if output == "exp":
        with np.errstate(over="ignore"):
            return np.exp(logits)
    return logits


def row_losses(logits, targets, output):
    """Each row's loss (n,) in float64: the loss the output is trained with (`fastnn.cost_grad`).

    softmax: the cross-entropy of labels (n,); logistic: the binary cross-entropy summed
    over the outputs of 0/1 targets (n, k); identity: half the squared error averaged
    over the outputs; exp: the Poisson deviance summed over the outputs of counts.
    NaN or inf in the logits give NaN or inf losses, never an exception.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if output == "softmax":
            return -log_softmax(logits)[np.arange(logits.shape[0]), targets].astype(np.float64)
        Z, T = logits.astype(np.float64), np.asarray(targets, np.float64)
        if output == "logistic":
            return -(T * special.log_expit(Z) + (1 - T) * special.log_expit(-Z)).sum(axis=1)
        if output == "identity":
            return 0.5 * np.square(Z - T).mean(axis=1)
        return (special.xlogy(T, T) - T * Z - T + np.exp(Z)).sum(axis=1)


def hits(logits, targets, output):
    """Which rows are predicted right (n,) bool: the argmax for softmax, every output at 0.5 for logistic.

    None for the regression outputs (identity, exp), which have no accuracy.
    """
    if output == "softmax":
        return np.argmax(logits, axis=1) == targets
    if output == "logistic":
        return np.all((logits > 0) == (targets > 0.5), axis=1)
    return None
