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
from typing import NamedTuple

import numpy as np

from ._kernels.compile import CompileWarning
from .families import OPTIMIZERS, SCHEDULES
from .scaling import METHODS

DATA_HELP = "digits (embedded), mnist:DIR, FILE.npz (arrays X and y) or FILE.csv"
PREDICT_DATA_HELP = ("digits (embedded), mnist:DIR, FILE.npz (array X, and y if labelled), FILE.csv or an IDX file of "
                     "images (FILE-ubyte[.gz]); labels are optional")


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
        path = what.split(" ", 1)[-1]
        message = message[len(path) + 2:] if message.startswith(f"{path}: ") else message  # named once is enough
        raise UserError(f"{what}: {message}") from None


def plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- data


class Data(NamedTuple):
    """What --data holds: rows and labels (y None: unlabeled), its own test set if any, and how its
    labels were found."""

    X: np.ndarray
    y: "np.ndarray | None"
    X_test: "np.ndarray | None" = None
    y_test: "np.ndarray | None" = None
    label_note: "str | None" = None  # a CSV file's label column, in words
    label_column: "str | int | None" = None  # a CSV file's label column: its name, or its number without a header
    other_labels: tuple = ()  # other label-like columns of a CSV file, read as features


def load_data(spec, dtype, label=None, has_header=None, n_features=None, labels_required=True):
    """The Data of --data: digits, mnist:DIR, FILE.npz, FILE.csv or an IDX images file.

    X_test is None unless the source has its own test set (MNIST's t10k files). Labels
    are integers or names; with ``labels_required=False`` (predict) y may be None, and a
    CSV file with exactly `n_features` columns has no label column.
    """
    from . import datasets

    if spec == "digits":
        return Data(*datasets.load_digits(dtype))
    if spec.startswith("mnist:"):
        folder = os.path.expanduser(spec[len("mnist:"):])
        if not labels_required:  # predict: the t10k images (with their labels when present), else the training ones
            for kind in ("t10k", "train"):
                images = _mnist_file(folder, f"{kind}-images-idx3-ubyte")
                if images:
                    labels = _mnist_file(folder, f"{kind}-labels-idx1-ubyte")
                    if labels:
                        return Data(*datasets.load_mnist(folder, kind, dtype))
                    return Data(datasets.load_idx_images(images, dtype), None)
            raise UserError(f"--data {spec}: no t10k-images-idx3-ubyte[.gz] or train-images-idx3-ubyte[.gz] "
                            f"in {folder}")
        X, y = datasets.load_mnist(folder, "train", dtype)
        try:
            X_test, y_test = datasets.load_mnist(folder, "t10k", dtype)
        except FileNotFoundError:
            X_test = y_test = None
        return Data(X, y, X_test, y_test)
    if _is_idx(spec):
        if labels_required:
            raise UserError(f"--data {spec}: an IDX file holds images without labels; train on mnist:DIR (images "
                            "and labels) instead")
        return Data(datasets.load_idx_images(spec, dtype), None)
    if spec.endswith(".npz"):
        return Data(*datasets.load_npz(spec, dtype, labels_required=labels_required))
    if spec.endswith(".csv"):
        layout = datasets.csv_layout(spec, label, has_header, n_features)
        if labels_required and layout.label is None:
            raise UserError(f"--data {spec}: the file has no label column")
        X, y = datasets.load_csv(spec, label, dtype, has_header, n_features)  # the same layout again
        if layout.label is None:
            return Data(X, None)
        column = layout.names[layout.label] if layout.has_header else layout.label
        return Data(X, y, label_note=f"labels: {layout.why}", label_column=column,
                    other_labels=tuple(datasets.other_label_columns(layout)))
    raise UserError(f"--data {spec}: unknown data; use {DATA_HELP}")


def _mnist_file(folder, stem):
    """The path of an MNIST file under either naming, raw or .gz; None if there is none."""
    dotted = stem.replace("-idx", ".idx")
    return next((path for name in (stem, stem + ".gz", dotted, dotted + ".gz")
                 if os.path.isfile(path := os.path.join(folder, name))), None)


def _is_idx(spec):
    return spec.lower().endswith(("-ubyte", "-ubyte.gz", ".idx", ".idx.gz"))


def _check_data_spec(spec):
    if spec == "digits":
        return
    if spec.startswith("mnist:"):
        folder = os.path.expanduser(spec[len("mnist:"):])
        if not os.path.isdir(folder):
            raise UserError(f"--data {spec}: {folder} is not a folder")
        return
    if spec.lower().endswith((".tsv", ".tab", ".txt", ".dat")):
        raise UserError(f"--data {spec}: fastnn reads comma-separated files named .csv; save it with commas as "
                        "separators and the .csv suffix")
    if not spec.endswith((".npz", ".csv")) and not _is_idx(spec):
        raise UserError(f"--data {spec}: unknown data; use {DATA_HELP}")
    if not os.path.isfile(spec):
        raise UserError(f"--data {spec}: no such file")


def _check_csv_options(args):
    """--label and --no-header describe a CSV file: refused with any other data rather than ignored."""
    if args.data.endswith(".csv"):
        return
    for flag, given in (("--label", args.label is not None), ("--no-header", args.no_header)):
        if given:
            raise UserError(f"{flag} describes a CSV file's columns; --data {args.data} is not a CSV file")


def _check_output(path, flag, suffixes=None):
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None:
        return
    if os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    if suffixes and not path.lower().endswith(suffixes):
        raise UserError(f"{flag} {path}: the file name must end in {' or '.join(suffixes)}")
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
        ("--seed", args.seed, args.seed >= 0, "an integer >= 0"),
    ]
    _check_bounds(checks)
    _check_data_spec(args.data)
    _check_csv_options(args)
    _check_output(args.save, "--save", (".npz",))
    _check_output(args.history, "--history", (".csv", ".json"))
    _check_plot(args.plot)
    _check_memory(args)  # the hidden layers alone; again with the data's features and classes once they are known


def _check_bounds(checks):
    """Raise a UserError for the first (flag, value, ok, bounds) that is not ok."""
    for flag, value, ok, bounds in checks:
        if not ok:
            raise UserError(f"{flag} must be {bounds}, got {value}")


def _check_plot(path):
    """--plot: a writable file of a format matplotlib writes, and matplotlib installed."""
    if path is None:
        return
    _check_output(path, "--plot")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError('--plot needs matplotlib: pip install matplotlib (or pip install -e ".[plot]")') from None
    formats = Figure().canvas.get_supported_filetypes()
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in formats:
        raise UserError(f"--plot {path}: the file name must end in one of "
                        f"{', '.join('.' + f for f in sorted(formats))}")


def _physical_memory():
    """The machine's memory in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(args, n_features=None, n_classes=None):
    """Refuse a network whose training would not fit in the machine's memory, before anything is allocated.

    Training holds the parameters about five times (the initial ones, the working copy,
    the gradients, the best epoch's, the update's scratch) plus the optimizer's state
    (one copy for momentum, two for Adam), and the activations of a batch or of an
    evaluation chunk for every layer.
    """
    from ._config import EVAL_CHUNK

    sizes = [n_features or 1, *args.hidden, n_classes or 1]
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))
    copies = 5 + {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}[args.optimizer]
    values = copies * n_params + 4 * max(args.batch_size, EVAL_CHUNK) * sum(sizes)
    needed, memory = values * np.dtype(args.dtype).itemsize, _physical_memory()
    if memory is not None and needed > memory:
        shape = ("-".join(str(size) for size in sizes) if n_features else
                 f"hidden layers {' x '.join(str(size) for size in args.hidden)}")
        raise UserError(f"a network of {shape} ({n_params:,} parameters) needs about {needed / 2**30:,.1f} GiB "
                        f"to train in {args.dtype}; this machine has {memory / 2**30:,.1f} GiB")


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
    from . import NetClassifier, get_init_params, save
    from .scaling import fit_scaling

    dtype = np.dtype(args.dtype)
    with user_input(f"--data {args.data}"):
        data = load_data(args.data, dtype, args.label, False if args.no_header else None)
    classes, y, y_test = _encode(data.y, data.y_test)
    if len(classes) < 2:
        hint = f" (the labels were taken from {data.label_note[len('labels: '):]}; choose their column with --label)" \
            if data.label_note else ""
        raise UserError(f"--data {args.data}: the labels hold one class ({classes[0]}); a classifier needs two{hint}")
    _check_memory(args, data.X.shape[1], len(classes))
    n_rows = len(y)
    X, y, fit_rows, val_rows, X_test, y_test, test_what = _split(args, data.X, y, data.X_test, y_test)
    say = (lambda *a, **k: None) if args.quiet else print
    print(f"{args.data}: {len(fit_rows):,} training, {len(val_rows):,} validation, {len(y_test):,} test rows, "
          f"{X.shape[1]} features, {len(classes)} classes, {dtype}")
    if data.label_note:
        print(data.label_note)
    if data.other_labels:
        print(f"warning: the columns {list(data.other_labels)} look like labels too and are read as features: drop "
              "them from the file if they give the answer away", file=sys.stderr)
    scaling = fit_scaling(X[fit_rows], args.scale)
    if scaling is None:
        _warn_if_unscaled(X[fit_rows])
    _compile_notice()

    clf = NetClassifier()
    clf.classes = classes
    clf.feature_scaling = scaling
    clf.trained_on = {"data": args.data, "label": data.label_column, "no_header": args.no_header, "rows": n_rows,
                      "seed": args.seed, "test_fraction": args.test_fraction if data.X_test is None else None,
                      "scale": args.scale, "feature_max": float(np.max(np.abs(X[fit_rows])))}
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


# Features beyond this magnitude train poorly with the default learning rate (the raw digits,
# 0 to 16, reached 0.34 test accuracy unscaled, 0.98 scaled to [0, 1]).
UNSCALED_LIMIT = 10


def _warn_if_unscaled(X):
    """With --scale none: a warning when the features are far from order one."""
    largest = float(np.max(np.abs(X))) if X.size else 0.0
    if largest > UNSCALED_LIMIT:
        column = int(np.argmax(np.max(np.abs(X), axis=0)))
        print(f"warning: features reach {largest:.4g} (feature column {column}); the network trains well on features "
              "of order one: leave out --scale none (or use --scale minmax or standard)", file=sys.stderr)


_noticed = False


def _compile_notice():
    """Say once per process, on stderr, that the kernels are about to compile and for how long."""
    global _noticed
    from . import _engine
    from ._kernels import compile

    if _noticed or _engine.training_kernels_cached():
        return
    _noticed = True
    print(compile.compile_notice(), file=sys.stderr, flush=True)


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
    _check_csv_options(args)
    _check_output(args.out, "--out")
    with user_input(f"--model {args.model}"):
        model = load(args.model)
    if isinstance(model, dict):
        model, params = NetClassifier(), model
        model.params = params
    mlp = not isinstance(model, NetClassifier)
    first_layer = model.coefs_[0] if mlp else model.params["W1"]
    n_features = first_layer.shape[0]
    n_classes = len(model.classes_) if mlp else model.params[f"W{len(model.params) // 2}"].shape[1]
    classes = model.classes_ if mlp else (model.classes if model.classes is not None else np.arange(n_classes))
    trained_on = None if mlp else model.trained_on
    label = args.label if args.label is not None else (trained_on or {}).get("label")
    no_header = args.no_header or bool((trained_on or {}).get("no_header"))
    with user_input(f"--data {args.data}"):
        data = load_data(args.data, first_layer.dtype, label, False if no_header else None, n_features=n_features,
                         labels_required=False)
    X, y = data.X, data.y
    if X.shape[1] != n_features:
        raise UserError(f"the model expects {n_features} features but {args.data} has {X.shape[1]}"
                        + (" besides its label column" if data.label_note and y is not None else ""))
    if args.label is not None and y is None:
        raise UserError(f"--label {args.label}: {args.data} has only the model's {n_features} feature columns, "
                        "no labels")
    if data.label_note and y is not None:
        print(data.label_note, file=sys.stderr)
    _warn_if_other_units(X, (trained_on or {}).get("feature_max"), args.data)
    which = f"all {plural(len(X), 'row')} of {args.data}"
    rows = np.arange(len(X))
    if data.X_test is not None:
        X, y, rows, which = data.X_test, data.y_test, np.arange(len(data.X_test)), \
            f"the {len(data.X_test)} rows of the test set of {args.data}"
    elif y is not None and trained_on and trained_on.get("data") == args.data and trained_on.get("test_fraction") \
            and trained_on.get("rows") == len(y) and np.isin(y, classes).all():
        # The data the model was trained on: score the rows its training held out.
        fraction = trained_on["test_fraction"]
        _, test = stratified_split(np.searchsorted(classes, y), (1 - fraction, fraction), seed=trained_on["seed"])
        rows = np.sort(test)  # in the data's order
        X, y = X[rows], y[rows]
        which = f"the {len(test)} test rows of {args.data} held out when the model was trained"
    _compile_notice()
    proba = model.predict_proba(X)
    labels = np.asarray(classes)[np.argmax(proba, axis=1)]
    # The predictions go to --out, or to stdout when they are what was asked for (no labels to
    # score, or --proba); the accuracy then goes to stderr, so that stdout stays a CSV table.
    to_stdout = args.out is None and (y is None or args.proba)
    if args.out:
        with user_input(f"--out {args.out}"):
            with open(args.out, "w") as file:
                _write_predictions(file, rows, labels, proba, classes, args.proba)
        print(f"wrote {'the class probabilities' if args.proba else 'the predicted labels'} of {which} to {args.out}")
    elif to_stdout:
        _write_predictions(sys.stdout, rows, labels, proba, classes, args.proba)
    if y is not None:
        _print_accuracy(y, labels, classes, which, sys.stderr if to_stdout else sys.stdout)
    else:
        print(f"predicted {which} (the data has no labels to score)", file=sys.stderr)


# Data whose largest feature differs from the training data's by more than this factor is
# likely in other units (pixels of 0..255 against 0..1): said, since predictions then fail.
UNITS_FACTOR = 4


def _warn_if_other_units(X, feature_max, source):
    """A warning when X's features are on another scale than the training rows' (feature_max, if recorded)."""
    if not isinstance(feature_max, (int, float)) or feature_max <= 0 or not X.size:
        return
    largest = float(np.max(np.abs(X)))
    if largest > UNITS_FACTOR * feature_max or largest * UNITS_FACTOR < feature_max:
        print(f"warning: the features of {source} reach {largest:.4g}, those the model was trained on "
              f"{feature_max:.4g}: the same units? (digits and IDX images load scaled to [0, 1]; a CSV file as it "
              "is) Predictions on other units are wrong", file=sys.stderr)


def _print_accuracy(y, labels, classes, which, stream):
    """The accuracy of the predicted labels; a note for labels the model does not know."""
    # Labels compare as text when the model's and the data's kinds differ (names against numbers).
    as_text = np.asarray(classes).dtype.kind != np.asarray(y).dtype.kind
    known, truth, predicted = ((np.asarray(classes).astype(str), np.asarray(y).astype(str), labels.astype(str))
                               if as_text else (np.asarray(classes), np.asarray(y), labels))
    unknown = ~np.isin(truth, known)
    if unknown.any():
        print(f"note: {unknown.sum()} of the {len(truth)} rows have labels the model does not know (such as "
              f"{truth[unknown][0]}; its classes are {_short_list(known)})", file=sys.stderr)
    print(f"accuracy {np.mean(predicted == truth):.4f} on {which}", file=stream)


def _write_predictions(file, rows, labels, proba, classes, with_proba):
    """A CSV of the scored rows: "row,label", or with_proba "row,<class>,<class>,..."."""
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
    _check_bounds([
        ("--hidden", args.hidden, min(args.hidden) >= 1, "sizes >= 1"),
        ("--hidden", args.hidden, len(args.hidden) < MAX_GRADCHECK_LAYERS, f"at most {MAX_GRADCHECK_LAYERS - 1} sizes"),
        ("--hidden", args.hidden, max(args.hidden) <= MAX_GRADCHECK_WIDTH, f"sizes <= {MAX_GRADCHECK_WIDTH}"),
        ("--c", args.c, math.isfinite(args.c) and args.c >= 0, "a number >= 0"),
        ("--seed", args.seed, args.seed >= 0, "an integer >= 0"),
    ])
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
                # B023: not a bug, numerical_grad_check calls the lambda in this iteration
                report = numerical_grad_check(lambda p: function(X, y, p, args.c), params, key)  # noqa: B023
            except GradientCheckError as error:
                report = error.report
                failed += 1
            print(f"{name:9s} {report}{'' if report.passed else '  FAILED'}")
    if failed:  # a wrong gradient is not a user error: exit code 1, not 2
        print(f"gradient check FAILED for {failed} parameters", file=sys.stderr)
        sys.exit(1)
    print("gradient check passed")


# The gradient check differentiates every parameter numerically (two costs each): a test
# network, kept small so that the check ends in seconds.
MAX_GRADCHECK_WIDTH = 64
MAX_GRADCHECK_LAYERS = 8


def compile_kernels(args):
    """fastnn compile: compile (or load) the kernels of the configurations asked for, one line each."""
    from .precompile import configurations, precompile

    choices = dict(dtypes=args.dtype, hidden_layers=args.hidden_layers,
                   sparse=[False] if args.dense_only else [False, True], targets=args.targets)
    try:
        total = len(configurations(**choices))
    except ValueError as error:
        raise UserError(str(error).replace("hidden_layers", "--hidden-layers")) from None
    print(f"compiling {plural(total, 'configuration')} (seconds each where not cached yet)", flush=True)
    done = []

    def report(configuration, seconds):
        done.append(seconds)
        print(f"[{len(done)}/{total}] {configuration}: {seconds:.1f} s", flush=True)

    folder = precompile(report=report, **choices)
    where = f"cached in {folder}" if folder else "not cached: no cache folder is writable (set NUMBA_CACHE_DIR)"
    print(f"done in {sum(done):.0f} s; {where}")


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
        if action.default is None or action.default is False or action.required:
            return action.help
        return super()._get_help_string(action)


class _Version(argparse.Action):
    """--version: one line, with the BLAS fastnn calls and its CPUs (read only when asked for)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ._system import summary

        print(summary())
        parser.exit()


def parser():
    top = _Parser(prog="fastnn", description="Fast CPU training of neural-network classifiers.")
    top.add_argument("--version", action=_Version, nargs=0,
                     help="show fastnn's version, the BLAS it calls and the CPUs it may use, and exit "
                          "(fastnn.show_config() says more)")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("train", help="train a network and report its test accuracy", formatter_class=_Help,
                            description="Train a network of ReLU layers and report its accuracy on held-out rows.")
    p.add_argument("--data", default="digits", help=DATA_HELP)
    p.add_argument("--label", metavar="NAME|INDEX",
                   help="a CSV file's label column, by name or number (from 0); default: the column named label, "
                        "labels, target, y, class or category, else the first column (the choice is printed)")
    p.add_argument("--no-header", action="store_true", help="the CSV file has no header row")
    p.add_argument("--hidden", type=int, nargs="+", default=[256], metavar="SIZE",
                   help="hidden layer sizes, one per layer (for example 256 128)")
    p.add_argument("--epochs", type=int, default=30, help="epochs to train at most")
    p.add_argument("--batch-size", type=int, default=32, help="rows per step")
    # Defaults: momentum 0.9 at lr 0.05 reaches 0.958 to 0.978 test accuracy on the digits
    # over seeds 0-5 (plain SGD at lr 0.1: 0.953 to 0.973).
    p.add_argument("--lr", type=float, default=0.05, help="learning rate")
    p.add_argument("--c", type=float, default=1e-4, help="weight decay")
    p.add_argument("--optimizer", default="momentum", choices=tuple(OPTIMIZERS), help="the update rule")
    p.add_argument("--lr-schedule", default="constant", choices=SCHEDULES, help="the learning rate per epoch")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop once the validation loss has not improved for --patience epochs")
    p.add_argument("--patience", type=int, default=5, help="epochs without improvement, with --early-stopping")
    p.add_argument("--metrics", default="full", choices=["full", "running"],
                   help="training loss and accuracy over the whole training set after each epoch (full), or the "
                        "running mean of the batch losses, at no cost (running)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the initialisation and the shuffles")
    p.add_argument("--scale", default="minmax", choices=METHODS,
                   help="feature scaling fitted on the training rows, saved with the model and applied by predict: "
                        "each feature to [0, 1] (minmax), to mean 0 and standard deviation 1 (standard), or none")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="the computation's dtype")
    p.add_argument("--val-fraction", type=float, default=0.2, help="of the training rows")
    p.add_argument("--test-fraction", type=float, default=0.25, help="held out when the data has no test set")
    p.add_argument("--threads", type=int,
                   help="threads for BLAS and Numba (default: all cores, fewer where more do not pay)")
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
    p.add_argument("--data", required=True, help=PREDICT_DATA_HELP)
    p.add_argument("--label", metavar="NAME|INDEX",
                   help="a CSV file's label column (default: as in training); a file with only the model's feature "
                        "columns has none")
    p.add_argument("--no-header", action="store_true", help="the CSV file has no header row")
    p.add_argument("--out", metavar="FILE.csv",
                   help="write a CSV of the scored rows: their row numbers in the data and predicted labels "
                        "(without --out: printed when the data has no labels, else only the accuracy)")
    p.add_argument("--proba", action="store_true",
                   help="the class probabilities instead of the labels (to --out, else printed)")
    p.set_defaults(run=predict)

    p = commands.add_parser("gradcheck", help="check both gradients against finite differences", formatter_class=_Help)
    p.add_argument("--hidden", type=int, nargs="+", default=[8], help="hidden layer sizes of the test network")
    p.add_argument("--seed", type=int, default=0, help="seeds the test problem")
    p.add_argument("--c", type=float, default=0.1, help="weight decay")
    p.set_defaults(run=gradcheck)

    p = commands.add_parser("compile", help="compile the kernels ahead of the first fit (image builds, CI)",
                            formatter_class=_Help,
                            description="Compile (or load from the cache) fastnn's kernels for every configuration "
                                        "asked for, so that later processes compile nothing. The activation, output "
                                        "and optimizer need no choice: one compilation serves them all.")
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"],
                   help="the dtypes to compile for")
    p.add_argument("--hidden-layers", type=int, nargs="+", default=[0, 1, 2, 3], metavar="COUNT",
                   help="numbers of hidden layers (0: a linear model); deeper networks compile on their first fit")
    p.add_argument("--targets", nargs="+", default=["labels", "numbers"], choices=["labels", "numbers"],
                   help="integer labels (softmax: multi-class), numbers (binary, multi-label and regression)")
    p.add_argument("--dense-only", action="store_true", help="leave out scipy.sparse input")
    p.set_defaults(run=compile_kernels)

    from .benchmarks.runner import DESCRIPTION, add_arguments  # a leaf: NumPy only until a benchmark runs

    p = commands.add_parser("bench",
                            help="time fastnn side by side with NumPy (and PyTorch, scikit-learn if installed)",
                            description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(run=bench)
    return top


def _thread_limits(threads):
    """A context that runs Numba and BLAS on `threads` threads (None: leave them as they are)."""
    if threads is None:
        return contextlib.nullcontext()
    import numba

    from ._kernels import blas
    from ._threads import on_threads

    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise UserError(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
    if blas.get_threads() is None:
        raise UserError(f"--threads: fastnn cannot set the thread count of {blas.bind().description} (it exports "
                        "no thread functions)")
    return on_threads(threads)


def _check_blas_choice():
    """UserError if $FASTNN_BLAS names no usable BLAS: said before a command starts its work."""
    from ._kernels import blas

    try:
        blas.chosen()
    except ValueError as error:
        raise UserError(str(error)) from None


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        _check_blas_choice()
        with _thread_limits(getattr(args, "threads", None)), warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)  # said by _compile_notice, in the CLI's words
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
