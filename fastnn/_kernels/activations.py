"""Hidden activations, fused into the passes over a layer's rows: the forward activation
(bias added, NaN and inf flagged) and the backward derivative.

Each derivative is taken from the stored activation a, as scikit-learn does (relu:
[a > 0], tanh: 1 - a^2, logistic: a (1 - a), identity: 1), so the backward pass reads
the one buffer the forward pass wrote. tanh and the logistic function come from
`elementary` (arithmetic that vectorises). The activation is a runtime code
(`fastnn.families`), chosen once per layer or block: each activation has its own loop,
so every loop vectorises and one compiled kernel serves all four. Twin:
`fastnn.reference.activate` and `fastnn.reference.backward_activation`.
"""

from .compile import kernel, one_like
from .elementary import fast_logistic, fast_tanh

IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3  # `fastnn.families.ACTIVATIONS` names them


@kernel
def _relu(z):
    return z if z > 0 else 0


@kernel
def _relu_backward(d, a):
    return d if a > 0 else 0  # the derivative at the kink is taken as 0


@kernel
def _activate_rows(hidden, b_hidden, activation):
    """hidden = activation(hidden + b_hidden) in place; True if a pre-activation was NaN or inf."""
    non_finite = False
    for i in range(hidden.shape[0]):
        row = hidden[i]
        # z - z is NaN exactly when z is NaN or inf
        if activation == RELU:
            for j in range(row.shape[0]):
                z = row[j] + b_hidden[j]
                non_finite |= z - z != 0
                row[j] = _relu(z)
        elif activation == TANH:
            for j in range(row.shape[0]):
                z = row[j] + b_hidden[j]
                non_finite |= z - z != 0
                row[j] = fast_tanh(z)
        elif activation == LOGISTIC:
            for j in range(row.shape[0]):
                z = row[j] + b_hidden[j]
                non_finite |= z - z != 0
                row[j] = fast_logistic(z)  # vectorises, where np.exp calls the C library per element
        else:
            for j in range(row.shape[0]):
                z = row[j] + b_hidden[j]
                non_finite |= z - z != 0
                row[j] = z
    return non_finite


@kernel
def _backward_rows(d_hidden, hidden, d_b_hidden_partial, activation):
    """hidden = d_hidden * activation'(at the stored activation hidden), in place.

    Adds the result's rows into d_b_hidden_partial.
    """
    for i in range(hidden.shape[0]):
        row, d_row = hidden[i], d_hidden[i]
        if activation == RELU:
            for j in range(row.shape[0]):
                g = _relu_backward(d_row[j], row[j])
                row[j] = g
                d_b_hidden_partial[j] += g
        elif activation == TANH:
            for j in range(row.shape[0]):
                a = row[j]
                g = d_row[j] * (one_like(a) - a * a)
                row[j] = g
                d_b_hidden_partial[j] += g
        elif activation == LOGISTIC:
            for j in range(row.shape[0]):
                a = row[j]
                g = d_row[j] * a * (one_like(a) - a)
                row[j] = g
                d_b_hidden_partial[j] += g
        else:
            for j in range(row.shape[0]):
                g = d_row[j]
                row[j] = g
                d_b_hidden_partial[j] += g
