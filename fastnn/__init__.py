"""fastnn: fast CPU training of neural-network classifiers, checked against a NumPy reference."""

from . import reference
from .cost import cost_grad
from .io import load, save
from .net import NetClassifier, get_init_params

__all__ = ["MLPClassifier", "NetClassifier", "cost_grad", "get_init_params", "load", "reference", "save"]
__version__ = "0.1.0"


def __getattr__(name):
    # MLPClassifier needs scikit-learn, an optional dependency: import it on first use.
    if name == "MLPClassifier":
        from .mlp import MLPClassifier

        return MLPClassifier
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
