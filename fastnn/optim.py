"""Optimizers for the compiled training loop: names, hyper-parameters and state.

The update itself is compiled (`fastnn._kernels._update`); this module checks the
hyper-parameters and allocates the state the update keeps between steps.
"""

from dataclasses import dataclass

import numpy as np

from ._kernels import ADAM, MOMENTUM, NESTEROV, SGD

CODES = {"sgd": SGD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's name and hyper-parameters.

    sgd: w -= lr g. momentum: v = momentum v - lr g; w += v. nesterov: v = momentum v -
    lr g; w += momentum v - lr g. adam: Kingma and Ba's Adam with bias correction.
    g includes the weight decay c/n w for W1 and W2.
    """

    name: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        if self.name not in CODES:
            raise ValueError(f"unknown optimizer {self.name!r}; choose one of {sorted(CODES)}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")

    @property
    def code(self):
        return CODES[self.name]

    @property
    def hyper(self):
        return (float(self.momentum), float(self.beta1), float(self.beta2), float(self.eps))

    def init_state(self, weights):
        """Zeroed (velocity, second moment) per array of `weights`, flattened into one tuple.

        Plain SGD keeps no state: it gets empty arrays.
        """
        state = []
        for w in weights:
            velocity = np.zeros_like(w) if self.name != "sgd" else np.zeros(0, w.dtype)
            second = np.zeros_like(w) if self.name == "adam" else np.zeros(0, w.dtype)
            state += [velocity, second]
        return tuple(state)
