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


def load_npz(path, dtype=np.float64):
    """X and y from an .npz file with arrays named X and y (read without pickle)."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            missing = {"X", "y"} - set(data.files)
            if missing:
                raise ValueError(f"{path} needs arrays X and y; it has {sorted(data.files)}")
            X, y = data["X"], data["y"]
    except (OSError, ValueError, EOFError) as error:
        if isinstance(error, FileNotFoundError) or "needs arrays" in str(error):
            raise
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    return _as_dataset(X, y, path, dtype)


def load_csv(path, label="label", dtype=np.float64, has_header=None):
    """X and y from a .csv file: a numeric table, with or without a header row.

    The first row is a header when any of its fields is not a number (has_header=None),
    or as `has_header` says; quotes and spaces around names are allowed ("a", "b",
    "label" or a, b, label). The label column is the one named `label` (or the column
    number `label`, from 0), else the first. Every other cell must be numeric; labels
    are integers or names.

    Returns
    -------
    X : ndarray (n, d) of dtype
    y : ndarray (n,) of int64, or of str when the labels are names

    Raises
    ------
    ValueError
        An empty file, a non-numeric cell, rows of different lengths, or labels that
        are not finite integers (the row is named).
    """
    path = os.fspath(path)
    try:
        return _load_csv(path, label, dtype, has_header)
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        raise ValueError(f"{path}: not a readable CSV file ({_short(error)})") from None


def _short(value, limit=200):
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _load_csv(path, label, dtype, has_header):
    with open(path, encoding="utf-8", newline="") as file:
        first = next(csv.reader(file, skipinitialspace=True), None)
    if not first or not any(field.strip() for field in first):
        raise ValueError(f"{path}: the file is empty; it needs rows of numbers, the label in one column")
    names = [field.strip() for field in first]
    if has_header is None:
        has_header = not all(_is_number(field) for field in names)
    if isinstance(label, (int, np.integer)) or isinstance(label, str) and label.isdigit() and label not in names:
        column = int(label)
    else:
        if has_header and label != "label" and label not in names:
            raise ValueError(f"{path}: no column named {label!r}; the header has {names[:20]}")
        column = names.index(label) if has_header and label in names else 0
    if not 0 <= column < len(names):
        raise ValueError(f"{path}: label column {column} does not exist; the rows have {len(names)} columns")
    features = [i for i in range(len(names)) if i != column]
    table = _read_numbers(path, has_header, None)
    if table is None:  # not all numbers: the labels may be names
        X = _read_numbers(path, has_header, features)
        if X is None:
            raise ValueError(f"{path}: every cell but the labels must be numeric")
        y = _read_column(path, has_header, column)
    else:
        if table.shape[0] == 0:
            raise ValueError(f"{path}: the file has a header but no rows")
        if table.shape[1] != len(names):
            raise ValueError(f"{path}: the first row has {len(names)} columns but the others have {table.shape[1]}")
        X, y = np.delete(table, column, axis=1), table[:, column]
    if X.shape[0] == 0:
        raise ValueError(f"{path}: the file has a header but no rows")
    if X.shape[1] != len(features):
        raise ValueError(f"{path}: the first row has {len(names)} columns but the others have {X.shape[1] + 1}")
    return _as_dataset(X, y, path, dtype, first_row=2 if has_header else 1)


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


def _read_column(path, has_header, column):
    """One column of a CSV file as strings, stripped of spaces and quotes."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = csv.reader(file, skipinitialspace=True)
        if has_header:
            next(rows, None)
        labels = []
        for number, row in enumerate(rows, 2 if has_header else 1):
            if not row:
                continue
            if len(row) <= column:
                raise ValueError(f"{path}: row {number} has {len(row)} columns, no label column {column}")
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
    if len(y) == 0:
        raise ValueError(f"{source}: there are no rows")
    with np.errstate(over="ignore", invalid="ignore"):
        X = X.astype(dtype)
    if not np.all(np.isfinite(X)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"{source}: a value is NaN or inf in {np.dtype(dtype).name} (row {row + first_row}, "
                         f"feature column {column}); a value beyond {np.finfo(dtype).max:.3g} needs scaling or float64")
    return X, check_labels(y, source, first_row)
