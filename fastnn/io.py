"""Saving and loading models: one .npz file, read without pickle.

The format (version 2). Every array is a plain numeric (or, for labels and feature
names, fixed-width unicode) npz entry; one more entry, "metadata", holds UTF-8 JSON as
uint8 bytes:

    {"format": "fastnn", "format_version": 2, "fastnn_version": "...",
     "kind": "params" | "NetClassifier" | "MLPClassifier",
     "dtype": "float32", "n_layers": L,
     "arrays": {"W1": {"dtype": "float32", "shape": [d, h1]}, ...},   (every entry)
     ... what the kind needs (below)}

- params: W1, b1, ..., WL, bL.
- NetClassifier: the params, hist_train_loss, hist_train_acc, hist_val_loss,
  hist_val_acc; "stop_reason".
- MLPClassifier: the params (W<l> = coefs_[l-1], b<l> = intercepts_[l-1]), classes,
  loss_curve, validation_scores, val_losses (the history's validation loss),
  feature_names_in (if fitted on a DataFrame), and the optimizer's state (opt_vW1,
  opt_sW1, opt_vb1, ...: velocity and second moment, empty where the solver keeps
  none); "hyperparameters" (get_params()), "fitted" (n_iter_, t_, loss_, best_loss_,
  best_validation_score_, n_features_in_, and the learning rate, stopping count,
  optimizer step and random-generator state that partial_fit continues from).

Files are read with allow_pickle=False, so loading never executes code from the file;
every entry is checked against the metadata, and every shape against the network's,
before anything is built from it. Version 1 files (params and NetClassifier) still load.

Each model type saves and restores its own state: its kind is its class name, listed in
`KINDS` with the module it lives in, and it implements `_file_contents()` -> (params,
arrays, metadata) and the classmethod `_from_file_contents(params, arrays, metadata)`.
This module is the container format and the dispatch by kind (`KINDS`); it never
reaches into a model's private state.
"""

import importlib
import json
import os
import uuid
import zipfile

import numpy as np

from ._version import __version__
from .params import param_keys, to_layers

FORMAT = "fastnn"
MAX_ENTRIES = 100_000  # entries in one file: far more than any network has
MAX_INFLATION = 100  # fastnn stores its arrays; a deflated entry may shrink at most this much
MAX_METADATA_BYTES = 1 << 20
# The only entries that may hold other than floats: labels and feature names.
LABEL_ENTRIES = ("classes", "feature_names_in")
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# The model types a file may hold, by kind: where the class lives (imported on load, so
# that scikit-learn is needed only for an MLPClassifier file).
KINDS = {"params": None, "NetClassifier": "fastnn.net:NetClassifier", "MLPClassifier": "fastnn.mlp:MLPClassifier",
         "MLPRegressor": "fastnn.mlp:MLPRegressor"}


def save(path, model):
    """Save a params dict, a fitted NetClassifier or a fitted MLPClassifier to `path` (.npz).

    The file is written next to its destination and renamed into place, so an existing
    file at `path` is never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
    model : dict, NetClassifier or MLPClassifier
        A params dict (W1, b1, ..., WL, bL) or a fitted estimator.

    The new file's permissions follow the umask, as numpy.save's do; an existing file
    keeps its own.

    Raises
    ------
    TypeError
        model is none of these.
    ValueError
        An unfitted estimator, invalid params, or parameters holding NaN or inf (a file
        that `load` would refuse is never written).
    """
    kind, params, arrays, extra = _describe(model)
    weights, biases = to_layers(params)
    for key, array in zip(param_keys(len(weights)), (a for pair in zip(weights, biases) for a in pair)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"params['{key}'] contains NaN or inf: such a model cannot be saved")
    arrays = {**{key: np.asarray(params[key]) for key in param_keys(len(weights))}, **arrays}
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "fastnn_version": __version__,
        "dtype": str(weights[0].dtype), "n_layers": len(weights),
        "arrays": {name: {"dtype": array.dtype.str, "shape": list(array.shape)} for name, array in arrays.items()},
        **extra,
    }
    arrays["metadata"] = np.frombuffer(json.dumps(metadata, default=_json_default).encode("utf-8"), dtype=np.uint8)

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".fastnn-{uuid.uuid4().hex}.npz.tmp")
    # Created as open() creates files (0666 less the umask), not mkstemp's 0600.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        if os.path.exists(path):  # an existing model keeps its permissions
            os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load(path):
    """Load what `save` wrote: a params dict, a NetClassifier or an MLPClassifier.

    Raises
    ------
    FileNotFoundError
        No file at path.
    ValueError
        The file is not a fastnn model file, is truncated or corrupt, holds object
        arrays, has an unknown format version, or its arrays disagree with its metadata
        or with each other.
    ImportError
        A model file whose class needs a missing optional dependency (an MLPClassifier
        file without scikit-learn).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        entries = _read_entries(path)
    except FileNotFoundError:
        raise
    except _Refused as error:
        raise ValueError(f"{path} is not a readable fastnn model file: {error}") from None
    except Exception as error:  # whatever zipfile or numpy raise on damaged bytes: the file's fault
        raise ValueError(f"{path} is not a readable fastnn model file "
                         f"({type(error).__name__}: {_short(error)})") from None
    metadata = _read_metadata(path, entries)
    del entries["metadata"]
    _check_entries(path, entries, metadata["arrays"])
    for name, array in entries.items():
        if name not in LABEL_ENTRIES and array.dtype.kind != "f":
            raise ValueError(f"{path}: {_short(name, 60)} is {array.dtype}; it must hold floats")
    n_layers = metadata["n_layers"]
    params = {key: entries.pop(key) for key in param_keys(n_layers)}
    for key, array in params.items():
        if array.dtype != np.dtype(metadata["dtype"]):
            raise ValueError(f"{path}: {key} is {array.dtype}, but the metadata says {metadata['dtype']}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{path}: {key} contains NaN or inf")
    try:
        to_layers(params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: the parameters are inconsistent ({error})") from None
    kind = metadata["kind"]
    if kind == "params":
        return params
    module, name = KINDS[kind].split(":")
    model_class = getattr(importlib.import_module(module), name)
    try:
        return model_class._from_file_contents(params, entries, metadata)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{path}: the {kind}'s state is invalid ({type(error).__name__}: {_short(error)})") from None


class _Refused(Exception):
    """A model file refused before its arrays are read."""


def _short(value, limit=200):
    """str(value), cut to `limit` characters: error messages stay short whatever a file holds."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _read_entries(path):
    """The file's arrays, each checked before it is read: work and memory stay bounded by the file's size.

    An entry must be a .npy array of a plain dtype (numbers, booleans, unicode; never
    objects), whose header declares no more bytes than the entry holds, stored or
    deflated at a ratio no deflate bomb stays under.
    """
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _Refused(f"it has {len(infos)} entries (at most {MAX_ENTRIES})")
        entries = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in entries:
                raise _Refused(f"its entry {_short(name, 60)!r} is not a distinct .npy array")
            if info.file_size > MAX_INFLATION * info.compress_size + 4096:
                raise _Refused(f"its entry {_short(name, 60)!r} inflates {info.compress_size} bytes to "
                               f"{info.file_size}")
            with archive.open(info) as entry:
                version = np.lib.format.read_magic(entry)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(entry)
                if dtype.hasobject or dtype.kind not in "biufU" or dtype.itemsize == 0:
                    raise _Refused(f"its entry {_short(name, 60)!r} has dtype {dtype} (not a plain array)")
                if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                    raise _Refused(f"its entry {_short(name, 60)!r} declares shape {_short(shape, 60)}, more "
                                   f"than its {info.file_size} bytes hold")
            with archive.open(info) as entry:  # the CRC check at its end catches flipped bytes
                entries[name[:-4]] = np.lib.format.read_array(entry, allow_pickle=False)
    return entries


def _describe(model):
    """(kind, params, other arrays, other metadata) of a model to save."""
    if isinstance(model, dict):
        return "params", model, {}, {}
    # The first class in the model's lineage that KINDS names: a user's subclass saves as its base.
    kind = next((cls.__name__ for cls in type(model).__mro__
                 if KINDS.get(cls.__name__) == f"{cls.__module__}:{cls.__name__}"), None)
    if kind is None:
        raise TypeError(f"save takes a params dict, a NetClassifier, an MLPClassifier or an MLPRegressor, got "
                        f"{type(model).__name__}")
    return (kind, *model._file_contents())


def curve_entry(arrays, name):
    """A per-epoch curve of a model file (checked floats by `load`) as a float64 1-D array, or ValueError."""
    array = arrays[name]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {_short(array.shape, 60)}")
    return array.astype(np.float64)


def label_array(labels):
    """Labels as an array numpy can store without pickle: numbers, booleans or unicode."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "O":
        if not all(isinstance(label, str) for label in labels):
            raise TypeError("only numeric or string labels can be saved (without pickle); got mixed objects")
        labels = labels.astype(str)
    if labels.dtype.kind not in "biufU":
        raise TypeError(f"labels of dtype {labels.dtype} cannot be saved without pickle")
    return labels


def json_number(value):
    """A fitted scalar as JSON can hold it (None stays None; numpy numbers become Python's)."""
    return None if value is None else value.item() if isinstance(value, np.generic) else value


def _json_default(value):
    """numpy scalars (an np.int64 max_iter, say) as the Python numbers JSON holds."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be saved as JSON metadata")


# ---------------------------------------------------------------- checks on read


def _check_entries(path, entries, described):
    """Every entry is described by the metadata, and has the dtype and shape it says."""
    if sorted(entries) != sorted(described):
        missing, unexpected = sorted(set(described) - set(entries)), sorted(set(entries) - set(described))
        raise ValueError(f"{path}: the entries disagree with the metadata (missing {_short(missing)}, "
                         f"unexpected {_short(unexpected)})")
    for name, array in entries.items():
        want = described[name]
        if (array.dtype.kind not in "biufU" or array.dtype != np.dtype(want["dtype"])
                or list(array.shape) != want["shape"]):
            raise ValueError(f"{path}: {name} is {array.dtype} {array.shape}, but the metadata says "
                             f"{_short(want['dtype'], 40)} {_short(tuple(want['shape']), 80)}")


def _read_metadata(path, entries):
    if "metadata" not in entries or entries["metadata"].dtype != np.uint8 or entries["metadata"].ndim != 1:
        raise ValueError(f"{path} is not a fastnn model file: it has no metadata entry")
    if entries["metadata"].size > MAX_METADATA_BYTES:
        raise ValueError(f"{path}: the metadata is {entries['metadata'].size} bytes (at most {MAX_METADATA_BYTES})")
    try:
        metadata = json.loads(entries["metadata"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: the metadata is not valid JSON ({type(error).__name__})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fastnn model file (format {_short(repr(metadata.get('format')), 60)})"
                         if isinstance(metadata, dict) else f"{path}: the metadata is not a JSON object")
    version = metadata.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ValueError(f"{path} has format version {_short(repr(version), 60)}; this fastnn "
                         f"reads versions {READABLE_VERSIONS} (a newer fastnn may read it)")
    kind = metadata.get("kind")
    if not isinstance(kind, str) or kind not in KINDS or version == 1 and kind.startswith("MLP"):
        raise ValueError(f"{path}: unknown kind {_short(repr(kind), 60)}; expected one of {list(KINDS)}")
    try:
        if np.dtype(metadata["dtype"]) not in (np.float32, np.float64):
            raise TypeError
        if metadata["format_version"] == 1:
            metadata = _upgrade_v1(metadata, entries)
        described = metadata["arrays"]
        n_layers = metadata["n_layers"]
        # n_layers is bounded by the entries the file has before any key is built from it.
        if not (isinstance(described, dict) and isinstance(n_layers, int) and 1 <= n_layers <= len(described) // 2
                and all(key in described for key in param_keys(n_layers))):
            raise KeyError
        for want in described.values():
            np.dtype(want["dtype"])
            if not (isinstance(want["shape"], list) and all(isinstance(size, int) for size in want["shape"])):
                raise TypeError
    except Exception:  # parsing what the file says: any failure is the file's
        raise ValueError(f"{path}: the metadata's dtype, layers or array descriptions are missing or invalid") from None
    return metadata


def _upgrade_v1(metadata, entries):
    """Version 1 (two layers; "shapes" of W1..b2 only) described as version 2."""
    shapes = metadata["shapes"]
    if sorted(shapes) != sorted(param_keys(2)):
        raise KeyError
    described = {key: {"dtype": np.dtype(metadata["dtype"]).str, "shape": shape} for key, shape in shapes.items()}
    if metadata["kind"] == "NetClassifier":
        from .net import HISTORY_KEYS  # here, not at the top: net imports this module's helpers

        for key in HISTORY_KEYS:
            history = entries.get(f"hist_{key}")
            shape = list(history.shape) if history is not None and history.ndim == 1 else [-1]
            described[f"hist_{key}"] = {"dtype": np.dtype(np.float64).str, "shape": shape}
    return {**metadata, "n_layers": 2, "arrays": described}
