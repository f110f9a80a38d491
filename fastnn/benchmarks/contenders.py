"""The one table of contenders: every implementation that fastnn is timed against, per task.

`CONTENDERS[task][name]` is a `Contender` whose factory takes the task's inputs and
returns a function of no arguments: the runner times it side by side with the others,
the asv suite and pytest-benchmark time it alone, and the tests check what it returns
against the NumPy reference. (numbagg drives its tests and benchmarks from one such
table, its COMPARISONS.) The tasks:

``"cost_grad"``: ``make(X, y, params, c)``
    One forward-backward pass; ``run()`` returns ``(cost, grads)`` as
    `fastnn.reference.cost_grad` does. The GEMM-only yardsticks (``yardstick=True``)
    return instead the five matrix products of that pass at the same shapes, so that the
    elementwise work can be measured against them; they need a two-layer network.
``"epoch"``: ``make(X, y, params, batch_size, lr, c, seed, metrics="full")``
    One epoch of plain SGD from `params`, visiting the rows in the order
    ``epoch_order(len(X), seed)``, then the training metrics `fastnn.NetClassifier.fit`
    measures with the same `metrics`: "full", the training set's loss and accuracy after
    the epoch (a forward pass over it); "running", the mean of the batch losses before
    their updates (no accuracy). ``run()`` returns an `EpochResult`. The contenders agree with
    `fastnn.reference.train_epoch` when batch_size divides len(X) and k >= 3 (PyTorch's
    weight decay is per optimizer, not per batch size; scikit-learn trains a logistic
    output for two classes). The yardstick, the "GEMM floor", runs the epoch's matrix
    products alone and returns the last batch's.
``"estimator"``: ``make(X, y, hidden, solver, batch_size, epochs)``
    ``run()`` fits an MLPClassifier (fastnn's or scikit-learn's, the same
    hyper-parameters) for exactly `epochs` epochs and returns it.

Every factory imports its library when called, never at import time: importing this
module imports NumPy only, and a contender whose library is not installed is reported by
`Contender.missing` rather than failing. The asv suite loads this file by its path (to
time older commits with today's table), so it stays self-contained: no relative
imports, and `fastnn` imported inside the factories only.
"""

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import typing
import warnings

import numpy as np

INSTALL_HINTS = {"torch": "pip install torch", "sklearn": "pip install scikit-learn"}

# The hyper-parameters every benchmark uses: weight decay c and plain SGD's learning rate.
DECAY = 1e-4
LEARNING_RATE = 0.1


@dataclasses.dataclass(frozen=True)
class Contender:
    """One implementation of a task.

    Attributes
    ----------
    name : str
        Its key in `CONTENDERS`: the runner's, asv's and pytest's name for it.
    label : str
        What the tables call it.
    make : callable
        The factory: the task's inputs -> a function of no arguments.
    needs : str or None
        The optional library (a top-level module name) it imports, or None.
    yardstick : bool
        True for the GEMM-only timings, whose functions return the matrix products
        rather than the task's result.
    """

    name: str
    label: str
    make: typing.Callable
    needs: str | None = None
    yardstick: bool = False

    def missing(self):
        """Why this contender cannot run here (its library is not installed), or None."""
        if self.needs is None or importlib.util.find_spec(self.needs) is not None:
            return None
        return f"{self.needs} is not installed: {INSTALL_HINTS.get(self.needs, 'pip install ' + self.needs)}"


def build(task, *inputs, names=None):
    """The functions of a task's contenders whose libraries are installed.

    Parameters
    ----------
    task : {"cost_grad", "epoch", "estimator"}
    *inputs
        The task's inputs (see the module's docstring).
    names : collection of str, optional
        Build only these contenders (default: every one of the task).

    Returns
    -------
    runs : dict
        name -> function of no arguments, in table order.
    skipped : dict
        name -> why it was left out, for those asked for whose library is not installed.
    """
    runs, skipped = {}, {}
    for name, contender in CONTENDERS[task].items():
        if names is not None and name not in names:
            continue
        reason = contender.missing()
        if reason is None:
            runs[name] = contender.make(*inputs)
        else:
            skipped[name] = reason
    return runs, skipped


def _threads_like_fastnn(torch):
    # Same thread count for every contender (fastnn runs on Numba's threads).
    import numba

    torch.set_num_threads(numba.get_num_threads())


def _layer_params(params):
    """(weights, biases) of params in layer order."""
    n_layers = len(params) // 2
    return ([params[f"W{layer}"] for layer in range(1, n_layers + 1)],
            [params[f"b{layer}"] for layer in range(1, n_layers + 1)])


# ---------------------------------------------------------------- cost_grad


def _fastnn_cost_grad(X, y, params, c):
    import fastnn

    return functools.partial(fastnn.cost_grad, X, y, params, c)


def _numpy_cost_grad(X, y, params, c):
    from fastnn import reference

    return functools.partial(reference.cost_grad, X, y, params, c)


def _torch_cost_grad(X, y, params, c):
    """PyTorch autograd on the same cost: mean cross-entropy + c/(2n) sum ||W||^2."""
    import torch

    _threads_like_fastnn(torch)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    weights, biases = _layer_params(params)
    bias_shapes = [np.shape(b) for b in biases]
    weights = [torch.tensor(W, requires_grad=True) for W in weights]
    biases = [torch.tensor(np.reshape(b, -1), requires_grad=True) for b in biases]
    n_rows = X.shape[0]

    def run():
        for tensor in weights + biases:
            tensor.grad = None
        activations = inputs
        for W, b in zip(weights[:-1], biases[:-1]):
            activations = torch.relu(activations @ W + b)
        logits = activations @ weights[-1] + biases[-1]
        decay = sum((W * W).sum() for W in weights)
        cost = torch.nn.functional.cross_entropy(logits, targets) + c / (2 * n_rows) * decay
        cost.backward()
        grads = {}
        for layer, (W, b, shape) in enumerate(zip(weights, biases, bias_shapes), 1):
            grads[f"d_w{layer}"] = W.grad.numpy()  # views of PyTorch's buffers: no copy timed
            grads[f"d_b{layer}"] = b.grad.numpy().reshape(shape)
        return cost.item(), grads

    return run


def gemm_operands(X, params):
    """The operands of the five products of a two-layer forward-backward pass.

    Returns
    -------
    X, W1, hidden, dlogits, W2
        hidden = relu(X W1), (n, h); dlogits (n, k) of ones, standing in for the
        gradient of the logits (the values do not change a product's time).
    """
    if len(params) != 4:
        raise ValueError("the GEMM-only yardstick is defined for one hidden layer (W1, b1, W2, b2)")
    W1, W2 = params["W1"], params["W2"]
    hidden = np.maximum(X @ W1, 0)
    dlogits = np.ones((X.shape[0], W2.shape[1]), X.dtype)
    return X, W1, hidden, dlogits, W2


def gemm_products(X, W1, hidden, dlogits, W2):
    """The five products of one forward-backward pass, through NumPy.

    X W1 and hidden W2 (forward), hidden^T dlogits, dlogits W2^T and X^T hidden
    (backward: d_w2, the hidden layer's gradient, d_w1).
    """
    return X @ W1, hidden @ W2, hidden.T @ dlogits, dlogits @ W2.T, X.T @ hidden


def _numpy_gemm(X, y, params, c):
    return functools.partial(gemm_products, *gemm_operands(X, params))


def _binding_gemm(X, y, params, c):
    """`gemm_products` through fastnn's own BLAS binding, into preallocated outputs.

    Beside the NumPy column it tells BLAS and call-path differences from fastnn's own
    overhead. The five products run on the BLAS threads fastnn's cost_grad would use.
    """
    from fastnn._engine import gemm

    try:
        from fastnn._blas_threads import limited
    except ImportError:  # a commit before the thread policy (asv times older commits)
        limited = contextlib.nullcontext
    X, W1, hidden, dlogits, W2 = gemm_operands(X, params)
    (n, d), h, k = X.shape, W1.shape[1], W2.shape[1]
    products = tuple(np.empty(shape, X.dtype) for shape in ((n, h), (n, k), (h, k), (n, h), (d, h)))

    def run():
        with limited(2 * n * max(W1.size, W2.size)):
            gemm(False, False, 1.0, X, W1, 0.0, products[0])
            gemm(False, False, 1.0, hidden, W2, 0.0, products[1])
            gemm(True, False, 1.0, hidden, dlogits, 0.0, products[2])
            gemm(False, True, 1.0, dlogits, W2, 0.0, products[3])
            gemm(True, False, 1.0, X, hidden, 0.0, products[4])
        return products

    return run


# ---------------------------------------------------------------- one training epoch


class EpochResult(typing.NamedTuple):
    """What an epoch contender returns."""

    params: dict  # W1, b1, ..., WL, bL after the epoch, shaped and typed as the initial ones
    loss: float  # the training set's mean cross-entropy after the epoch (running: during it), without the decay term
    accuracy: float  # the training set's accuracy after the epoch (NaN with running metrics)


def epoch_order(n_rows, seed):
    """The order in which every epoch contender visits the rows: a seeded permutation.

    The same as `fastnn.NetClassifier.fit(..., seed=seed)` draws for its first epoch.
    """
    return np.random.default_rng(seed).permutation(n_rows)


def _fastnn_epoch(X, y, params, batch_size, lr, c, seed, metrics="full"):
    """fastnn.NetClassifier for one epoch (its compiled epoch, then its training metrics)."""
    from fastnn import NetClassifier

    def run():
        model = NetClassifier()
        history = model.fit(X, y, None, None, params, batch_size=batch_size, lr=lr, c=c, epochs=1,
                            optimizer="sgd", seed=seed, metrics=metrics)
        accuracy = history["train_acc"][-1] if metrics == "full" else np.nan
        return EpochResult(model.params, float(history["train_loss"][-1]), float(accuracy))

    return run


def _gemm_floor_epoch(X, y, params, batch_size, lr, c, seed, metrics="full"):
    """The epoch's floor: its matrix products alone, through fastnn's binding, in one compiled loop.

    Per batch the five products of `gemm_products` at the batch's shapes; with "full"
    metrics also the forward products over the whole training set. Returns the last
    batch's products. Compiles its loop on the first call (not cached).
    """
    import numba

    from fastnn import _blas_threads, _engine
    from fastnn._config import EVAL_CHUNK
    from fastnn._kernels.blas import _gemm

    _engine.blas_name()  # binds the BLAS the loop calls
    X, W1, hidden, dlogits, W2 = gemm_operands(X, params)
    (n, d), h, k = X.shape, W1.shape[1], W2.shape[1]
    rows = min(batch_size, n)
    outputs = tuple(np.empty(shape, X.dtype) for shape in ((rows, h), (rows, k), (h, k), (rows, h), (d, h)))
    evaluated = np.empty((EVAL_CHUNK, h), X.dtype), np.empty((EVAL_CHUNK, k), X.dtype)
    evaluate = metrics == "full"

    @numba.njit(nogil=True)
    def products(X, W1, hidden, dlogits, W2, out_h, out_k, d_w2, d_hidden, d_w1, batch_size, evaluate, eval_h, eval_k):
        n = X.shape[0]
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            batch, batch_hidden, batch_dlogits = X[start:start + m], hidden[start:start + m], dlogits[start:start + m]
            _gemm(False, False, 1.0, batch, W1, 0.0, out_h[:m])
            _gemm(False, False, 1.0, batch_hidden, W2, 0.0, out_k[:m])
            _gemm(True, False, 1.0, batch_hidden, batch_dlogits, 0.0, d_w2)
            _gemm(False, True, 1.0, batch_dlogits, W2, 0.0, d_hidden[:m])
            _gemm(True, False, 1.0, batch, batch_hidden, 0.0, d_w1)
        if evaluate:
            chunk = eval_h.shape[0]
            for start in range(0, n, chunk):
                m = min(chunk, n - start)
                _gemm(False, False, 1.0, X[start:start + m], W1, 0.0, eval_h[:m])
                _gemm(False, False, 1.0, hidden[start:start + m], W2, 0.0, eval_k[:m])

    def run():
        with _blas_threads.limited(2 * rows * W1.size):  # the policy fastnn's epoch runs under
            products(X, W1, hidden, dlogits, W2, *outputs, rows, evaluate, *evaluated)
        return outputs

    return run


def _numpy_epoch(X, y, params, batch_size, lr, c, seed, metrics="full"):
    """The hand-in's loop, `fastnn.reference.train_epoch`, then the training metrics."""
    from fastnn import reference

    order = epoch_order(X.shape[0], seed)
    rows = np.arange(X.shape[0])

    def run():
        trained, _, _, running_loss, _ = reference.train_epoch(X, y, params, order, batch_size, lr, c, optimizer="sgd")
        if metrics == "running":
            return EpochResult(trained, float(running_loss), np.nan)
        log_probs = reference.log_softmax(reference.logits(X, trained))
        return EpochResult(trained, float(-log_probs[rows, y].mean()), float(np.mean(log_probs.argmax(axis=1) == y)))

    return run


def _torch_epoch(X, y, params, batch_size, lr, c, seed, metrics="full"):
    """Idiomatic PyTorch: nn.Sequential of Linear and ReLU, CrossEntropyLoss, optim.SGD.

    Starts from `params`. fastnn's c/(2m) ||W||^2 for a batch of m rows is SGD's
    weight_decay = c/m on the weights (not the biases); PyTorch's is fixed per
    optimizer, so it is c/batch_size, which differs only on a smaller last batch.
    """
    import torch

    _threads_like_fastnn(torch)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    order = torch.from_numpy(epoch_order(X.shape[0], seed))
    weights, biases = _layer_params(params)

    def run():
        linears = []
        for W, b in zip(weights, biases):
            linear = torch.nn.Linear(*W.shape, dtype=inputs.dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))
                linear.bias.copy_(torch.from_numpy(np.reshape(b, -1)))
            linears.append(linear)
        layers = [layer for linear in linears[:-1] for layer in (linear, torch.nn.ReLU())]
        model = torch.nn.Sequential(*layers, linears[-1])
        loss_fn = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD([
            {"params": [linear.weight for linear in linears], "weight_decay": c / batch_size},
            {"params": [linear.bias for linear in linears], "weight_decay": 0.0},
        ], lr=lr)
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[rows]), targets[rows])
            loss.backward()
            optimizer.step()
            if metrics == "running":
                loss_sum += loss.item() * len(rows)
        if metrics == "running":
            loss, accuracy = loss_sum / len(order), np.nan
        else:
            with torch.no_grad():
                logits = model(inputs)
                loss = loss_fn(logits, targets).item()
                accuracy = (logits.argmax(dim=1) == targets).double().mean().item()
        trained = {}
        for layer, (linear, b) in enumerate(zip(linears, biases), 1):
            trained[f"W{layer}"] = linear.weight.detach().numpy().T.copy()
            trained[f"b{layer}"] = linear.bias.detach().numpy().reshape(np.shape(b)).copy()
        return EpochResult(trained, loss, accuracy)

    return run


def _sklearn_epoch(X, y, params, batch_size, lr, c, seed, metrics="full"):
    """scikit-learn's MLPClassifier(solver="sgd", momentum=0, alpha=c): one epoch from `params`.

    scikit-learn takes no initial parameters: a first partial_fit on one row builds the
    network, whose coefs_ and intercepts_ are then replaced by `params`. Its L2 term,
    alpha/(2m) ||W||^2 per batch of m rows, is fastnn's. It gets the rows already in
    `epoch_order` with shuffle=False (the reordered copy is timed; it is a few percent of an epoch).
    """
    from sklearn.neural_network import MLPClassifier

    order = epoch_order(X.shape[0], seed)
    weights, biases = _layer_params(params)
    classes = np.arange(weights[-1].shape[1])
    hidden = tuple(W.shape[1] for W in weights[:-1])
    rows = np.arange(X.shape[0])

    def run():
        model = MLPClassifier(hidden, solver="sgd", learning_rate_init=lr, batch_size=batch_size, alpha=c,
                              momentum=0.0, shuffle=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "batch_size larger than sample size" for the one row
            model.partial_fit(X[:1], y[:1], classes=classes)
        model.coefs_ = [W.copy() for W in weights]
        model.intercepts_ = [np.reshape(b, -1).copy() for b in biases]
        model.partial_fit(X[order], y[order])
        trained = {}
        for layer, (W, b, shape) in enumerate(zip(model.coefs_, model.intercepts_, map(np.shape, biases)), 1):
            trained[f"W{layer}"], trained[f"b{layer}"] = W, b.reshape(shape)
        if metrics == "running":  # scikit-learn's running loss: each batch's with its L2 term
            return EpochResult(trained, float(model.loss_curve_[-1]), np.nan)
        probabilities = model.predict_proba(X)
        return EpochResult(trained, float(-np.log(probabilities[rows, y]).mean()),
                           float(np.mean(probabilities.argmax(axis=1) == y)))

    return run


# ---------------------------------------------------------------- the estimators


def _estimator_fit(module, blas_threads=None):
    """A factory fitting `module`.MLPClassifier (fastnn or sklearn.neural_network).

    blas_threads: pin BLAS to this many threads during the fit, or None to leave the
    library's own choice. fastnn pins its binding (`fastnn._blas_threads.pinned`);
    scikit-learn's NumPy and SciPy BLAS are limited through threadpoolctl, as
    ``OPENBLAS_NUM_THREADS=1`` would (its best setting on a small machine).
    """

    def make(X, y, hidden, solver, batch_size, epochs):
        from sklearn.exceptions import ConvergenceWarning

        classifier = importlib.import_module(module).MLPClassifier

        def fit():
            # tol=0 with n_iter_no_change > epochs: neither library stops early.
            model = classifier(hidden_layer_sizes=hidden, solver=solver, batch_size=batch_size, max_iter=epochs,
                               tol=0.0, n_iter_no_change=epochs + 1,
                               learning_rate_init=0.001 if solver == "adam" else 0.01, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # the epochs are fixed on purpose
                model.fit(X, y)
            return model

        if blas_threads is None:
            return fit

        def pinned():
            if module == "fastnn":
                from fastnn._blas_threads import pinned as limit
            else:
                from threadpoolctl import threadpool_limits

                def limit(count):
                    return threadpool_limits(count, user_api="blas")

            with limit(blas_threads):
                return fit()

        return pinned

    return make


# ---------------------------------------------------------------- the table


def _table(*contenders):
    return {contender.name: contender for contender in contenders}


CONTENDERS = {
    "cost_grad": _table(
        Contender("gemm", "GEMM-only (NumPy)", _numpy_gemm, yardstick=True),
        Contender("gemm-binding", "GEMM-only (fastnn's binding)", _binding_gemm, yardstick=True),
        Contender("fastnn", "compiled", _fastnn_cost_grad),
        Contender("numpy", "reference", _numpy_cost_grad),
        Contender("torch", "PyTorch autograd", _torch_cost_grad, needs="torch"),
    ),
    "epoch": _table(
        Contender("gemm-floor", "GEMM floor", _gemm_floor_epoch, yardstick=True),
        Contender("fastnn", "fastnn", _fastnn_epoch),
        Contender("numpy", "NumPy loop", _numpy_epoch),
        Contender("torch", "PyTorch", _torch_epoch, needs="torch"),
        Contender("sklearn", "scikit-learn", _sklearn_epoch, needs="sklearn"),
    ),
    "estimator": _table(
        # fastnn.MLPClassifier is scikit-learn compatible and needs scikit-learn too.
        Contender("fastnn", "fastnn", _estimator_fit("fastnn"), needs="sklearn"),
        Contender("fastnn-1", "fastnn on 1 BLAS thread", _estimator_fit("fastnn", blas_threads=1), needs="sklearn"),
        Contender("sklearn", "scikit-learn", _estimator_fit("sklearn.neural_network"), needs="sklearn"),
        Contender("sklearn-1", "scikit-learn on 1 BLAS thread",
                  _estimator_fit("sklearn.neural_network", blas_threads=1), needs="sklearn"),
    ),
}
