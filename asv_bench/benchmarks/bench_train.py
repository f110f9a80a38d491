"""One training epoch and MLPClassifier fits (the contenders of fastnn's table), and prediction throughput."""

from .common import CONTENDERS, contenders, inputs, prepare, require

N_SAMPLES = 12000  # MNIST-shaped rows, fewer than 60,000 to keep the suite quick
SEED = 0


class TrainEpoch:
    params = (list(CONTENDERS["epoch"]), [32, 256])
    param_names = ["impl", "batch_size"]
    timeout = 300

    def setup(self, impl, batch_size):
        X, y, params = inputs.mnist_like(N_SAMPLES)
        hyper = (batch_size, contenders.LEARNING_RATE, contenders.DECAY, SEED)
        warm = slice(0, 2 * batch_size)  # compiles the same kernels in a fraction of the epoch's time
        prepare("epoch", impl, X[warm], y[warm], params, *hyper)
        self.run = CONTENDERS["epoch"][impl].make(X, y, params, *hyper)

    def time_epoch(self, impl, batch_size):
        self.run()

    def peakmem_epoch(self, impl, batch_size):
        self.run()


class Predict:
    """Prediction throughput on MNIST-shaped rows."""

    params = ([1000, 60000],)
    param_names = ["n"]

    def setup(self, n):
        (NetClassifier,) = require("fastnn", "NetClassifier")
        self.X, _, self.params = inputs.mnist_like(n)
        self.clf = NetClassifier()
        self.clf.predict(self.X[:10], self.params)

    def time_predict(self, n):
        self.clf.predict(self.X, self.params)

    def time_predict_proba(self, n):
        self.clf.predict_proba(self.X, self.params)


class MLPClassifierFit:
    """fastnn.MLPClassifier against scikit-learn's: the same solver, batch size and epochs."""

    params = (list(CONTENDERS["estimator"]), ["adam", "sgd", "lbfgs"], [(256,), (256, 128)])
    param_names = ["impl", "solver", "hidden"]
    timeout = 600
    EPOCHS = 2
    BATCH_SIZE = 200

    def setup(self, impl, solver, hidden):
        X, y, _ = inputs.mnist_like(N_SAMPLES, h=1)
        _prepare_fit(impl, X[:400], y[:400], hidden, solver, self.BATCH_SIZE, self.EPOCHS)  # compiles
        self.run = CONTENDERS["estimator"][impl].make(X, y, hidden, solver, self.BATCH_SIZE, self.EPOCHS)

    def time_fit(self, impl, solver, hidden):
        self.run()


class MLPClassifierSparseFit:
    """fastnn.MLPClassifier against scikit-learn's on TF-IDF-like sparse rows (20,000 features, density 0.5%)."""

    params = (list(CONTENDERS["estimator"]), ["adam", "sgd", "lbfgs"])
    param_names = ["impl", "solver"]
    timeout = 600
    EPOCHS = 2
    BATCH_SIZE = 200
    N_SAMPLES = 10000

    def setup(self, impl, solver):
        X, y = inputs.tfidf_like(self.N_SAMPLES)
        _prepare_fit(impl, X[:400], y[:400], (100,), solver, self.BATCH_SIZE, self.EPOCHS)  # compiles
        self.run = CONTENDERS["estimator"][impl].make(X, y, (100,), solver, self.BATCH_SIZE, self.EPOCHS)

    def time_fit(self, impl, solver):
        self.run()


def _prepare_fit(impl, *fit_inputs):
    """`prepare` for the estimator contenders; a commit's fastnn that refuses the solver or sparse input
    (those before L-BFGS and sparse support raise ValueError or TypeError) is skipped."""
    try:
        return prepare("estimator", impl, *fit_inputs)
    except (ValueError, TypeError) as error:
        if not impl.startswith("fastnn"):
            raise
        raise NotImplementedError(f"this commit's fastnn cannot fit this: {error}") from error
