"""Weight decay and the optimizer updates, applied in place.

Twin: `fastnn.reference.optimizer_step`. What a driver does with a weight's gradient is
named by a code: KEEP_GRADIENT keeps it (cost_grad), the others apply it as an optimizer
step (`fastnn.optim` maps names to them).
"""

import numpy as np

from .compile import half_largest_like, kernel
from .inputs import _input_rows, _input_squares, _input_transpose_times

KEEP_GRADIENT, SGD, MOMENTUM, NESTEROV, ADAM = -1, 0, 1, 2, 3


@kernel
def _decay_into(w, scale, out, accumulate):
    """out = scale * w (or out += scale * w if accumulate), C-contiguous; returns sum(w ** 2) in float64.

    One pass: the memory traffic, not the arithmetic, is the cost (a W1 of 784 x 256).
    """
    scale = w.dtype.type(scale)
    flat, flat_out = w.ravel(), out.ravel()
    total = 0.0
    if accumulate:  # two loops, not a branch inside one: each must vectorise
        for i in range(flat.size):
            v = flat[i]
            flat_out[i] += scale * v
            total += np.float64(v) * v
    else:
        for i in range(flat.size):
            v = flat[i]
            flat_out[i] = scale * v
            total += np.float64(v) * v
    return total


@kernel
def _scale_in_place(w, scale):
    """w *= scale, C-contiguous; returns sum(w ** 2) before the scaling, in float64.

    One array read and written in place (an out argument that may alias w would keep the
    loop from vectorising).
    """
    scale = w.dtype.type(scale)
    flat = w.ravel()
    total = 0.0
    for i in range(flat.size):
        v = flat[i]
        total += np.float64(v) * v
        flat[i] = scale * v
    return total


@kernel
def _optimizer_update(w, grad, decay, lr, optimizer, hyper, velocity, second, step):
    """One optimizer step on w, in place, along g = grad + decay * w.

    sgd: w -= lr g. momentum: v = mu v - lr g; w += v. nesterov: v = mu v - lr g;
    w += mu v - lr g. adam: m = b1 m + (1 - b1) g, s = b2 s + (1 - b2) g^2,
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s) + eps). hyper = (mu, b1, b2, eps);
    velocity holds v or m, second holds s (both unused by sgd); step is t >= 1.
    The arrays are flat (C-contiguous views of a weight matrix or a bias): one
    compilation serves both. Returns sum(w ** 2) before the step (summed in w's dtype,
    returned as float64) when decay > 0, else 0: scikit-learn's loss_curve_ adds each
    batch's decay term with the weights before its update.
    """
    dtype = w.dtype.type
    momentum, beta1, beta2, eps = dtype(hyper[0]), dtype(hyper[1]), dtype(hyper[2]), dtype(hyper[3])
    one = dtype(1)  # 1 - beta1 with a Python 1 would promote float32 work to float64
    if optimizer == ADAM:
        lr = lr * np.sqrt(1 - hyper[2] ** step) / (1 - hyper[1] ** step)
    lr, decay = dtype(lr), dtype(decay)
    # The squares before the step, summed in the loop that reads w anyway, in w's dtype
    # (as scikit-learn's np.dot(w, w) sums them): float64 sums kept Adam's float32 loop
    # from vectorising (1.7x slower), and a loop of their own cost a fifth more.
    squares = dtype(0)
    # One loop per optimizer, with no branch inside, so that each loop vectorises.
    if optimizer == SGD:
        for i in range(w.size):
            x = w[i]
            squares += x * x
            w[i] = x - lr * (grad[i] + decay * x)
    elif optimizer == MOMENTUM:
        for i in range(w.size):
            x = w[i]
            squares += x * x
            v = momentum * velocity[i] - lr * (grad[i] + decay * x)
            velocity[i] = v
            w[i] = x + v
    elif optimizer == NESTEROV:
        for i in range(w.size):
            x = w[i]
            squares += x * x
            g = grad[i] + decay * x
            v = momentum * velocity[i] - lr * g
            velocity[i] = v
            w[i] = x + (momentum * v - lr * g)
    else:
        for i in range(w.size):
            x = w[i]
            squares += x * x
            g = grad[i] + decay * x
            m = beta1 * velocity[i] + (one - beta1) * g
            s = beta2 * second[i] + (one - beta2) * g * g
            velocity[i] = m
            second[i] = s
            w[i] = x - lr * m / (np.sqrt(s) + eps)
    return np.float64(squares) if decay > 0 else 0.0


@kernel(inline=True)
def _all_finite(a):
    """Whether every entry of a C-contiguous array is finite (one pass, vectorised)."""
    flat = a.ravel()
    bad = False
    for i in range(flat.size):
        bad |= flat[i] - flat[i] != 0
    return not bad


@kernel(inline=True)
def _product_is_finite(A, dZ, product):
    """Whether A^T dZ, held in product, is finite, given finite A and dZ.

    Every entry is at most ||A|| ||dZ|| (Frobenius norms, Cauchy-Schwarz): below half the
    dtype's largest value the product needs no look, and the decay term (checked by the
    engine below the same half) cannot push it over. The bound reads A and dZ, rows x
    (columns of A + columns of dZ) entries; the product itself has columns of A x columns
    of dZ. Whichever is fewer is read: the bound for small batches, the product for large
    ones (a small fraction of the product's work either way).
    """
    rows, size = _input_rows(A), product.shape[0] * product.shape[1]
    if rows * (product.shape[0] + product.shape[1]) < size:
        if np.sqrt(_input_squares(A)) * np.sqrt(_input_squares(dZ)) < half_largest_like(product[0, 0]):
            return True
    return _all_finite(product)


@kernel(inline=True)
def _keep_or_apply_weight_gradient(A, dZ, w, grad, decay, lr, optimizer, hyper, velocity, second, step):
    """The gradient A^T dZ of a weight matrix w, kept (KEEP_GRADIENT) or applied.

    A: a layer's input, dense or the sparse X (`fastnn._kernels.inputs`). Returns
    (sum(w ** 2) before any update when decay > 0, else 0, from a pass that reads w
    anyway; for KEEP_GRADIENT, whether the product A^T dZ is finite, else True: in
    training an overflowed step shows in the next forward pass).

    KEEP_GRADIENT: grad = A^T dZ + decay w, the decay written first and the product added
    through beta = 1. SGD: the update is the product itself, w <- (1 - lr decay) w -
    lr A^T dZ, with no gradient array; the decay scales w first, in the pass BLAS would
    make for beta != 1. Other optimizers: grad = A^T dZ, then `_optimizer_update`.
    """
    if optimizer == SGD:
        squares = _scale_in_place(w, 1.0 - lr * decay) if decay > 0 else 0.0
        _input_transpose_times(-lr, A, dZ, 1.0, w)
        return squares, True
    if optimizer == KEEP_GRADIENT:
        squares = 0.0
        beta = 0.0
        if decay > 0:
            squares = _decay_into(w, decay, grad, np.bool_(False))  # not a literal: one compilation (network.py)
            beta = 1.0
        _input_transpose_times(1.0, A, dZ, beta, grad)
        return squares, _product_is_finite(A, dZ, grad)
    _input_transpose_times(1.0, A, dZ, 0.0, grad)
    squares = _optimizer_update(w.ravel(), grad.ravel(), decay, lr, optimizer, hyper, velocity.ravel(),
                                second.ravel(), step)
    return (squares if decay > 0 else 0.0), True
