"""Data sets: the embedded 8x8 digits, MNIST-format IDX files, .npz and .csv files, and a
stratified split.

The digits are the UCI "Optical Recognition of Handwritten Digits" test set as bundled
with scikit-learn (1,797 images of 8x8 pixels with values 0..16, labels 0..9), stored in
fastnn/data/digits.npz so that fastnn needs no download and no scikit-learn.
"""

import csv
import gzip
import math
import os
import warnings
from importlib import resources
from typing import NamedTuple

import numpy as np

# IDX type codes (the third byte of the magic number) and their big-endian dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_digits(dtype=np.float64):
    """The embedded digits, scaled to [0, 1].

    Returns
    -------
    X : ndarray, shape (1797, 64), of dtype
        Pixel values divided by 16.
    y : ndarray of int64, shape (1797,)
        Labels 0..9.
    """
    with resources.files("fastnn").joinpath("data/digits.npz").open("rb") as file:
        with np.load(file, allow_pickle=False) as data:
            X, y = data["X"], data["y"]
    return (X / 16).astype(dtype), y.astype(np.int64)


def stratified_split(y, fractions, seed=None):
    """Split row indices into parts with the given fractions, stratified by label.

    Parameters
    ----------
    y : array_like of labels, shape (n,)
    fractions : sequence of float
        Fractions of the rows per part, positive and summing to 1 (for example
        (0.75, 0.25) or (0.6, 0.2, 0.2)).
    seed : int or None

    Returns
    -------
    list of ndarray
        One array of row indices per part, shuffled; each label is spread over the parts
        in the given fractions (rounded).
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    parts = [[] for _ in fractions]
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        bounds = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
        for part, chunk in zip(parts, np.split(rows, bounds)):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]


def read_idx(path):
    """Read an IDX file (the MNIST format), raw or gzip-compressed.

    The header is two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32; the data follow.

    Returns
    -------
    ndarray
        With the file's dimensions and its dtype in native byte order.

    Raises
    ------
    ValueError
        A bad magic number, an unknown type code, or a file whose size does not match its
        header (truncated or with trailing bytes).
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    try:
        # Read no more than the header promises (plus one byte to notice trailing data),
        # so a small gzip file cannot inflate without bound.
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as file:
            raw = file.read(4)
            if len(raw) == 4 and raw[:2] == b"\x00\x00":
                raw += file.read(4 * raw[3])
                if raw[2] in IDX_DTYPES and len(raw) == 4 + 4 * raw[3]:
                    shape = np.frombuffer(raw, ">u4", count=raw[3], offset=4)
                    promised = math.prod(int(v) for v in shape) * np.dtype(IDX_DTYPES[raw[2]]).itemsize
                    raw += _read_at_most(file, promised + 1)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'none'}")
    type_code, n_dims = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    header = 4 + 4 * n_dims
    if n_dims == 0 or len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, {n_dims} dimensions)")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=n_dims, offset=4))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: the header promises {shape} values of {dtype.name} "
                         f"({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _read_at_most(file, limit, chunk=1 << 20):
    """Up to `limit` bytes of a file, read in chunks: memory bounded by what the file holds."""
    parts, total = [], 0
    while total < limit:
        part = file.read(min(chunk, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def load_mnist(folder, kind="train", dtype=np.float32):
    """MNIST from its IDX files in `folder` (raw or .gz), pixels scaled to [0, 1].

    Parameters
    ----------
    folder : str or os.PathLike
        Holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
        and t10k-labels-idx1-ubyte (each possibly with .gz).
    kind : {"train", "t10k"}

    Returns
    -------
    X : ndarray (n, rows * cols) of dtype; y : ndarray (n,) of int64
    """
    def find(stem):
        # The original names (train-images-idx3-ubyte) and the common copies' (train-images.idx3-ubyte).
        dotted = stem.replace("-idx", ".idx")
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            candidate = os.path.join(folder, name)
            if os.path.exists(candidate):
                return candidate
        raise FileNotFoundError(f"no {stem}[.gz] or {dotted}[.gz] in {folder}")

    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    images = read_idx(find(f"{kind}-images-idx3-ubyte"))
    labels = read_idx(find(f"{kind}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    return (images.reshape(len(images), -1) / 255).astype(dtype), check_labels(labels, f"{folder} ({kind} labels)")


def load_npz(path, dtype=np.float64, labels_required=True):
    """X and y from an .npz file with arrays named X and y (read without pickle).

    With ``labels_required=False`` the array y may be missing: y is then None (data to
    predict).
    """
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            missing = {"X", "y"} - set(data.files) if labels_required else {"X"} - set(data.files)
            if missing:
                raise ValueError(f"{path} needs arrays {' and '.join(sorted(missing))}; it has {sorted(data.files)}")
            X, y = data["X"], data["y"] if "y" in data.files else None
    except (OSError, ValueError, EOFError) as error:
        if isinstance(error, FileNotFoundError) or "needs arrays" in str(error):
            raise
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    if y is None:
        return _as_features(X, path, dtype), None
    return _as_dataset(X, y, path, dtype)


def load_idx_images(path, dtype=np.float32):
    """The images of one IDX file (n images of any shape), flattened to rows; uint8 pixels scaled to [0, 1].

    Returns
    -------
    X : ndarray (n, pixels per image) of dtype
    """
    images = read_idx(path)
    if images.ndim < 2:
        raise ValueError(f"{path}: an IDX file of images has at least 2 dimensions, this one {images.shape}")
    X = images.reshape(len(images), -1)
    return _as_features(X / 255 if images.dtype == np.uint8 else X, path, dtype)


# Header names taken for the label column when none is given (compared without case).
LABEL_NAMES = ("label", "labels", "target", "targets", "y", "class", "classes", "category")


class CsvLayout(NamedTuple):
    """Where a CSV file's label column is, as `csv_layout` decided it."""

    names: list  # the header's names; "0", "1", ... without a header row
    has_header: bool
    label: "int | None"  # the label column's index; None: every column is a feature
    why: str  # how the label column was chosen, in words for the user


def csv_layout(path, label=None, has_header=None, n_features=None):
    """The header and the label column of a CSV file, read from its first row.

    Parameters
    ----------
    path : str or os.PathLike
    label : None, False, str or int
        The label column by name or number (from 0); None chooses: the column with a
        label-like name (`LABEL_NAMES`), else the first column; False: there is none.
    has_header : bool or None
        None: the first row is a header when any of its fields is not a number.
    n_features : int or None
        The features a model expects (prediction): a file with exactly that many columns
        has no label column.

    Raises
    ------
    ValueError
        An empty file, a file of one column (or separated by something other than
        commas), a label column that does not exist, or several label-like names.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8", newline="") as file:
        first_line, second_line = file.readline(1 << 16), file.readline(1 << 16)
    first = next(csv.reader([first_line], skipinitialspace=True), None)
    if not first or not any(field.strip() for field in first):
        raise ValueError(f"{path}: the file is empty; it needs rows of numbers, the label in one column")
    names = [field.strip() for field in first]
    if has_header is None:
        second = next(csv.reader([second_line], skipinitialspace=True), None)
        has_header = _looks_like_header(names, None if second is None else [field.strip() for field in second])
    if len(names) == 1 and n_features != 1:
        other = next((mark for mark in (";", "\t", "|") if mark in first_line), None)
        if other is not None:
            raise ValueError(f"{path}: the rows are separated by {other!r}, not by commas; fastnn reads "
                             "comma-separated files (save it with commas as separators)")
        raise ValueError(f"{path}: the rows have one column; they need the features and a label")
    if label == "label" and not (has_header and label in names):
        label = None  # the former default, "label" where there is such a column: the same choice as None
    second_width = len(next(csv.reader([second_line], skipinitialspace=True), []))
    if n_features is not None and len(names) not in (n_features, n_features + 1) and second_width == len(names):
        raise ValueError(f"{path}: the model expects {n_features} features, so {n_features} columns (or "
                         f"{n_features + 1} with the labels), but the rows have {len(names)}")
    if label is False or n_features is not None and len(names) == n_features:
        return CsvLayout(_numbered(names, has_header), has_header, None,
                         f"no label column (the {len(names)} columns are the features)")
    if isinstance(label, (int, np.integer)) or isinstance(label, str) and label.isdigit() and label not in names:
        column = int(label)
        if not 0 <= column < len(names):
            raise ValueError(f"{path}: label column {column} does not exist; the rows have {len(names)} columns")
        why = f"column {column}" + (f", {names[column]!r}" if has_header else "")
    elif label is not None:
        if not has_header:
            raise ValueError(f"{path}: no header row names the columns; give the label column by number (from 0)")
        matches = [name for name in names if name == label] or [name for name in names if name.lower() == label.lower()]
        if len(matches) != 1:
            raise ValueError(f"{path}: no column named {_short(label, 60)!r}; the header has {_short(names, 300)}")
        column, why = names.index(matches[0]), f"the column named {matches[0]!r}"
    else:
        column, why = _label_column(path, names, has_header)
    return CsvLayout(_numbered(names, has_header), has_header, column, why)


def _looks_like_header(first, second):
    """Whether a CSV file's first row is a header, from it and the second row (None if there is none).

    A header names a label-like column, or has a name where the next row has a number
    (so that a headerless file whose labels are names keeps its first row). A lone row is
    a header if any of its fields is not a number.
    """
    if any(name.lower() in LABEL_NAMES for name in first):
        return True
    if second is None or not any(second):
        return not all(_is_number(field) for field in first)
    return any(not _is_number(name) and _is_number(value) for name, value in zip(first, second))


def other_label_columns(layout):
    """The header's label-like names other than the label column's (features that may give the answer away)."""
    if not layout.has_header:
        return []
    return [name for column, name in enumerate(layout.names)
            if column != layout.label and name.lower() in LABEL_NAMES]


def _numbered(names, has_header):
    """The header's names, or the columns' numbers without a header."""
    return names if has_header else [str(column) for column in range(len(names))]


def _label_column(path, names, has_header):
    """The label column when none is given: the one named like a label, else the first."""
    if not has_header:
        return 0, "the first column (the file has no header)"
    named = [column for column, name in enumerate(names) if name.lower() in LABEL_NAMES]
    if len(named) > 1:
        raise ValueError(f"{path}: the columns {[names[column] for column in named]} all look like labels; "
                         "choose one (--label NAME)")
    if named:
        return named[0], f"the column named {names[named[0]]!r}"
    return 0, (f"the first column, {names[0]!r}, since none is named label, target, y, class or the like "
               "(choose another with --label NAME)")


def load_csv(path, label=None, dtype=np.float64, has_header=None, n_features=None):
    """X and y from a .csv file: a numeric table, with or without a header row.

    The first row is a header when any of its fields is not a number (has_header=None),
    or as `has_header` says; quotes and spaces around names are allowed ("a", "b",
    "label" or a, b, label). The label column is chosen by `csv_layout`: `label` by name
    or number (from 0), else the column with a label-like name (label, target, y,
    class, ...), else the first; ``label=False`` (or a file of exactly `n_features`
    columns) means that the file has no labels. Every other cell must be numeric;
    labels are integers or names.

    Returns
    -------
    X : ndarray (n, d) of dtype
    y : ndarray (n,) of int64, or of str when the labels are names; None without labels

    Raises
    ------
    ValueError
        An empty file, a non-numeric cell (its row and column are named), rows of
        different lengths, or labels that are not finite integers (the row is named).
    """
    path = os.fspath(path)
    try:
        layout = csv_layout(path, label, has_header, n_features)
        return _load_csv(path, layout, dtype)
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        raise ValueError(f"{path}: not a readable CSV file ({_short(error)})") from None


def _short(value, limit=200):
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _load_csv(path, layout, dtype):
    names, has_header, column, _ = layout
    features = [i for i in range(len(names)) if i != column]
    table = _read_numbers(path, has_header, None)
    if table is None:  # not all numbers: the labels may be names
        X = _read_numbers(path, has_header, features)
        if X is None or column is None:
            _raise_first_non_number(path, has_header, names, features, layout.why)
        y = _read_column(path, has_header, column, len(names))
    else:
        if table.shape[0] == 0:
            raise ValueError(f"{path}: the file has a header but no rows")
        if table.shape[1] != len(names):
            raise ValueError(f"{path}: the first row has {len(names)} columns but the others have {table.shape[1]}")
        X, y = (table, None) if column is None else (np.delete(table, column, axis=1), table[:, column])
    if X.shape[0] == 0:
        raise ValueError(f"{path}: the file has a header but no rows")
    if X.shape[1] != len(features):
        raise ValueError(f"{path}: the first row has {len(names)} columns but the others have "
                         f"{X.shape[1] + (column is not None)}")
    first_row = 2 if has_header else 1
    if y is None:
        return _as_features(X, path, dtype, first_row), None
    return _as_dataset(X, y, path, dtype, first_row)


def _raise_first_non_number(path, has_header, names, features, why):
    """Name the first feature cell that is not a number (an empty cell, NA, a name) with its row and column.

    When the label column was a guess (the first column), the message says so: a column
    of names is more likely the labels than a feature with a gap.
    """
    with open(path, encoding="utf-8", newline="") as file:
        rows = csv.reader(file, skipinitialspace=True)
        if has_header:
            next(rows, None)
        for number, row in enumerate(rows, 2 if has_header else 1):
            for column in features:
                if column < len(row) and not _is_number(row[column].strip()):
                    value = row[column].strip()
                    shown = "is empty" if not value else f"holds {_short(value, 40)!r}"
                    name = f"column {names[column]!r}" if has_header else f"column {column}"
                    hint = (f"; the labels were taken from {why.split(', since')[0]}: if {name} holds them, choose it "
                            f"with --label {names[column] if has_header else column}" if why.startswith("the first")
                            else " (fill in or drop missing values first)")
                    raise ValueError(f"{path}: row {number}, {name} {shown}, not a number; every cell but the "
                                     f"labels must be numeric{hint}")
    raise ValueError(f"{path}: every cell but the labels must be numeric")


def _read_numbers(path, has_header, columns):
    """The numeric table of a CSV file (only `columns` if given), or None if a cell is not a number."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked by the caller
            return np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, ndmin=2, quotechar='"',
                              dtype=np.float64, encoding="utf-8", usecols=columns)
    except ValueError as error:
        if "could not convert" in str(error):
            return None
        raise ValueError(f"{path}: {str(error)[:200]}") from None


def _read_column(path, has_header, column, n_columns):
    """One column of a CSV file as strings, stripped of spaces and quotes; every row must have n_columns fields."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = csv.reader(file, skipinitialspace=True)
        if has_header:
            next(rows, None)
        labels = []
        for number, row in enumerate(rows, 2 if has_header else 1):
            if not row:
                continue
            if len(row) != n_columns:
                raise ValueError(f"{path}: row {number} has {len(row)} columns, the first row {n_columns}")
            if not row[column].strip():
                raise ValueError(f"{path}: row {number} has an empty label; fill it in or drop the row")
            labels.append(row[column].strip())
        return np.array(labels, dtype=str)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_labels(y, source, first_row=0):
    """Labels as int64, or as strings when they are names; numbers that are not finite integers are refused.

    A number like 0.5, inf or 1e20 in a label column is a mistake (regression targets,
    a wrong column), named with its row; rows are counted from `first_row` in the
    message (1 for a file's first line).
    """
    y = np.asarray(y)
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{source}: labels must be integers or names, got {y.dtype} values")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y)) | (np.abs(y) > 2**53)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f"{source}: labels must be finite integers; row {row + first_row} has {y[row].item()!r}")
    return y.astype(np.int64)


def _as_dataset(X, y, source, dtype, first_row=0):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"{source}: X must be 2-D and y 1-D of the same length, got {X.shape} and {y.shape}")
    return _as_features(X, source, dtype, first_row), check_labels(y, source, first_row)


def _as_features(X, source, dtype, first_row=0):
    """X in dtype, refused when it is not 2-D, has no rows or holds a value that is not finite there."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{source}: X must be 2-D, got shape {X.shape}")
    if len(X) == 0:
        raise ValueError(f"{source}: there are no rows")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{source}: X must hold numbers, got {X.dtype} values")
    with np.errstate(over="ignore", invalid="ignore"):
        X = X.astype(dtype)
    if not np.all(np.isfinite(X)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
        if np.isnan(X[row, column]):
            raise ValueError(f"{source}: a value is NaN (row {row + first_row}, feature column {column}): a missing "
                             "value; fill in or drop missing values first")
        raise ValueError(f"{source}: a value is NaN or inf in {np.dtype(dtype).name} (row {row + first_row}, "
                         f"feature column {column}); a value beyond {np.finfo(dtype).max:.3g} needs scaling or float64")
    return X
