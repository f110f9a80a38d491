"""fastnn: fast CPU training of neural-network classifiers, checked against a NumPy reference."""

import importlib

from ._kernels.compile import CompileWarning
from ._system import show_config, use_blas
from ._version import __version__ as __version__
from .cost import cost_grad
from .io import load, save
from .net import NetClassifier, get_init_params

# The names `from fastnn import *` gives: only those that import without optional
# dependencies. MLPClassifier and MLPRegressor (scikit-learn) are left out so that the star import works
# without scikit-learn; `fastnn.MLPClassifier` and `from fastnn import MLPRegressor` load them.
__all__ = ["CompileWarning", "NetClassifier", "cost_grad", "get_init_params", "load", "reference", "save",
           "show_config", "use_blas"]


def __getattr__(name):
    # The reference is the oracle of the tests, benchmarks and gradcheck; no production path imports it.
    if name == "reference":
        return importlib.import_module("fastnn.reference")
    # MLPClassifier and MLPRegressor need scikit-learn, an optional dependency: import it on first use.
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import mlp

        return getattr(mlp, name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "MLPClassifier", "MLPRegressor", "reference"])
