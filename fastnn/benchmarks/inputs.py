"""The one seeded input generator behind the tests, the asv suite and the side-by-side runner."""

import functools

import numpy as np

MNIST_SHAPE = (784, 256, 10)  # (d, h, k) of an MNIST-shaped network


def make_problem(n, d, h, k, dtype=np.float64, seed=0, bias_shape="1d"):
    """Random data and parameters with the hand-in's initialisation scale.

    Parameters
    ----------
    n, d, k : int
        Rows, features and classes.
    h : int or tuple of int
        The hidden width, or one width per hidden layer for a deeper network.
    dtype : float32 or float64
    seed : int
    bias_shape : {"1d", "2d"}
        Biases of shape (width,) or (1, width).

    Returns
    -------
    X : ndarray (n, d), standard normal
    y : ndarray (n,) of int64 labels in [0, k)
    params : dict
        W1, b1, ..., WL, bL: W_l ~ N(0, sqrt(gain / (fan_in + fan_out))) with gain 2 for
        the first layer and 4 after, biases ~ N(0, 0.1).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    bias = (lambda m: rng.standard_normal(m) * 0.1) if bias_shape == "1d" else (
        lambda m: rng.standard_normal((1, m)) * 0.1)
    sizes = [d, *np.atleast_1d(h).tolist(), k]
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        gain = 2 if layer == 1 else 4
        params[f"W{layer}"] = rng.normal(0, np.sqrt(gain / (fan_in + fan_out)), (fan_in, fan_out)).astype(dtype)
        params[f"b{layer}"] = bias(fan_out).astype(dtype)
    return X, y, params


@functools.lru_cache(maxsize=16)
def benchmark_inputs(n, d, h, k, dtype="float32", seed=0):
    """Seeded benchmark inputs, cached: pixel-like data, labels, and fastnn's initial parameters.

    Parameters
    ----------
    n, d, k : int
        Rows, features and classes.
    h : int or tuple of int
        The hidden width, or one width per hidden layer.
    dtype : str, float32 or float64
    seed : int

    Returns
    -------
    X : ndarray (n, d), uniform in [0, 1) like scaled pixel intensities
    y : ndarray (n,) of int64 labels in [0, k)
    params : dict
        From `fastnn.get_init_params(d, h, k, seed=seed, dtype=dtype)`: the hand-in's
        initialisation, zero biases of shape (1, width).

    Notes
    -----
    Cached so that asv's setups, the tests and repeated runs share one copy: callers
    must not modify the arrays.
    """
    from fastnn import get_init_params

    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    return X, y, get_init_params(d, h, k, seed=seed, dtype=dtype)


def targets_for(output, y, k):
    """Targets for an output (see `fastnn.cost_grad`) made from labels y in [0, k).

    softmax: the labels; logistic and identity: their one-hot indicators; exp: twice the
    indicators (counts).
    """
    if output == "softmax":
        return y
    indicator = np.eye(k)[y]
    return 2 * indicator if output == "exp" else indicator


def mnist_like(n, h=MNIST_SHAPE[1], dtype="float32", seed=0):
    """MNIST-shaped `benchmark_inputs`: X (n, 784) in [0, 1), labels in [0, 10), parameters
    from `fastnn.get_init_params` (zero biases). Cached: callers must not modify the arrays.
    """
    d, _, k = MNIST_SHAPE
    return benchmark_inputs(n, d, h, k, dtype, seed)


TFIDF_SHAPE = (20_000, 0.005, 10)  # (features, density, classes) of the sparse benchmark


@functools.lru_cache(maxsize=4)
def tfidf_like(n, d=TFIDF_SHAPE[0], density=TFIDF_SHAPE[1], k=TFIDF_SHAPE[2], dtype="float64", seed=0):
    """A seeded sparse matrix shaped like TF-IDF features of short documents, and labels.

    Returns
    -------
    X : scipy.sparse.csr_matrix (n, d)
        About density * d nonzeros per row, at columns drawn with Zipf-like frequencies
        (a few common terms, many rare ones), positive values, rows of unit L2 norm.
    y : ndarray (n,) of int64 labels in [0, k)
        Each class prefers its own band of columns, so the labels can be learnt.

    Cached: callers must not modify the arrays.
    """
    import scipy.sparse

    rng = np.random.default_rng(seed)
    per_row = max(1, int(round(density * d)))
    y = rng.integers(0, k, n)
    frequency = 1.0 / np.arange(1, d + 1) ** 0.8
    frequency /= frequency.sum()
    columns = rng.choice(d, size=(n, per_row), p=frequency)
    band = rng.integers(0, d // k, (n, per_row // 4)) + y[:, None] * (d // k)  # the class's own terms
    columns[:, : per_row // 4] = band
    values = rng.random((n, per_row)) + 0.1
    X = scipy.sparse.csr_matrix((values.ravel(), columns.ravel(), np.arange(0, n * per_row + 1, per_row)),
                                shape=(n, d))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    X = scipy.sparse.diags(1 / norms) @ X
    return X.astype(dtype).tocsr(), y
