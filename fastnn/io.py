"""Saving and loading models: one .npz file, read without pickle.

The format (version 1). Every array is a plain numeric npz entry: W1, b1, W2, b2, and for
a NetClassifier its history as hist_train_loss, hist_train_acc, hist_val_loss and
hist_val_acc. One more entry, "metadata", holds UTF-8 JSON as uint8 bytes:

    {"format": "fastnn", "format_version": 1, "kind": "params" | "NetClassifier",
     "fastnn_version": "...", "dtype": "float32", "shapes": {"W1": [d, h], ...},
     "stop_reason": ... (NetClassifier only)}

Files are read with allow_pickle=False, so loading never executes code from the file,
and every entry is checked against the metadata.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from ._validation import check_params, param_keys
from .net import HISTORY_KEYS, NetClassifier

FORMAT = "fastnn"
FORMAT_VERSION = 1
KINDS = ("params", "NetClassifier")


def save(path, model):
    """Save a params dict or a fitted NetClassifier to `path` (an .npz file).

    The file is written next to its destination and renamed into place, so an existing
    file at `path` is never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
    model : dict or NetClassifier
        A params dict (W1, b1, W2, b2) or a NetClassifier after fit.

    Raises
    ------
    TypeError
        model is neither; ValueError: an unfitted NetClassifier or invalid params.
    """
    from . import __version__

    if isinstance(model, NetClassifier):
        if model.params is None:
            raise ValueError("this NetClassifier is not fitted: there is nothing to save")
        kind, params = "NetClassifier", model.params
    elif isinstance(model, dict):
        kind, params = "params", model
    else:
        raise TypeError(f"save takes a params dict or a NetClassifier, got {type(model).__name__}")
    weights, _ = check_params(params)
    arrays = {key: np.asarray(params[key]) for key in param_keys(len(weights))}
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "fastnn_version": __version__,
        "dtype": str(arrays["W1"].dtype), "shapes": {key: list(value.shape) for key, value in arrays.items()},
    }
    if kind == "NetClassifier":
        metadata["stop_reason"] = model.stop_reason
        for key in HISTORY_KEYS:
            arrays[f"hist_{key}"] = np.asarray(model.hist[key], dtype=np.float64)
    arrays["metadata"] = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".fastnn-", suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load(path):
    """Load what `save` wrote: a params dict, or a NetClassifier with params and hist.

    Raises
    ------
    FileNotFoundError
        No file at path.
    ValueError
        The file is not a fastnn model file, is truncated or corrupt, holds object
        arrays, has an unknown format version, or its arrays disagree with its metadata.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            entries = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a readable fastnn model file ({type(error).__name__}: {error})") from None
    metadata = _read_metadata(path, entries)
    dtype = np.dtype(metadata["dtype"])
    keys = param_keys(len(metadata["shapes"]) // 2)
    expected = [*keys, "metadata"]
    if metadata["kind"] == "NetClassifier":
        expected += [f"hist_{key}" for key in HISTORY_KEYS]
    if sorted(entries) != sorted(expected):
        raise ValueError(f"{path}: expected the entries {sorted(expected)}, found {sorted(entries)}")
    params = {}
    for key in keys:
        array = entries[key]
        if array.dtype != dtype or list(array.shape) != list(metadata["shapes"][key]):
            raise ValueError(
                f"{path}: {key} is {array.dtype} {array.shape}, but the metadata says "
                f"{dtype} {tuple(metadata['shapes'][key])}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{path}: {key} contains NaN or inf")
        params[key] = array
    check_params(params)
    if metadata["kind"] == "params":
        return params
    model = NetClassifier()
    model.params = params
    model.hist = {key: entries[f"hist_{key}"].astype(np.float64) for key in HISTORY_KEYS}
    model.stop_reason = metadata.get("stop_reason")
    return model


def _read_metadata(path, entries):
    if "metadata" not in entries or entries["metadata"].dtype != np.uint8 or entries["metadata"].ndim != 1:
        raise ValueError(f"{path} is not a fastnn model file: it has no metadata entry")
    try:
        metadata = json.loads(entries["metadata"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the metadata is not valid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fastnn model file (format {metadata.get('format')!r})"
                         if isinstance(metadata, dict) else f"{path}: the metadata is not a JSON object")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {metadata.get('format_version')!r}; this fastnn "
                         f"reads version {FORMAT_VERSION} (a newer fastnn may read it)")
    if metadata.get("kind") not in KINDS:
        raise ValueError(f"{path}: unknown kind {metadata.get('kind')!r}; expected one of {KINDS}")
    try:
        if np.dtype(metadata["dtype"]) not in (np.float32, np.float64):
            raise TypeError
        shapes = metadata["shapes"]
        if not isinstance(shapes, dict) or sorted(shapes) != sorted(param_keys(max(len(shapes) // 2, 2))):
            raise KeyError
    except (KeyError, TypeError):
        raise ValueError(f"{path}: the metadata's dtype or shapes are missing or invalid") from None
    return metadata
