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
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from . import _engine, _threads
from ._inputs import as_input
from ._kernels import compile as _compile
from .optim import Optimizer
from .params import to_layers
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
    """
    dtypes = [np.dtype(dtype).name for dtype in dtypes]
    if not set(dtypes) <= {"float32", "float64"}:
        raise ValueError(f"dtypes must be float32 or float64, got {dtypes}")
    depths = [int(depth) for depth in hidden_layers]
    if any(depth < 0 for depth in depths):
        raise ValueError(f"hidden_layers must be >= 0, got {depths}")
    if not set(targets) <= {"labels", "numbers"}:
        raise ValueError(f"targets must be 'labels' or 'numbers', got {list(targets)}")
    return [Configuration(*choice) for choice in itertools.product(dtypes, depths, [bool(s) for s in sparse], targets)]


def precompile(dtypes=("float32", "float64"), hidden_layers=(0, 1, 2, 3), sparse=(False, True),
               targets=("labels", "numbers"), report=None):
    """Compile (or load from the cache) the kernels of each configuration, so that later fits compile nothing.

    Takes minutes for every configuration (about 10 to 25 s each on a 2-core machine) and
    well under a second for each one already cached. Run it once where the cache
    persists: an image build, a CI job's cache step. Deeper networks than `hidden_layers`
    lists compile on their first fit.

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
    # The parallel driver only where cost_grad would choose it (more cores than PARALLEL_MIN_CORES):
    # elsewhere it never runs, and compiling it would take as long as the rest.
    if configuration.hidden_layers and _threads.use_parallel(np.iinfo(np.int64).max):
        _engine.cost_grad(X, y, weights, biases, 0.0, parallel=True, output=output)
