"""cost_grad: the compiled path against the NumPy reference, one table per shape."""

from .common import inputs

SHAPES = [(32, 784, 256, 10), (1024, 784, 256, 10), (10000, 784, 256, 10), (1797, 64, 64, 10)]


class CostGrad:
    params = (["numpy", "numba"], ["float32", "float64"], SHAPES)
    param_names = ["impl", "dtype", "shape"]

    def setup(self, impl, dtype, shape):
        try:
            import fastnn
            from fastnn import reference
        except ImportError as error:  # an older commit without this API
            raise NotImplementedError(str(error))
        self.X, self.y, self.params = inputs(*shape, dtype)
        self.cost_grad = reference.cost_grad if impl == "numpy" else fastnn.cost_grad
        self.cost_grad(self.X, self.y, self.params, 1e-4)  # compile outside the timing

    def time_cost_grad(self, impl, dtype, shape):
        self.cost_grad(self.X, self.y, self.params, 1e-4)

    def peakmem_cost_grad(self, impl, dtype, shape):
        self.cost_grad(self.X, self.y, self.params, 1e-4)
