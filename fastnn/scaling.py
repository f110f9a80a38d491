"""Feature scaling that travels with a model: the command line's ``--scale``.

A network trains well on features of order one; raw pixel values (0 to 255), counts or
money do not train at all with the default learning rate. A `FeatureScaling` is the
affine map x -> (x - offset) / scale, fitted on the training rows and applied by the
model to every X it sees (``NetClassifier.feature_scaling``), so that a saved model
predicts on raw data. In Python, scikit-learn's ``Pipeline`` with a ``StandardScaler``
does the same for any estimator.
"""

from typing import NamedTuple

import numpy as np

METHODS = ("standard", "minmax", "none")


class FeatureScaling(NamedTuple):
    """x -> (x - offset) / scale, per feature; float64 arrays of shape (n_features,)."""

    offset: np.ndarray
    scale: np.ndarray


def fit_scaling(X, method):
    """The scaling of `method` fitted on the rows of X.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    method : {"standard", "minmax", "none"}
        "standard": each feature to mean 0 and standard deviation 1 (scikit-learn's
        StandardScaler); "minmax": each feature to [0, 1] (MinMaxScaler); a feature that
        is constant on these rows keeps its scale (1), as in scikit-learn.

    Returns
    -------
    FeatureScaling, or None for "none"
    """
    if method not in METHODS:
        raise ValueError(f"the scaling must be one of {list(METHODS)}, got {method!r}")
    if method == "none":
        return None
    X = np.asarray(X, dtype=np.float64)
    if method == "standard":
        offset, scale = X.mean(axis=0), X.std(axis=0)
    else:
        offset, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    # A (nearly) constant feature: dividing by its spread would only blow up rounding noise.
    scale = np.where(scale < 10 * np.finfo(np.float64).eps * np.maximum(1, np.abs(offset)), 1.0, scale)
    return FeatureScaling(offset, scale)


def check_scaling(scaling, n_features):
    """Return scaling (None or a FeatureScaling) checked for n_features features: finite offsets, finite scales > 0.

    Raises
    ------
    ValueError
        Arrays of another shape or with values out of range (a damaged model file).
    """
    if scaling is None:
        return None
    offset, scale = (np.asarray(array, dtype=np.float64) for array in scaling)
    if offset.shape != (n_features,) or scale.shape != (n_features,):
        raise ValueError(f"the feature scaling must have {n_features} offsets and scales, got shapes "
                         f"{offset.shape} and {scale.shape}")
    if not (np.all(np.isfinite(offset)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError("the feature scaling's offsets must be finite and its scales finite and > 0")
    return FeatureScaling(offset, scale)


def apply_scaling(X, scaling):
    """(X - offset) / scale in X's dtype (a new array); X itself when scaling is None."""
    if scaling is None:
        return X
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is named by the caller's finiteness check
        return (X - scaling.offset.astype(X.dtype)) / scaling.scale.astype(X.dtype)
