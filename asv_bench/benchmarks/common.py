"""Seeded, cached inputs and version-tolerant imports shared by the benchmarks."""

import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def inputs(n, d, h, k, dtype):
    """Data and parameters with the hand-in's initialisation; cached per shape and dtype."""
    rng = np.random.default_rng(0)
    X = rng.random((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    params = {
        "W1": rng.normal(0, np.sqrt(2 / (d + h)), (d, h)).astype(dtype),
        "b1": np.zeros((1, h), dtype),
        "W2": rng.normal(0, np.sqrt(4 / (h + k)), (h, k)).astype(dtype),
        "b2": np.zeros((1, k), dtype),
    }
    return X, y, params


def require(module, *names):
    """Import names from a fastnn module, or raise NotImplementedError (asv skips) on older commits."""
    try:
        imported = __import__(module, fromlist=list(names))
        return [getattr(imported, name) for name in names]
    except (ImportError, AttributeError) as error:
        raise NotImplementedError(f"{module} lacks {names} at this commit: {error}")
