"""Optimizers for the compiled training loop: names, hyper-parameters and state.

The update itself is compiled (`fastnn._kernels.updates`, twin
`fastnn.reference.optimizer_step`); this module checks the hyper-parameters and lays out
the state the update keeps between steps.
"""

from dataclasses import dataclass

import numpy as np

from ._validation import check_hyperparameter
from .families import OPTIMIZERS


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's name and hyper-parameters.

    sgd: w -= lr g. momentum: v = momentum v - lr g; w += v. nesterov: v = momentum v -
    lr g; w += momentum v - lr g. adam: Kingma and Ba's Adam with bias correction.
    g includes the weight decay c/n w for the weight matrices (not the biases).

    `names` maps each hyper-parameter to the name the user wrote it under (an
    estimator's own names), for error messages.
    """

    name: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    names: tuple = (("momentum", "momentum"), ("beta1", "beta1"), ("beta2", "beta2"), ("eps", "eps"))

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; choose one of {sorted(OPTIMIZERS)}")
        names = dict(self.names)
        for field, bounds in (("momentum", "momentum"), ("beta1", "beta"), ("beta2", "beta"), ("eps", "epsilon")):
            object.__setattr__(self, field, check_hyperparameter(names[field], getattr(self, field), bounds))

    @property
    def code(self):
        return OPTIMIZERS[self.name].code

    @property
    def hyper(self):
        return (self.momentum, self.beta1, self.beta2, self.eps)

    def init_state(self, weights, biases, allocate=True):
        """Zeroed optimizer state (v_W, s_W, v_b, s_b): velocity and second moment per array.

        Each is a tuple with one array per layer; a state the optimizer does not keep
        (plain SGD keeps none, momentum no second moment) holds zero-size arrays instead.
        With allocate=False, the shapes only.
        """
        def zeros(arrays, kept):
            shapes = tuple(a.shape if kept else (0,) * a.ndim for a in arrays)
            return tuple(np.zeros(shape, a.dtype) for shape, a in zip(shapes, arrays)) if allocate else shapes

        keeps_velocity, keeps_second = OPTIMIZERS[self.name].keeps_velocity, OPTIMIZERS[self.name].keeps_second
        return (zeros(weights, keeps_velocity), zeros(weights, keeps_second),
                zeros(biases, keeps_velocity), zeros(biases, keeps_second))

    def state_mismatch(self, state, weights, biases, names=("v_W", "s_W", "v_b", "s_b")):
        """Why `state` cannot continue this optimizer on these layers (the first mismatch), or None.

        The state must be laid out as `init_state` lays it out: one array per layer in
        each of its four parts, of the layers' dtype and the shapes this optimizer keeps,
        C-contiguous and writable (the compiled update writes it in place). `names` name
        the four parts in the message.
        """
        if len(state) != 4:
            return "the optimizer state must have four parts (v_W, s_W, v_b, s_b)"
        dtype = weights[0].dtype
        for name, arrays, shapes in zip(names, state, self.init_state(weights, biases, allocate=False)):
            if len(arrays) != len(shapes):
                return f"the optimizer state {name} has {len(arrays)} layers, the network {len(shapes)}"
            for layer, (array, shape) in enumerate(zip(arrays, shapes), 1):
                if not (isinstance(array, np.ndarray) and array.shape == shape and array.dtype == dtype
                        and array.flags.c_contiguous and array.flags.writeable):
                    found = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
                    return (f"the optimizer state {name}{layer} ({self.name}) is {found}; the solver keeps {dtype} "
                            f"{shape}, C-contiguous and writable")
        return None
