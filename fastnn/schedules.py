"""Learning-rate schedules, applied once per epoch."""

import math

SCHEDULES = ("constant", "step", "exponential", "cosine")


def make_schedule(name, lr, epochs, gamma=0.1, step_size=10, lr_min=0.0):
    """Return a function epoch -> learning rate (epochs counted from 0).

    Parameters
    ----------
    name : {"constant", "step", "exponential", "cosine"} or callable
        constant: lr. step: lr * gamma ** (epoch // step_size). exponential:
        lr * gamma ** epoch. cosine: lr_min + (lr - lr_min) (1 + cos(pi epoch / epochs)) / 2.
        A callable is used as it is.
    lr : float
        The initial learning rate, > 0.
    epochs : int
        Number of epochs (the cosine schedule's period).
    gamma, step_size, lr_min : float, int, float
        The decay factor (0 < gamma <= 1), the epochs between steps, the cosine floor.
    """
    if callable(name):
        return name
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if name == "constant":
        return lambda epoch: lr
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    if name == "step":
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        return lambda epoch: lr * gamma ** (epoch // int(step_size))
    if name == "exponential":
        return lambda epoch: lr * gamma**epoch
    if name == "cosine":
        return lambda epoch: lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
    raise ValueError(f"unknown learning-rate schedule {name!r}; choose one of {SCHEDULES} or pass a callable")
