"""A short demonstration: the compiled cost_grad equals the reference, and is faster.

``python -m fastnn.demo`` checks the compiled gradient against the NumPy reference and
against central finite differences, then times both on an MNIST-shaped batch.
"""

import time

import numpy as np

from . import reference
from .bench import compare_cost_grad, format_table, make_inputs
from .cost import cost_grad
from .gradcheck import numerical_grad_check


def max_relative_difference(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_gradients(seed=0):
    """Largest relative differences: compiled vs reference, and reference vs finite differences."""
    X, y, params = make_inputs(20, 6, 8, 3, np.float64, seed)
    ref_cost, ref_grads = reference.cost_grad(X, y, params, 0.1)
    comp_cost, comp_grads = cost_grad(X, y, params, 0.1)
    vs_reference = max(max_relative_difference(comp_grads[key], ref_grads[key]) for key in ref_grads)
    worst = max(numerical_grad_check(lambda p: reference.cost_grad(X, y, p, 0.1), params, key).max_rel_error
                for key in params)
    return abs(comp_cost - ref_cost) / ref_cost, vs_reference, worst


def main():
    start = time.perf_counter()
    cost_gap, vs_reference, vs_numeric = check_gradients()
    print(f"first call (includes loading or compiling the kernels): {time.perf_counter() - start:.2f} s")
    print(f"compiled vs reference: cost {cost_gap:.1e}, gradients {vs_reference:.1e} (largest relative difference)")
    print(f"reference vs central finite differences: {vs_numeric:.1e}")
    print(format_table(compare_cost_grad(sizes=(32, 1024), repeats=5)))


if __name__ == "__main__":
    main()
