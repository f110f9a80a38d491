"""Learning-rate schedules: objects that give the rate of each epoch.

A schedule's `lr` is the rate of the next epoch. The training loop calls `begin(epoch)`
before each epoch, `end(samples_seen)` after it, and `slow_down()` when progress stalls
(True: the schedule lowered the rate and training goes on; False: training stops).
NetClassifier's schedules depend on the epoch; scikit-learn's invscaling on the samples
seen, and adaptive on stalls.
"""

import math

from ._validation import check_hyperparameter
from .families import SCHEDULES

MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's adaptive schedule stops once the rate falls below this


class Constant:
    """lr every epoch."""

    def __init__(self, lr, lr_name="lr"):
        self.initial = self.lr = check_hyperparameter(lr_name, lr, "learning_rate")

    def begin(self, epoch):
        pass

    def end(self, samples_seen):
        pass

    def slow_down(self):
        return False

    def __call__(self, epoch):
        """The rate of `epoch` (from 0), for the schedules that depend on the epoch alone."""
        self.begin(epoch)
        return self.lr


class Step(Constant):
    """lr * gamma ** (epoch // step_size)."""

    def __init__(self, lr, gamma=0.1, step_size=10, lr_name="lr", gamma_name="lr_gamma", step_name="lr_step"):
        super().__init__(lr, lr_name)
        self.gamma = check_hyperparameter(gamma_name, gamma, "gamma")
        self.step_size = check_hyperparameter(step_name, step_size, "step_size")

    def begin(self, epoch):
        self.lr = self.initial * self.gamma ** (epoch // self.step_size)


class Exponential(Constant):
    """lr * gamma ** epoch."""

    def __init__(self, lr, gamma=0.1, lr_name="lr", gamma_name="lr_gamma"):
        super().__init__(lr, lr_name)
        self.gamma = check_hyperparameter(gamma_name, gamma, "gamma")

    def begin(self, epoch):
        self.lr = self.initial * self.gamma**epoch


class Cosine(Constant):
    """lr_min + (lr - lr_min) (1 + cos(pi epoch / epochs)) / 2."""

    def __init__(self, lr, epochs, lr_min=0.0, lr_name="lr"):
        super().__init__(lr, lr_name)
        self.epochs = max(int(epochs), 1)
        self.lr_min = check_hyperparameter("lr_min", lr_min)

    def begin(self, epoch):
        self.lr = self.lr_min + (self.initial - self.lr_min) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2


class FromCallable(Constant):
    """function(epoch), which must give a finite number > 0."""

    def __init__(self, function):
        self.function = function
        self.initial = self.lr = None

    def begin(self, epoch):
        lr = float(self.function(epoch))
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"the learning-rate schedule gave {lr} for epoch {epoch}; it must be > 0")
        self.lr = lr


class InvScaling(Constant):
    """scikit-learn's invscaling: after each epoch, lr / (samples_seen + 1) ** power_t."""

    def __init__(self, lr, power_t=0.5, lr_name="learning_rate_init"):
        super().__init__(lr, lr_name)
        self.power_t = check_hyperparameter("power_t", power_t)

    def end(self, samples_seen):
        self.lr = self.initial / (samples_seen + 1) ** self.power_t


class Adaptive(Constant):
    """scikit-learn's adaptive: lr until progress stalls, then divided by 5 each time; stop below 1e-6."""

    def slow_down(self):
        if self.lr <= MIN_ADAPTIVE_LR:
            return False
        self.lr /= 5
        return True


def make_schedule(name, lr, epochs, gamma=0.1, step_size=10, lr_min=0.0):
    """A schedule by name: "constant", "step", "exponential", "cosine", or a callable of the epoch.

    Parameters
    ----------
    name : {"constant", "step", "exponential", "cosine"} or callable
        constant: lr. step: lr * gamma ** (epoch // step_size). exponential:
        lr * gamma ** epoch. cosine: lr_min + (lr - lr_min) (1 + cos(pi epoch / epochs)) / 2.
        A callable of the epoch (counted from 0) gives the rate itself.
    lr : float
        The initial learning rate, > 0.
    epochs : int
        Number of epochs (the cosine schedule's period).
    gamma, step_size, lr_min : float, int, float
        The decay factor (0 < gamma <= 1), the epochs between steps, the cosine floor.

    Raises
    ------
    ValueError
        An unknown name, or a value out of its bounds.
    """
    if callable(name):
        return FromCallable(name)
    if name == "constant":
        return Constant(lr)
    if name == "step":
        return Step(lr, gamma, step_size)
    if name == "exponential":
        return Exponential(lr, gamma)
    if name == "cosine":
        return Cosine(lr, epochs, lr_min)
    raise ValueError(f"unknown learning-rate schedule {name!r}; choose one of {SCHEDULES} or pass a callable")
