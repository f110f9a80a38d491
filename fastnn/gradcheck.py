"""The hand-in's numerical gradient check, with a report of the worst entry."""

from dataclasses import dataclass

import numpy as np


@dataclass
class GradCheck:
    """The outcome of numerical_grad_check for one parameter."""

    key: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    passed: bool

    def __str__(self):
        return (f"{self.key}: max |analytic - numeric| = {self.max_abs_error:.2e}, max relative "
                f"{self.max_rel_error:.2e} at {self.worst_index} (analytic {self.analytic:.6g}, "
                f"numeric {self.numeric:.6g})")


class GradientCheckError(AssertionError):
    """A gradient differs from its finite differences; `report` is the GradCheck.

    An AssertionError, as the hand-in's checker raised, but raised explicitly: it does not
    vanish under ``python -O`` as an ``assert`` statement would.
    """

    def __init__(self, report):
        super().__init__(f"gradient check failed: {report}")
        self.report = report


def numerical_grad_check(f, x, key, eps=1e-5, rtol=1e-5, atol=1e-8):
    """Compare the gradient f returns with central finite differences of the cost f returns.

    An entry passes when |analytic - numeric| <= atol + rtol * |numeric|, with
    numeric = (f(x + eps) - f(x - eps)) / (2 eps) in that entry.

    Parameters
    ----------
    f : callable
        f(params) -> (cost, grads), as cost_grad with X, y and c bound.
    x : dict
        The parameters; x[key] is perturbed in place entry by entry and restored.
    key : str
        Which parameter to check ("W1", "b1", ..., "WL", "bL"); its gradient is grads["d_" + key.lower()].
    eps : float
        The step of the central differences.
    rtol, atol : float
        Tolerances of the check.

    Returns
    -------
    GradCheck
        Worst absolute and relative errors and where they are; `passed` is True.

    Raises
    ------
    GradientCheckError
        (an AssertionError) Some entry differs by more than atol + rtol * |numeric|; the
        message names the worst, and its `report` attribute holds the GradCheck.
    """
    analytic = np.asarray(f(x)[1]["d_" + key.lower()], dtype=np.float64)
    values = x[key]
    numeric = np.zeros(values.shape)
    for index in np.ndindex(values.shape):
        saved = values[index]
        values[index] = saved + eps
        plus = f(x)[0]
        values[index] = saved - eps
        minus = f(x)[0]
        values[index] = saved
        numeric[index] = (plus - minus) / (2 * eps)
    error = np.abs(analytic - numeric)
    relative = error / np.maximum(np.abs(numeric), atol)
    excess = error - (atol + rtol * np.abs(numeric))
    worst = np.unravel_index(np.argmax(excess), error.shape)
    # `excess <= 0` is False where either gradient is NaN: NaN fails the check.
    passed = bool(np.all(excess <= 0))
    report = GradCheck(key, float(error.max()), float(relative.max()), tuple(int(i) for i in worst),
                       float(analytic[worst]), float(numeric[worst]), passed)
    if not passed:
        raise GradientCheckError(report)
    return report
