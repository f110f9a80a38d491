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
    g includes the weight decay c/n w for the weight matrices (not the biases).
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

    def init_state(self, weights, biases):
        """Zeroed optimizer state (v_W, s_W, v_b, s_b): velocity and second moment per array.

        Each is a tuple with one array per layer; a state the optimizer does not keep
        (plain SGD keeps none, momentum no second moment) holds empty arrays instead.
        """
        def zeros(arrays, kept):
            return tuple(np.zeros_like(a) if kept else np.zeros((0,) * a.ndim, a.dtype) for a in arrays)

        keeps_velocity, keeps_second = self.name != "sgd", self.name == "adam"
        return (zeros(weights, keeps_velocity), zeros(weights, keeps_second),
                zeros(biases, keeps_velocity), zeros(biases, keeps_second))
