"""Hidden activations, fused into the passes over a layer's rows: the forward activation
(bias added, NaN and inf flagged) and the backward derivative.

Each derivative is taken from the stored activation a, as scikit-learn does (relu:
[a > 0], tanh: 1 - a^2, logistic: a (1 - a), identity: 1), so the backward pass reads
the one buffer the forward pass wrote. tanh and the logistic function come from
`elementary` (arithmetic that vectorises). The activation is a literal code (`by_code`):
a kernel compiles only the activation it is specialised for. Twin:
`fastnn.reference.activate` and `fastnn.reference.backward_activation`.
"""

from .compile import by_code, kernel, one_like
from .elementary import fast_logistic, fast_tanh

IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3
CODES = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH, "relu": RELU}


@kernel
def _identity(z, code):
    return z


@kernel
def _logistic(z, code):
    return fast_logistic(z)  # vectorises, where np.exp calls the C library per element


@kernel
def _tanh(z, code):
    return fast_tanh(z)


@kernel
def _relu(z, code):
    return z if z > 0 else 0


_activate = by_code("_activate", {IDENTITY: _identity, LOGISTIC: _logistic, TANH: _tanh, RELU: _relu})


@kernel
def _identity_backward(d, a, code):
    return d


@kernel
def _logistic_backward(d, a, code):
    return d * a * (one_like(a) - a)


@kernel
def _tanh_backward(d, a, code):
    return d * (one_like(a) - a * a)


@kernel
def _relu_backward(d, a, code):
    return d if a > 0 else 0  # the derivative at the kink is taken as 0


_backward = by_code("_backward", {IDENTITY: _identity_backward, LOGISTIC: _logistic_backward,
                                  TANH: _tanh_backward, RELU: _relu_backward})


@kernel
def _activate_rows(hidden, b_hidden, activation):
    """hidden = activation(hidden + b_hidden) in place; True if a pre-activation was NaN or inf."""
    non_finite = False
    for i in range(hidden.shape[0]):
        row = hidden[i]
        for j in range(row.shape[0]):
            z = row[j] + b_hidden[j]
            non_finite |= z - z != 0  # z - z is NaN exactly when z is NaN or inf
            row[j] = _activate(z, activation)
    return non_finite


@kernel
def _backward_rows(d_hidden, hidden, d_b_hidden_partial, activation):
    """hidden = d_hidden * activation'(at the stored activation hidden), in place.

    Adds the result's rows into d_b_hidden_partial.
    """
    for i in range(hidden.shape[0]):
        row, d_row = hidden[i], d_hidden[i]
        for j in range(row.shape[0]):
            g = _backward(d_row[j], row[j], activation)
            row[j] = g
            d_b_hidden_partial[j] += g
