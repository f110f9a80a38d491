"""cost_grad for every hidden activation and output (with its loss), beside its GEMM-only yardstick.

The default pair (relu, softmax) is timed by bench_cost too; here each pair runs on the
same MNIST-shaped batch, so the ratio to bench_cost's "gemm-binding" at the same shape
is the overhead of the activation and the loss. A pair that the installed fastnn does
not have (before issue 13) is skipped.
"""

from .common import contenders, inputs

ACTIVATIONS = ["relu", "tanh", "logistic", "identity"]
OUTPUTS = ["softmax", "logistic", "identity", "exp"]


class CostGradCombinations:
    params = (ACTIVATIONS, OUTPUTS, ["float32", "float64"], [1024, 10000])
    param_names = ["activation", "output", "dtype", "n"]
    timeout = 300

    def setup(self, activation, output, dtype, n):
        import fastnn

        X, y, params = inputs.benchmark_inputs(n, 784, 256, 10, dtype)
        t = inputs.targets_for(output, y, 10)
        try:
            fastnn.cost_grad(X[:2], t[:2], params, contenders.DECAY, activation=activation, output=output)
        except TypeError as error:  # a fastnn without activation= and output=
            raise NotImplementedError(str(error)) from error
        self.run = lambda: fastnn.cost_grad(X, t, params, contenders.DECAY, activation=activation, output=output)

    def time_cost_grad(self, activation, output, dtype, n):
        self.run()
