"""Data sets: the embedded 8x8 digits, and a stratified split.

The digits are the UCI "Optical Recognition of Handwritten Digits" test set as bundled
with scikit-learn (1,797 images of 8x8 pixels with values 0..16, labels 0..9), stored in
fastnn/data/digits.npz so that fastnn needs no download and no scikit-learn.
"""

from importlib import resources

import numpy as np


def load_digits(dtype=np.float64):
    """The embedded digits, scaled to [0, 1].

    Returns
    -------
    X : ndarray, shape (1797, 64), of dtype
        Pixel values divided by 16.
    y : ndarray of int64, shape (1797,)
        Labels 0..9.
    """
    with resources.files("fastnn").joinpath("data/digits.npz").open("rb") as file:
        with np.load(file, allow_pickle=False) as data:
            X, y = data["X"], data["y"]
    return (X / 16).astype(dtype), y.astype(np.int64)


def stratified_split(y, fractions, seed=None):
    """Split row indices into parts with the given fractions, stratified by label.

    Parameters
    ----------
    y : array_like of labels, shape (n,)
    fractions : sequence of float
        Fractions of the rows per part, positive and summing to 1 (for example
        (0.75, 0.25) or (0.6, 0.2, 0.2)).
    seed : int or None

    Returns
    -------
    list of ndarray
        One array of row indices per part, shuffled; each label is spread over the parts
        in the given fractions (rounded).
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    parts = [[] for _ in fractions]
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        bounds = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
        for part, chunk in zip(parts, np.split(rows, bounds)):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]
