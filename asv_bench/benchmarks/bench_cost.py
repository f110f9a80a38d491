"""cost_grad: the compiled path against the NumPy reference and the GEMM-only yardstick."""

import numpy as np

from .common import inputs, require

SHAPES = [(32, 784, 256, 10), (1024, 784, 256, 10), (10000, 784, 256, 10), (1797, 64, 64, 10)]


class CostGrad:
    params = (["numpy", "numba"], ["float32", "float64"], SHAPES)
    param_names = ["impl", "dtype", "shape"]

    def setup(self, impl, dtype, shape):
        module = "fastnn.reference" if impl == "numpy" else "fastnn"
        (self.cost_grad,) = require(module, "cost_grad")
        self.X, self.y, self.params = inputs(*shape, dtype)
        self.cost_grad(self.X, self.y, self.params, 1e-4)  # compile outside the timing

    def time_cost_grad(self, impl, dtype, shape):
        self.cost_grad(self.X, self.y, self.params, 1e-4)

    def peakmem_cost_grad(self, impl, dtype, shape):
        self.cost_grad(self.X, self.y, self.params, 1e-4)


class GemmOnly:
    """The five matrix products of one forward-backward pass alone, in NumPy's BLAS."""

    params = (["float32", "float64"], SHAPES)
    param_names = ["dtype", "shape"]

    def setup(self, dtype, shape):
        self.X, _, params = inputs(*shape, dtype)
        self.W1, self.W2 = params["W1"], params["W2"]
        self.A1 = np.maximum(self.X @ self.W1, 0)
        self.G = np.ones((self.X.shape[0], self.W2.shape[1]), dtype)

    def time_gemm_only(self, dtype, shape):
        self.X @ self.W1, self.A1 @ self.W2, self.A1.T @ self.G, self.G @ self.W2.T, self.X.T @ self.A1
