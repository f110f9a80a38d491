"""The families of choices, each declared once: hidden activations, outputs (with their
losses and targets), optimizers and learning-rate schedules.

Validation, the engine, the estimators, the command line, `fastnn.reference`, the tests
and the benchmarks read these tables; the kernels take the codes at run time, so one
compiled kernel serves every activation and output. Adding an activation touches its
kernel loops (`fastnn._kernels.activations`), its twin (`fastnn.reference.activate` and
`backward_activation`) and one row here.
"""

import collections

from ._kernels import activations as _activations
from ._kernels import outputs as _outputs
from ._kernels import updates as _updates

Activation = collections.namedtuple("Activation", "name code")
ACTIVATIONS = {row.name: row for row in (
    Activation("identity", _activations.IDENTITY),
    Activation("logistic", _activations.LOGISTIC),
    Activation("tanh", _activations.TANH),
    Activation("relu", _activations.RELU),
)}

# targets: "labels" (integer class labels, one softmax output per class), "binary" (0/1 per
# output), "real" (any finite number), "counts" (finite and >= 0). accuracy: whether the
# output has an accuracy (argmax for labels, every output at 0.5 for binary).
Output = collections.namedtuple("Output", "name code loss targets accuracy")
OUTPUTS = {row.name: row for row in (
    Output("softmax", _outputs.SOFTMAX, "cross-entropy of labels", "labels", True),
    Output("logistic", _outputs.LOGISTIC, "binary cross-entropy of 0/1 targets", "binary", True),
    Output("identity", _outputs.IDENTITY, "half the squared error, averaged over outputs", "real", False),
    Output("exp", _outputs.EXP, "Poisson deviance of counts >= 0", "counts", False),
)}

# state: which of the velocity and the second moment the optimizer keeps per parameter.
Optimizer = collections.namedtuple("Optimizer", "name code keeps_velocity keeps_second")
OPTIMIZERS = {row.name: row for row in (
    Optimizer("sgd", _updates.SGD, False, False),
    Optimizer("momentum", _updates.MOMENTUM, True, False),
    Optimizer("nesterov", _updates.NESTEROV, True, False),
    Optimizer("adam", _updates.ADAM, True, True),
)}

# NetClassifier's and the command line's learning-rate schedules (`fastnn.schedules`).
SCHEDULES = ("constant", "step", "exponential", "cosine")


def codes(activation, output):
    """The kernels' codes of a hidden activation and an output, by name."""
    return ACTIVATIONS[activation].code, OUTPUTS[output].code
