"""exp, tanh and the logistic function for the hidden layers, in arithmetic that vectorises.

Numba compiles np.exp and np.tanh into calls to the C library, one element at a time
(without Intel's SVML, which pip installs do not have): a tanh layer then cost twice
its matrix products. Written here as plain arithmetic, the loops over a layer's rows
run 8 or 16 elements per instruction. Accuracy, measured against NumPy in float64
(tests/test_activations_outputs.py): within 3 ulp in float32, within 3 ulp in
float64.

exp(x) = 2^k e^r with k = round(x / ln 2) and r = x - k ln 2, |r| <= ln 2 / 2, split
into two constants (Cody and Waite) so that r is exact; e^r - 1 is a Taylor
polynomial (degree 7 in float32, 13 in float64, each below half an ulp on that
interval); 2^k is built from its bits. These helpers are overloads compiled without
fastmath, so that no reassociation undoes the split of ln 2; each is inlined into the
loops that call it.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from .compile import run_in_python

# ln 2 = _LN2_HI + _LN2_LO, with _LN2_HI short enough that k * _LN2_HI is exact.
_LN2_HI = {32: 0.693145751953125, 64: 6.93147180369123816490e-01}
_LN2_LO = {32: 1.428606765330187e-06, 64: 1.90821492927058770002e-10}
# The arguments of exp whose 2^k stay normal numbers.
_EXP_RANGE = {32: (-87.0, 88.0), 64: (-708.0, 709.0)}
_TAYLOR_DEGREE = {32: 7, 64: 13}


def _float_from_bits(bits):
    """The float whose IEEE 754 bits are the integer `bits` (int32 -> float32, int64 -> float64)."""
    return bits.view(np.float32 if bits.dtype == np.int32 else np.float64)  # plain Python: NUMBA_DISABLE_JIT=1


@overload(_float_from_bits, inline="always")  # the intrinsic's bitcast in its caller's loop, which vectorises
def _float_from_bits_overload(bits):
    return lambda bits: _bits_as_float(bits)


@intrinsic
def _bits_as_float(typingctx, bits):
    """The float whose IEEE 754 bits are the integer `bits` (int32 -> float32, int64 -> float64)."""
    result = types.float32 if bits.bitwidth == 32 else types.float64

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(bits), codegen


def exp_parts(x):
    """(2^k, e^r - 1) with e^x = 2^k (1 + (e^r - 1)), for x in `_EXP_RANGE`."""
    return run_in_python(_exp_parts, x)


def _constants(x):
    bits = 32 if x == types.float32 else 64
    dtype = np.float32 if bits == 32 else np.float64
    coefficients = [dtype(1 / np.prod(np.arange(1, m + 1, dtype=np.float64)))
                    for m in range(_TAYLOR_DEGREE[bits], 0, -1)]
    return bits, dtype, tuple(coefficients)


@overload(exp_parts)
def _exp_parts(x):
    bits, dtype, coefficients = _constants(x)
    inv_ln2, half = dtype(1 / np.log(2)), dtype(0.5)
    ln2_hi, ln2_lo = dtype(_LN2_HI[bits]), dtype(_LN2_LO[bits])
    integer, bias, shift = (np.int32, 127, 23) if bits == 32 else (np.int64, 1023, 52)

    def implementation(x):
        k = np.floor(x * inv_ln2 + half)
        r = (x - k * ln2_hi) - k * ln2_lo
        polynomial = coefficients[0]
        for c in coefficients[1:]:  # Horner: ((c0 r + c1) r + ...) r + 1/1!, then times r
            polynomial = polynomial * r + c
        return _float_from_bits(integer((np.int64(k) + bias) << shift)), polynomial * r

    return implementation


def fast_exp(x):
    """e^x; inf above `_EXP_RANGE` and 0 below it, as the result overflows or underflows
    (no subnormal results); NaN stays NaN.

    An exact 0 below the range keeps the saturated logistic function and its derivative
    exactly 0, as the reference's are.
    """
    return run_in_python(_fast_exp, x)


@overload(fast_exp)
def _fast_exp(x):
    bits, dtype, _ = _constants(x)
    low, high = dtype(_EXP_RANGE[bits][0]), dtype(_EXP_RANGE[bits][1])
    zero, infinity = dtype(0), dtype(np.inf)

    def implementation(x):
        scale, e_r_minus_1 = exp_parts(min(max(x, low), high))
        value = scale + scale * e_r_minus_1
        # Selects, not branches around the work: the loops that inline this still vectorise.
        value = zero if x < low else value
        return infinity if x > high else value

    return implementation


def fast_tanh(x):
    """tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2), with the sign of x; NaN stays NaN."""
    return run_in_python(_fast_tanh, x)


@overload(fast_tanh)
def _fast_tanh(x):
    _, dtype, _ = _constants(x)
    one, two, limit = dtype(1), dtype(2), dtype(20)  # tanh(20) is 1 in both dtypes

    def implementation(x):
        a = min(abs(x), limit)
        scale, e_r_minus_1 = exp_parts(a + a)
        # expm1 = 2^k (e^r - 1) + (2^k - 1): exact for k = 0, where tanh is small.
        expm1 = (scale - one) + scale * e_r_minus_1
        t = expm1 / (expm1 + two)
        return t if x >= 0 else -t

    return implementation


def fast_logistic(x):
    """1 / (1 + e^-x), in [0, 1] for every x: exactly 0 where e^-x overflows."""
    return run_in_python(_fast_logistic, x)


@overload(fast_logistic)
def _fast_logistic(x):
    _, dtype, _ = _constants(x)
    one = dtype(1)

    def implementation(x):
        return one / (one + fast_exp(-x))

    return implementation
