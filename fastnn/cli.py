"""The command line: ``fastnn train | predict | gradcheck | bench`` (also ``python -m fastnn``).

Exit codes: 0 success; 1 a failed gradient check; 2 a user mistake (a missing file, a bad
number, a model that does not fit the data), told in one line without a traceback; 130
Ctrl-C, after the completed epochs are kept (evaluated, saved, plotted). A genuine
internal error keeps its traceback. Every argument and output path is checked before any
data is loaded or any epoch runs.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from ._version import __version__

DATA_HELP = "digits (embedded), mnist:DIR, FILE.npz (arrays X and y) or FILE.csv"
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "step", "exponential", "cosine")


class UserError(Exception):
    """A mistake in the command's arguments or files: reported in one line, exit code 2."""


@contextlib.contextmanager
def user_input(what):
    """Turn the documented errors of reading the user's files or data into one-line UserErrors."""
    try:
        yield
    except (UserError, BrokenPipeError):  # a closed stdout is not the input's fault (see main)
        raise
    except (ValueError, OSError, ImportError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{what}: {message}") from None


def plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- data


def load_data(spec, dtype, label="label", has_header=None):
    """(X, y, X_test, y_test) for --data: digits, mnist:DIR, FILE.npz or FILE.csv.

    X_test is None unless the source has its own test set (MNIST's t10k files). Labels
    are integers or names.
    """
    from . import datasets

    if spec == "digits":
        return (*datasets.load_digits(dtype), None, None)
    if spec.startswith("mnist:"):
        folder = os.path.expanduser(spec[len("mnist:"):])
        X, y = datasets.load_mnist(folder, "train", dtype)
        try:
            X_test, y_test = datasets.load_mnist(folder, "t10k", dtype)
        except FileNotFoundError:
            X_test = y_test = None
        return X, y, X_test, y_test
    if spec.endswith(".npz"):
        return (*datasets.load_npz(spec, dtype), None, None)
    if spec.endswith(".csv"):
        return (*datasets.load_csv(spec, label=label, dtype=dtype, has_header=has_header), None, None)
    raise UserError(f"--data {spec}: unknown data; use {DATA_HELP}")


def _check_data_spec(spec):
    if spec == "digits":
        return
    if spec.startswith("mnist:"):
        folder = os.path.expanduser(spec[len("mnist:"):])
        if not os.path.isdir(folder):
            raise UserError(f"--data {spec}: {folder} is not a folder")
        return
    if not spec.endswith((".npz", ".csv")):
        raise UserError(f"--data {spec}: unknown data; use {DATA_HELP}")
    if not os.path.isfile(spec):
        raise UserError(f"--data {spec}: no such file")


def _check_output(path, flag, suffixes=None):
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None:
        return
    if suffixes and not path.lower().endswith(suffixes):
        raise UserError(f"{flag} {path}: the file name must end in {' or '.join(suffixes)}")
    if os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or os.path.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {path}: not writable")


def _encode(y, y_test):
    """(classes, y as indices, y_test as indices): the labels of both sets, sorted."""
    labels = y if y_test is None else np.concatenate([y.astype(np.result_type(y, y_test)), y_test])
    classes = np.unique(labels)
    index = lambda values: None if values is None else np.searchsorted(classes, values).astype(np.int64)
    return classes, index(y), index(y_test)


# ---------------------------------------------------------------- train


def _check_train_args(args):
    checks = [
        ("--epochs", args.epochs, args.epochs >= 1, "an integer >= 1"),
        ("--batch-size", args.batch_size, args.batch_size >= 1, "an integer >= 1"),
        ("--lr", args.lr, math.isfinite(args.lr) and args.lr > 0, "a number > 0"),
        ("--c", args.c, math.isfinite(args.c) and args.c >= 0, "a number >= 0"),
        ("--patience", args.patience, args.patience >= 1, "an integer >= 1"),
        ("--val-fraction", args.val_fraction, 0 < args.val_fraction < 1, "a number in (0, 1)"),
        ("--test-fraction", args.test_fraction, 0 < args.test_fraction < 1, "a number in (0, 1)"),
        ("--hidden", args.hidden, min(args.hidden) >= 1, "sizes >= 1"),
    ]
    for flag, value, ok, bounds in checks:
        if not ok:
            raise UserError(f"{flag} must be {bounds}, got {value}")
    _check_data_spec(args.data)
    _check_output(args.save, "--save")
    _check_output(args.history, "--history", (".csv", ".json"))
    _check_output(args.plot, "--plot")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError('--plot needs matplotlib: pip install matplotlib (or pip install -e ".[plot]")') from None


def _split(args, X, y, X_test, y_test):
    """(X, y, training rows, validation rows, X_test, y_test, what the test rows are), stratified.

    Without a test set of its own, the data's test rows are held out first (the rows
    `predict` scores when given the same data).
    """
    from .datasets import stratified_split

    held_out = X_test is None
    n = len(y)
    if held_out:
        train, test = stratified_split(y, (1 - args.test_fraction, args.test_fraction), seed=args.seed)
        X, y, X_test, y_test = X[train], y[train], X[test], y[test]
    fit, val = stratified_split(y, (1 - args.val_fraction, args.val_fraction), seed=args.seed)
    if min(len(fit), len(val), len(y_test)) == 0:
        raise UserError(f"--data {args.data}: {plural(n, 'row')} are too few to split into training, validation "
                        "and test rows with each class in every part; use more data")
    what = "held-out test rows" if held_out else "rows of its test set"
    return X, y, fit, val, X_test, y_test, what


def train(args):
    _check_train_args(args)
    from . import NetClassifier, _engine, get_init_params, save

    dtype = np.dtype(args.dtype)
    with user_input(f"--data {args.data}"):
        X, y, X_test, y_test = load_data(args.data, dtype, args.label, False if args.no_header else None)
    classes, y, y_test = _encode(y, y_test)
    if len(classes) < 2:
        raise UserError(f"--data {args.data}: the labels hold one class ({classes[0]!r}); a classifier needs two")
    n_rows = len(y)
    X, y, fit_rows, val_rows, X_test, y_test, test_what = _split(args, X, y, X_test, y_test)
    say = (lambda *a, **k: None) if args.quiet else print
    print(f"{args.data}: {len(fit_rows):,} training, {len(val_rows):,} validation, {len(y_test):,} test rows, "
          f"{X.shape[1]} features, {len(classes)} classes, {dtype}")
    if not _engine.training_kernels_cached():
        print("compiling fastnn's kernels (first run only; about 10 s)", file=sys.stderr, flush=True)

    clf = NetClassifier()
    clf.classes = classes
    clf.trained_on = {"data": args.data, "label": args.label, "no_header": args.no_header, "rows": n_rows,
                      "seed": args.seed, "test_fraction": args.test_fraction if X_test is not None else None}
    params = get_init_params(X.shape[1], args.hidden, len(classes), seed=args.seed, dtype=dtype)
    finished = []  # when each epoch ended, for the time per epoch

    def record(epoch, hist, current):
        finished.append(time.perf_counter())

    start = time.perf_counter()
    interrupted = False
    with warnings.catch_warnings(record=True):  # the divergence warning: said below, in the CLI's words
        warnings.simplefilter("always", RuntimeWarning)
        try:
            with user_input("training"):
                clf.fit(X[fit_rows], y[fit_rows], X[val_rows], y[val_rows], params, batch_size=args.batch_size,
                        lr=args.lr, c=args.c, epochs=args.epochs, optimizer=args.optimizer,
                        lr_schedule=args.lr_schedule, early_stopping=args.early_stopping, patience=args.patience,
                        seed=args.seed, verbose=not args.quiet, progress=args.progress, callback=record,
                        metrics=args.metrics)
        except KeyboardInterrupt:
            interrupted = True
    hist, epochs = clf.hist, len(clf.hist["train_loss"]) if clf.hist else 0
    if epochs == 0:
        if interrupted:
            print("fastnn train: interrupted before the first epoch ended: nothing to keep", file=sys.stderr)
            sys.exit(130)
        raise UserError(f"training diverged in epoch 1 (NaN or inf) and no epoch completed; try a smaller --lr "
                        f"(it was {args.lr})")
    kept = int(np.argmin(hist["val_loss"])) + 1
    accuracy = clf.score(X_test, np.asarray(y_test))
    if clf.stop_reason == "diverged":
        print(f"training diverged in epoch {epochs + 1} (NaN or inf): stopped; try a smaller --lr", file=sys.stderr)
    elif clf.stop_reason == "early_stopping":
        say(f"early stopping: the validation loss did not improve for {plural(args.patience, 'epoch')}")
    seconds = [finished[0] - start] + list(np.diff(finished))
    timing = (f"{seconds[0]:.2f} s for the first epoch" + (
        f", {np.median(seconds[1:]):.3f} s per epoch after it" if len(seconds) > 1 else ""))
    summary = (f"test accuracy {accuracy:.4f} on the {len(y_test)} {test_what} (parameters of epoch {kept} of "
               f"{epochs}); {timing}")
    if interrupted:
        summary = f"interrupted after {plural(epochs, 'completed epoch')}; " + summary
    print(summary, flush=True)
    if args.save:
        with user_input(f"--save {args.save}"):
            save(args.save, clf)
        say(f"saved the model to {args.save}")
    if args.history:
        with user_input(f"--history {args.history}"):
            _write_history(args.history, hist, kept, clf.stop_reason)
        say(f"saved the history to {args.history}")
    if args.plot:
        from .plot import plot_history

        layers = "-".join(str(size) for size in (X.shape[1], *args.hidden, len(classes)))
        title = (f"{args.data}: {layers} network, {args.optimizer}, lr {args.lr:g}; "
                 f"test accuracy {accuracy:.4f} (epoch {kept} kept)" + ("; interrupted" if interrupted else ""))
        with user_input(f"--plot {args.plot}"):
            plot_history(hist, args.plot, title=title, kept_epoch=kept)
        say(f"saved the curves to {args.plot}")
    if interrupted:
        sys.exit(130)


def _write_history(path, hist, kept, stop_reason):
    """The per-epoch metrics as CSV (a row per epoch) or JSON (a list per metric)."""
    columns = {key: np.asarray(values).tolist() for key, values in hist.items()}
    if path.lower().endswith(".json"):
        with open(path, "w") as file:
            json.dump({"epoch": list(range(1, len(columns["train_loss"]) + 1)), **columns,
                       "kept_epoch": kept, "stop_reason": stop_reason}, file, indent=1)
        return
    with open(path, "w") as file:
        file.write("epoch," + ",".join(columns) + "\n")
        for epoch in range(len(columns["train_loss"])):
            values = (repr(column[epoch]) if epoch < len(column) else "" for column in columns.values())
            file.write(f"{epoch + 1}," + ",".join(values) + "\n")


# ---------------------------------------------------------------- predict


def predict(args):
    from . import NetClassifier, load
    from .datasets import stratified_split

    _check_data_spec(args.data)
    _check_output(args.out, "--out")
    with user_input(f"--model {args.model}"):
        model = load(args.model)
    if isinstance(model, dict):
        model, params = NetClassifier(), model
        model.params = params
    mlp = not isinstance(model, NetClassifier)
    first_layer = model.coefs_[0] if mlp else model.params["W1"]
    n_classes = len(model.classes_) if mlp else model.params[f"W{len(model.params) // 2}"].shape[1]
    classes = model.classes_ if mlp else (model.classes if model.classes is not None else np.arange(n_classes))
    trained_on = None if mlp else model.trained_on
    label = args.label if args.label is not None else (trained_on or {}).get("label", "label")
    no_header = args.no_header or bool((trained_on or {}).get("no_header"))
    with user_input(f"--data {args.data}"):
        X, y, X_test, y_test = load_data(args.data, first_layer.dtype, label, False if no_header else None)
    if X.shape[1] != first_layer.shape[0]:
        raise UserError(f"the model expects {first_layer.shape[0]} features but {args.data} has {X.shape[1]}")
    which = f"all {plural(len(X), 'row')} of {args.data}"
    rows = np.arange(len(X))
    if X_test is not None:
        X, y, rows, which = X_test, y_test, np.arange(len(X_test)), f"the {len(X_test)} rows of the test set of {args.data}"
    elif trained_on and trained_on.get("data") == args.data and trained_on.get("test_fraction") \
            and trained_on.get("rows") == len(y) and np.isin(y, classes).all():
        # The data the model was trained on: score the rows its training held out.
        fraction = trained_on["test_fraction"]
        _, test = stratified_split(np.searchsorted(classes, y), (1 - fraction, fraction), seed=trained_on["seed"])
        rows = np.sort(test)  # in the data's order
        X, y = X[rows], y[rows]
        which = f"the {len(test)} test rows of {args.data} held out when the model was trained"
    proba = model.predict_proba(X)
    labels = np.asarray(classes)[np.argmax(proba, axis=1)]
    if args.out:
        with user_input(f"--out {args.out}"):
            _write_predictions(args.out, rows, labels, proba, classes, args.proba)
        print(f"wrote {'the class probabilities' if args.proba else 'the predicted labels'} of {which} to {args.out}")
    if y is not None and len(y):
        # Labels compare as text when the model's and the data's kinds differ (names against numbers).
        as_text = np.asarray(classes).dtype.kind != np.asarray(y).dtype.kind
        known, truth, predicted = ((np.asarray(classes).astype(str), np.asarray(y).astype(str), labels.astype(str))
                                   if as_text else (np.asarray(classes), np.asarray(y), labels))
        unknown = ~np.isin(truth, known)
        if unknown.any():
            print(f"note: {unknown.sum()} of the {len(truth)} rows have labels the model does not know (such as "
                  f"{truth[unknown][0]!r}; its classes are {_short_list(known)})", file=sys.stderr)
        print(f"accuracy {np.mean(predicted == truth):.4f} on {which}")
    elif not args.out:
        for value in labels:
            print(value)


def _write_predictions(path, rows, labels, proba, classes, with_proba):
    """A CSV of the scored rows: "row,label", or with_proba "row,<class>,<class>,..."."""
    with open(path, "w") as file:
        if with_proba:
            file.write("row," + ",".join(str(label) for label in classes) + "\n")
            for row, values in zip(rows, proba):
                file.write(f"{row}," + ",".join(f"{value:.6g}" for value in values) + "\n")
        else:
            file.write("row,label\n")
            for row, label in zip(rows, labels):
                file.write(f"{row},{label}\n")


def _short_list(values, limit=10):
    shown = ", ".join(str(value) for value in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


# ---------------------------------------------------------------- gradcheck, bench


def gradcheck(args):
    from . import cost_grad, reference
    from .gradcheck import GradientCheckError, numerical_grad_check

    rng = np.random.default_rng(args.seed)
    n, d, k = 20, 6, 4
    X, y = rng.standard_normal((n, d)), rng.integers(0, k, n)
    sizes = [d, *args.hidden, k]
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        params[f"W{layer}"] = rng.standard_normal((fan_in, fan_out)) * 0.5
        params[f"b{layer}"] = rng.standard_normal(fan_out) * 0.1
    failed = 0
    for name, function in (("reference", reference.cost_grad), ("compiled", cost_grad)):
        for key in params:
            try:
                report = numerical_grad_check(lambda p: function(X, y, p, args.c), params, key)
            except GradientCheckError as error:
                report = error.report
                failed += 1
            print(f"{name:9s} {report}{'' if report.passed else '  FAILED'}")
    if failed:  # a wrong gradient is not a user error: exit code 1, not 2
        print(f"gradient check FAILED for {failed} parameters", file=sys.stderr)
        sys.exit(1)
    print("gradient check passed")


def bench(args):
    from .benchmarks.runner import check_options, run

    try:
        options = check_options(args)
    except ValueError as error:
        raise UserError(str(error)) from None
    run(args, options)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (the full usage is one --help away)."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows every default (but none for flags and for options without one)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


def parser():
    top = _Parser(prog="fastnn", description="Fast CPU training of neural-network classifiers.")
    top.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("train", help="train a network and report its test accuracy", formatter_class=_Help,
                            description="Train a network of ReLU layers and report its accuracy on held-out rows.")
    p.add_argument("--data", default="digits", help=DATA_HELP)
    p.add_argument("--label", default="label", metavar="COLUMN",
                   help="a CSV file's label column, by name or number (from 0); without a column of that name, "
                        "the first column")
    p.add_argument("--no-header", action="store_true", help="the CSV file has no header row")
    p.add_argument("--hidden", type=int, nargs="+", default=[256], metavar="SIZE",
                   help="hidden layer sizes, one per layer (for example 256 128)")
    p.add_argument("--epochs", type=int, default=30, help="epochs to train at most")
    p.add_argument("--batch-size", type=int, default=32, help="rows per step")
    # Defaults: momentum 0.9 at lr 0.05 reaches 0.958 to 0.978 test accuracy on the digits
    # over seeds 0-5 (plain SGD at lr 0.1: 0.953 to 0.973).
    p.add_argument("--lr", type=float, default=0.05, help="learning rate")
    p.add_argument("--c", type=float, default=1e-4, help="weight decay")
    p.add_argument("--optimizer", default="momentum", choices=OPTIMIZERS, help="the update rule")
    p.add_argument("--lr-schedule", default="constant", choices=SCHEDULES, help="the learning rate per epoch")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop once the validation loss has not improved for --patience epochs")
    p.add_argument("--patience", type=int, default=5, help="epochs without improvement, with --early-stopping")
    p.add_argument("--metrics", default="full", choices=["full", "running"],
                   help="training loss and accuracy over the whole training set after each epoch (full), or the "
                        "running mean of the batch losses, at no cost (running)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the initialisation and the shuffles")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="the computation's dtype")
    p.add_argument("--val-fraction", type=float, default=0.2, help="of the training rows")
    p.add_argument("--test-fraction", type=float, default=0.25, help="held out when the data has no test set")
    p.add_argument("--threads", type=int, help="threads for BLAS and Numba (default: all cores, fewer where more do not pay)")
    p.add_argument("--save", metavar="MODEL.npz", help="save the model (with the kept epoch's parameters)")
    p.add_argument("--plot", metavar="CURVES.png", help="plot the training curves (needs matplotlib)")
    p.add_argument("--history", metavar="FILE.csv|FILE.json", help="write the per-epoch metrics")
    p.add_argument("--progress", action="store_true", help="show a progress bar within each epoch")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(run=train)

    p = commands.add_parser("predict", help="predict with a saved model", formatter_class=_Help,
                            description="Predict with a saved model; with labelled data, report the accuracy.")
    p.add_argument("--model", required=True, metavar="MODEL.npz",
                   help="a model saved by fastnn train --save or fastnn.save")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--label", metavar="COLUMN", help="a CSV file's label column (default: as in training)")
    p.add_argument("--no-header", action="store_true", help="the CSV file has no header row")
    p.add_argument("--out", metavar="FILE.csv",
                   help="write a CSV of the scored rows: their row numbers in the data and predicted labels")
    p.add_argument("--proba", action="store_true", help="with --out: the class probabilities instead of the labels")
    p.set_defaults(run=predict)

    p = commands.add_parser("gradcheck", help="check both gradients against finite differences", formatter_class=_Help)
    p.add_argument("--hidden", type=int, nargs="+", default=[8], help="hidden layer sizes of the test network")
    p.add_argument("--seed", type=int, default=0, help="seeds the test problem")
    p.add_argument("--c", type=float, default=0.1, help="weight decay")
    p.set_defaults(run=gradcheck)

    from .benchmarks.runner import DESCRIPTION, add_arguments  # a leaf: NumPy only until a benchmark runs

    p = commands.add_parser("bench", help="time fastnn side by side with NumPy (and PyTorch, scikit-learn if installed)",
                            description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(run=bench)
    return top


def _thread_limits(threads):
    """A context that runs Numba and BLAS on `threads` threads (None: leave them as they are)."""
    if threads is None:
        return contextlib.nullcontext()
    import numba

    from ._blas_threads import pinned

    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise UserError(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(pinned(threads))
    except RuntimeError as error:
        raise UserError(f"--threads: {error}") from None
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    stack.callback(numba.set_num_threads, previous)
    return stack


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        with _thread_limits(getattr(args, "threads", None)):
            args.run(args)
    except UserError as error:
        print(f"fastnn {args.command}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # outside training (loading, compiling): nothing to keep
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (fastnn train | head -1): stop quietly. Python would try to
        # flush stdout again at exit, so point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
