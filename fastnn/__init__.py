"""fastnn: fast CPU training of neural-network classifiers, checked against a NumPy reference."""

from . import reference
from .cost import cost_grad

__all__ = ["cost_grad", "reference"]
__version__ = "0.1.0"
