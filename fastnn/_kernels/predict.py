"""Prediction: the forward pass over a data set in bounded-memory chunks, and the loss and
accuracy of softmax logits. Twin: `fastnn.reference.logits`."""

import numpy as np

from .blas import _gemm
from .compile import dispatch, kernel
from .inputs import _input_chunk, _input_rows, _input_times
from .network import _dense, _rows_view
from .status import NON_FINITE, OK


@kernel(inline=True)
def _logits_into(X, W, b, chunk, out, activation):
    """out = the logits (the output layer's pre-activation) of X under layers W, b (tuples) and the
    hidden activation (a code), chunk rows at a time (memory: 2 chunk x max h).

    Returns the status: NON_FINITE if a pre-activation or a logit was NaN or inf. X:
    dense or sparse (`fastnn._kernels.inputs`).
    """
    n, last = _input_rows(X), len(W) - 1
    widest = 0
    for l in range(last):
        widest = max(widest, W[l].shape[1])
    rows_max = min(n, chunk)
    dtype = W[0].dtype
    buffers = (np.empty(rows_max * widest, dtype), np.empty(rows_max * widest, dtype))
    non_finite = False
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        A = _rows_view(buffers[0], stop - start, W[0].shape[1])
        non_finite |= _dense(_input_chunk(X, start, stop), W[0], b[0], A, activation)
        for l in range(1, last):
            Z = _rows_view(buffers[l % 2], stop - start, W[l].shape[1])
            non_finite |= _dense(A, W[l], b[l], Z, activation)
            A = Z
        logits = out[start:stop]
        _gemm(False, False, 1.0, A, W[last], 0.0, logits)
        for i in range(logits.shape[0]):
            for c in range(logits.shape[1]):
                logits[i, c] += b[last][c]
                non_finite |= logits[i, c] - logits[i, c] != 0
    return NON_FINITE if non_finite else OK


@kernel(inline=True)
def _linear_logits_into(X, W, b, chunk, out, activation):
    """`_logits_into` of a network without hidden layers: out = X W1 + b1, chunk rows at a time (activation unused)."""
    n = _input_rows(X)
    non_finite = False
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        logits = out[start:stop]
        _input_times(_input_chunk(X, start, stop), W[0], logits)
        for i in range(logits.shape[0]):
            for c in range(logits.shape[1]):
                logits[i, c] += b[0][c]
                non_finite |= logits[i, c] - logits[i, c] != 0
    return NON_FINITE if non_finite else OK


@kernel
def _loss_and_accuracy(logits, y):
    """Mean cross-entropy (float64, stable log-softmax) and the fraction of rows whose argmax is y."""
    n, k = logits.shape
    loss = 0.0
    hits = 0
    for i in range(n):
        row = logits[i]
        best = 0
        for c in range(1, k):
            if row[c] > row[best]:
                best = c
        top = np.float64(row[best])
        total = 0.0
        for c in range(k):
            total += np.exp(np.float64(row[c]) - top)
        loss += np.log(total) - (np.float64(row[y[i]]) - top)
        hits += best == y[i]
    return loss / n, hits / n


_logits_of = dispatch("_logits_of", lambda X, W, *rest: _linear_logits_into if W.count == 1 else _logits_into,
                      _logits_into, inline=True)


@kernel
def _logits(X, W, b, chunk, out, activation):
    """`_logits_into`, or `_linear_logits_into` for a network without hidden layers: the status."""
    return _logits_of(X, W, b, chunk, out, activation)
