"""cost_grad: every contender of fastnn's table (compiled, the NumPy reference, PyTorch, the GEMM-only yardsticks)."""

from .common import CONTENDERS, contenders, inputs, prepare

# (n, d, h, k): MNIST-shaped batches, and the digits (where call overhead dominates).
SHAPES = [(32, 784, 256, 10), (1024, 784, 256, 10), (10000, 784, 256, 10), (1797, 64, 64, 10)]


class CostGrad:
    params = (list(CONTENDERS["cost_grad"]), ["float32", "float64"], SHAPES)
    param_names = ["impl", "dtype", "shape"]

    def setup(self, impl, dtype, shape):
        X, y, params = inputs.benchmark_inputs(*shape, dtype)
        self.run = prepare("cost_grad", impl, X, y, params, contenders.DECAY)

    def time_cost_grad(self, impl, dtype, shape):
        self.run()

    def peakmem_cost_grad(self, impl, dtype, shape):
        self.run()
