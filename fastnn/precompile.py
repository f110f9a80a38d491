"""Compile every kernel a user can reach, ahead of the first fit: for image builds and CI.

Each configuration (dtype, number of hidden layers, dense or sparse input, integer
labels or numeric targets) is its own compilation; the hidden activation, the output
and the optimizer are runtime codes that every compilation serves. `precompile` runs
each configuration's kernels once on a tiny problem, through the same entry points a
fit uses (`fastnn._engine`), so that Numba compiles them and caches them on disk
(`fastnn._kernels.compile.cache_folder`); a configuration already cached only loads.
"""

import itertools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from . import _engine
from ._inputs import as_input
from ._kernels import compile as _compile
from .optim import Optimizer
from .params import MAX_LAYERS, to_layers
from .training import Trainer

__all__ = ["Configuration", "configurations", "precompile"]

_ROWS, _FEATURES, _WIDTH, _OUTPUTS = 8, 3, 4, 2  # the tiny problem: any size gives the same compilation


@dataclass(frozen=True)
class Configuration:
    """One compilation of the kernels: what their argument types depend on."""

    dtype: str
    hidden_layers: int
    sparse: bool
    targets: str  # "labels" (softmax) or "numbers" (every other output)

    def __str__(self):
        hidden = f"{self.hidden_layers} hidden layer{'' if self.hidden_layers == 1 else 's'}"
        return f"{self.dtype}, {hidden}, {'sparse' if self.sparse else 'dense'} input, {self.targets}"


def configurations(dtypes=("float32", "float64"), hidden_layers=(0, 1, 2, 3), sparse=(False, True),
                   targets=("labels", "numbers")):
    """The configurations `precompile` compiles, from the choices of each kind (all by default).

    Parameters
    ----------
    dtypes : sequence of {"float32", "float64"}
    hidden_layers : sequence of int
        Numbers of hidden layers (0: a linear model). Each is its own compilation.
    sparse : sequence of bool
        Dense input (False), scipy.sparse input (True).
    targets : sequence of {"labels", "numbers"}
        Integer labels (the softmax output: NetClassifier, a multi-class MLPClassifier)
        and numeric targets (the logistic, identity and Poisson outputs: a binary or
        multi-label MLPClassifier, MLPRegressor).

    Returns
    -------
    list of Configuration
        Every combination, each once, in the order of the choices.

    Raises
    ------
    ValueError
        A choice that is not a non-empty list or tuple (a bare string is refused), or a
        value outside its kind's range.
    """
    given = _choices("dtypes", dtypes)
    dtypes = list(dict.fromkeys(_dtype_name(dtype) for dtype in given))
    if not set(dtypes) <= {"float32", "float64"}:
        raise ValueError(f"dtypes must be float32 or float64, got {given}")
    depths = _choices("hidden_layers", hidden_layers)
    if not all(isinstance(depth, (int, np.integer)) and not isinstance(depth, bool) and 0 <= depth < MAX_LAYERS
               for depth in depths):
        raise ValueError(f"hidden_layers must be integers from 0 to {MAX_LAYERS - 1}, got {depths}")
    kinds = _choices("sparse", sparse)
    if not all(isinstance(kind, (bool, np.bool_)) for kind in kinds):
        raise ValueError(f"sparse must hold True and/or False, got {kinds}")
    targets = _choices("targets", targets)
    if not set(targets) <= {"labels", "numbers"}:
        raise ValueError(f"targets must be 'labels' and/or 'numbers', got {targets}")
    return [Configuration(dtype, int(depth), bool(kind), target)
            for dtype, depth, kind, target in itertools.product(dtypes, depths, kinds, targets)]


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except TypeError:  # not a dtype at all
        return None


def _choices(name, values):
    """The distinct values of a non-empty list or tuple, in order."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list or tuple, got {values!r}")
    return list(dict.fromkeys(values))


def precompile(dtypes=("float32", "float64"), hidden_layers=(0, 1, 2, 3), sparse=(False, True),
               targets=("labels", "numbers"), report=None):
    """Compile (or load from the cache) the kernels of each configuration, so that later fits compile nothing.

    Each configuration takes about 10 to 40 s on a 2-core machine (all 32 of the defaults:
    minutes), and well under a second where it is cached already. Run it once where the cache
    persists: an image build, a CI job's cache step. Deeper networks than `hidden_layers`
    lists compile on their first fit. Numba's cache is specific to the CPU model: a cache
    built on another model is not used (Numba compiles for the CPU it runs on).

    Parameters
    ----------
    dtypes, hidden_layers, sparse, targets
        The choices of each kind, as `configurations` takes them.
    report : callable, optional
        Called after each configuration with (Configuration, seconds it took).

    Returns
    -------
    folder : str or None
        Where the compiled kernels are cached (None: nowhere, so each process compiles again).
    """
    for configuration in configurations(dtypes, hidden_layers, sparse, targets):
        start = time.perf_counter()
        with warnings.catch_warnings():  # the compile notice: compiling is what was asked for
            warnings.simplefilter("ignore", _compile.CompileWarning)
            _run_kernels(configuration)
        if report is not None:
            report(configuration, time.perf_counter() - start)
    return _compile.cache_folder


def _run_kernels(configuration):
    """Run once every kernel a fit, a prediction and cost_grad use in this configuration."""
    dtype = np.dtype(configuration.dtype)
    rng = np.random.default_rng(0)
    X = rng.random((_ROWS, _FEATURES)).astype(dtype)
    if configuration.sparse:
        X = as_input(scipy.sparse.csr_matrix(X), dtype)
    sizes = [_FEATURES] + [_WIDTH] * configuration.hidden_layers + [_OUTPUTS]
    weights, biases = to_layers({f"W{l}": rng.standard_normal((m, n)).astype(dtype) * 0.1
                                 for l, (m, n) in enumerate(zip(sizes, sizes[1:]), 1)}
                                | {f"b{l}": np.zeros(n, dtype) for l, n in enumerate(sizes[1:], 1)})
    if configuration.targets == "labels":
        output, y = "softmax", np.arange(_ROWS, dtype=np.int64) % _OUTPUTS
    else:
        output, y = "logistic", (np.arange(_ROWS * _OUTPUTS) % 2).astype(dtype).reshape(_ROWS, _OUTPUTS)
    order = np.arange(_ROWS, dtype=np.int64)
    for sample_weight in (None, np.ones(_ROWS, dtype)):
        trainer = Trainer(weights, biases, Optimizer("sgd"), 0.0, output=output)
        trainer.run_epoch(X, y, order, 4, 0.01, sample_weight)
        trainer.evaluate(X, y, sample_weight)
        _engine.cost_grad(X, y, weights, biases, 0.0, parallel=False, output=output, sample_weight=sample_weight)
    # The parallel driver too, also where this machine would never choose it (PARALLEL_MIN_CORES):
    # a cache built on a small machine may serve a larger one.
    if configuration.hidden_layers:
        _engine.cost_grad(X, y, weights, biases, 0.0, parallel=True, output=output)
