"""One training epoch: fastnn's compiled loop against the hand-in's NumPy loop."""

import numpy as np

from .common import inputs, require

N_SAMPLES = 12000  # MNIST-shaped rows, fewer than 60,000 to keep the suite quick


class TrainEpoch:
    params = (["numpy", "numba"], [32, 256])
    param_names = ["impl", "batch_size"]
    timeout = 300

    def setup(self, impl, batch_size):
        self.X, self.y, self.params = inputs(N_SAMPLES, 784, 256, 10, "float32")
        if impl == "numba":
            (NetClassifier,) = require("fastnn", "NetClassifier")
            self.clf = NetClassifier()
            self.clf.fit(self.X[:batch_size * 2], self.y[:batch_size * 2], None, None, self.params,
                         batch_size=batch_size, epochs=1)  # compile outside the timing
        else:
            (self.cost_grad,) = require("fastnn.reference", "cost_grad")

    def time_epoch(self, impl, batch_size):
        if impl == "numba":
            self.clf.fit(self.X, self.y, None, None, self.params, batch_size=batch_size, epochs=1, seed=0)
        else:
            self._numpy_epoch(batch_size)

    def peakmem_epoch(self, impl, batch_size):
        self.time_epoch(impl, batch_size)

    def _numpy_epoch(self, batch_size):
        weights = {key: value.copy() for key, value in self.params.items()}
        order = np.random.default_rng(0).permutation(len(self.X))
        for start in range(0, len(self.X), batch_size):
            rows = order[start:start + batch_size]
            _, grads = self.cost_grad(self.X[rows], self.y[rows], weights, 1e-4)
            for key in weights:
                weights[key] -= 0.1 * grads["d_" + key.lower()]


class Predict:
    """Prediction throughput on MNIST-shaped rows."""

    params = ([1000, 60000],)
    param_names = ["n"]

    def setup(self, n):
        (NetClassifier,) = require("fastnn", "NetClassifier")
        self.X, _, self.params = inputs(n, 784, 256, 10, "float32")
        self.clf = NetClassifier()
        self.clf.predict(self.X[:10], self.params)

    def time_predict(self, n):
        self.clf.predict(self.X, self.params)

    def time_predict_proba(self, n):
        self.clf.predict_proba(self.X, self.params)


class MLPClassifierFit:
    """fastnn.MLPClassifier against scikit-learn's: the same solver, batch size and epochs."""

    params = (["sklearn", "fastnn"], ["adam", "sgd"], [(256,), (256, 128)])
    param_names = ["impl", "solver", "hidden"]
    timeout = 600
    EPOCHS = 2

    def setup(self, impl, solver, hidden):
        module = "fastnn" if impl == "fastnn" else "sklearn.neural_network"
        (self.classifier,) = require(module, "MLPClassifier")
        self.solver, self.hidden = solver, hidden
        self.X, self.y, _ = inputs(N_SAMPLES, 784, 1, 10, "float32")
        self._fit(self.X[:400], self.y[:400])  # compile outside the timing

    def _fit(self, X, y):
        import warnings

        model = self.classifier(hidden_layer_sizes=self.hidden, solver=self.solver, batch_size=200,
                                max_iter=self.EPOCHS, tol=0.0, n_iter_no_change=self.EPOCHS + 1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: the epochs are fixed on purpose
            model.fit(X, y)

    def time_fit(self, impl, solver, hidden):
        self._fit(self.X, self.y)
