"""The parameter vocabulary: keys, initialisation, and conversions between a params dict and
the layer tuples the kernels take.

A network of L >= 1 layers has params W1 (d, h1), b1, ..., WL (h_{L-1}, k), bL (each bias
of shape (width,) or (1, width)) and gradients d_w1, d_b1, ..., d_wL, d_bL.
"""

import functools
import re

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LAYER_KEY = re.compile(r"[Wb]([1-9][0-9]{0,8})")
MAX_NAMED = 10  # keys named in one error message
# The deepest network accepted. The depth is part of the compiled kernels' types, so each
# depth compiles its own (20 layers took 13 s, 100 layers 128 s): a bound keeps a params
# dict, a model file or hidden_layer_sizes from asking for unbounded compilation.
MAX_LAYERS = 32


@functools.lru_cache(maxsize=64)
def param_keys(n_layers):
    """The keys of an n_layers-layer network's params, in order: W1, b1, W2, b2, ..., WL, bL."""
    return tuple(f"{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "Wb")


def grad_keys(n_layers):
    """The keys of cost_grad's gradients for n_layers layers: d_w1, d_b1, ..., d_wL, d_bL."""
    return tuple(f"d_{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "wb")


def grad_key(param_key):
    """The gradient's key of a parameter: "W3" -> "d_w3", "b1" -> "d_b1"."""
    return f"d_{param_key[0].lower()}{param_key[1:]}"


def _named(keys):
    keys = sorted(keys, key=lambda key: (len(key), key))
    shown = [str(key)[:40] for key in keys[:MAX_NAMED]]
    return f"{shown}" + (f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else "")


def count_layers(params):
    """The number of layers L that the keys of params describe.

    Raises ValueError naming unexpected keys (not W<l> or b<l>) or missing ones. The work
    and the message are bounded by the number of keys given, whatever their numbers say.
    """
    n_layers = max(len(params) // 2, 1)
    if params.keys() == set(param_keys(n_layers)):  # the common case, decided quickly
        return n_layers
    unexpected = [key for key in params if not (isinstance(key, str) and _LAYER_KEY.fullmatch(key))]
    if unexpected:
        raise ValueError(f"params has unexpected keys {_named(map(str, unexpected))}; it holds W1, b1, ..., WL, bL")
    top = max([int(key[1:]) for key in params] + [1])
    n_missing = 2 * top - len(params)
    missing = []
    for layer in range(1, top + 1):  # stops after MAX_NAMED: never builds all 2 * top keys
        missing += [key for key in (f"W{layer}", f"b{layer}") if key not in params]
        if len(missing) >= MAX_NAMED:
            break
    more = f" and {n_missing - len(missing)} more" if n_missing > len(missing) else ""
    raise ValueError(f"params is missing {_named(missing)}{more}; it needs W1, b1, ..., W{top}, b{top} "
                     f"for the {top} layers its keys name")


def check_depth(n_layers):
    """Raise ValueError if a network of n_layers layers is deeper than fastnn compiles for (MAX_LAYERS)."""
    if n_layers > MAX_LAYERS:
        raise ValueError(f"the network has {n_layers} layers; fastnn compiles its kernels for each depth and takes "
                         f"at most {MAX_LAYERS} layers ({MAX_LAYERS - 1} hidden)")


def to_layers(params):
    """Validate params; return (weights, biases), tuples of C-contiguous arrays of one float dtype, biases 1-D.

    Raises
    ------
    TypeError
        params is not a dict; a parameter is not float32 or float64; the dtypes differ.
    ValueError
        A missing or unexpected key, shapes that do not chain, or more than MAX_LAYERS layers.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys W1, b1, W2, b2 (..., WL, bL), got {type(params).__name__}")
    n_layers = count_layers(params)
    check_depth(n_layers)
    keys = param_keys(n_layers)
    arrays = [np.asarray(params[key]) for key in keys]
    dtype = arrays[0].dtype
    for key, arr in zip(keys, arrays):
        if arr.dtype.newbyteorder("=") in FLOAT_DTYPES and not arr.dtype.isnative:
            raise TypeError(f"params['{key}'] has non-native byte order ({arr.dtype.str}); "
                            f"convert it with .astype({arr.dtype.newbyteorder('=').name})")
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(f"params['{key}'] has dtype {arr.dtype}; parameters must be float32 or float64")
        if arr.dtype != dtype:
            found = ", ".join(f"{key}: {arr.dtype}" for key, arr in zip(keys, arrays))
            raise TypeError(f"params must share one dtype, got {found[:400]}")

    weights, biases = arrays[::2], arrays[1::2]
    rows = weights[0].shape[0] if weights[0].ndim == 2 else None
    for layer, (W, bias) in enumerate(zip(weights, biases), 1):
        if W.ndim != 2:
            raise ValueError(f"W{layer} must be 2-D, got shape {W.shape}")
        if W.size == 0:
            raise ValueError(f"parameter shapes must be non-empty, got W{layer} {W.shape}")
        if W.shape[0] != rows:
            raise ValueError(
                f"W{layer - 1} {weights[layer - 2].shape} and W{layer} {W.shape} do not chain: "
                f"W{layer} needs {rows} rows"
            )
        rows = width = W.shape[1]
        if bias.shape != (width,) and bias.shape != (1, width):
            raise ValueError(
                f"b{layer} has shape {bias.shape}; with W{layer} {W.shape} it must be ({width},) or (1, {width})"
            )
    return (
        tuple(np.ascontiguousarray(W) for W in weights),
        tuple(np.ascontiguousarray(bias.reshape(-1)) for bias in biases),
    )


def from_layers(weights, biases, like=None):
    """A params dict of the layers: W1, b1, ..., WL, bL (the arrays themselves, not copies).

    Biases keep their 1-D shape, or take the shape of the same key in the dict `like`.
    """
    params = {}
    for layer, (W, b) in enumerate(zip(weights, biases), 1):
        params[f"W{layer}"] = W
        params[f"b{layer}"] = b if like is None else b.reshape(np.shape(like[f"b{layer}"]))
    return params


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

    Raises
    ------
    ValueError
        A size that is not an integer >= 1, no hidden layer, or more than MAX_LAYERS layers.
    TypeError
        dtype is not float32 or float64.
    """
    hidden = [hidden_size] if isinstance(hidden_size, (int, np.integer)) else list(hidden_size)
    if not hidden:
        raise ValueError("hidden_size must give at least one hidden layer")
    check_depth(len(hidden) + 1)
    sizes = [input_dim, *hidden, output_size]
    names = ["input_dim", *(["hidden_size"] * len(hidden)), "output_size"]
    for name, size in zip(names, sizes):
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {size!r}")
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        gain = 2 if layer == 1 else 4
        params[f"W{layer}"] = rng.normal(0, np.sqrt(gain / (fan_in + fan_out)), (fan_in, fan_out)).astype(dtype)
        params[f"b{layer}"] = np.zeros((1, fan_out), dtype)
    return params
