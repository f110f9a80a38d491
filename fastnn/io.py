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
"""

import json
import os
import tempfile
import warnings
import zipfile

import numpy as np

from ._validation import check_params, param_keys
from .net import HISTORY_KEYS, NetClassifier

FORMAT = "fastnn"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
KINDS = ("params", "NetClassifier", "MLPClassifier")
MLP_FITTED = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_", "n_features_in_")


def save(path, model):
    """Save a params dict, a fitted NetClassifier or a fitted MLPClassifier to `path` (.npz).

    The file is written next to its destination and renamed into place, so an existing
    file at `path` is never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
    model : dict, NetClassifier or MLPClassifier
        A params dict (W1, b1, ..., WL, bL) or a fitted estimator.

    Raises
    ------
    TypeError
        model is none of these; ValueError: an unfitted estimator or invalid params.
    """
    from . import __version__

    kind, params, arrays, extra = _describe(model)
    weights, _ = check_params(params)
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
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".fastnn-", suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
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
        An MLPClassifier file without scikit-learn installed.
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
    del entries["metadata"]
    _check_entries(path, entries, metadata["arrays"])
    n_layers = metadata["n_layers"]
    params = {key: entries.pop(key) for key in param_keys(n_layers)}
    for key, array in params.items():
        if array.dtype != np.dtype(metadata["dtype"]):
            raise ValueError(f"{path}: {key} is {array.dtype}, but the metadata says {metadata['dtype']}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{path}: {key} contains NaN or inf")
    try:
        check_params(params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: the parameters are inconsistent ({error})") from None
    if metadata["kind"] == "params":
        return params
    if metadata["kind"] == "NetClassifier":
        model = NetClassifier()
        model.params = params
        model.hist = {key: entries[f"hist_{key}"].astype(np.float64) for key in HISTORY_KEYS}
        model.stop_reason = metadata.get("stop_reason")
        return model
    try:
        return _restore_mlp(params, entries, metadata)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: the MLPClassifier's state is invalid ({type(error).__name__}: {error})") from None


# ---------------------------------------------------------------- what each kind saves


def _describe(model):
    """(kind, params, other arrays, other metadata) of a model to save."""
    if isinstance(model, dict):
        return "params", model, {}, {}
    if isinstance(model, NetClassifier):
        if model.params is None:
            raise ValueError("this NetClassifier is not fitted: there is nothing to save")
        hist = {f"hist_{key}": np.asarray(model.hist[key], dtype=np.float64) for key in HISTORY_KEYS}
        return "NetClassifier", model.params, hist, {"stop_reason": model.stop_reason}
    if type(model).__name__ == "MLPClassifier" and type(model).__module__ == "fastnn.mlp":
        return _describe_mlp(model)
    raise TypeError(f"save takes a params dict, a NetClassifier or an MLPClassifier, got {type(model).__name__}")


def _describe_mlp(model):
    if not hasattr(model, "coefs_"):
        raise ValueError("this MLPClassifier is not fitted: there is nothing to save")
    params = model._params()
    arrays = {"classes": _label_array(model.classes_)}
    curves = {"loss_curve": model.loss_curve_, "validation_scores": model.validation_scores_ or [],
              "val_losses": model._val_losses}
    arrays.update({name: np.asarray(values, dtype=np.float64) for name, values in curves.items()})
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names_in"] = _label_array(model.feature_names_in_)
    state, step = model._optimizer_state or (None, 0)
    if state is not None:
        for prefix, per_layer in zip(("opt_vW", "opt_sW", "opt_vb", "opt_sb"), state):
            arrays.update({f"{prefix}{layer}": array for layer, array in enumerate(per_layer, 1)})
    hyperparameters = model.get_params()
    hyperparameters["hidden_layer_sizes"] = list(np.atleast_1d(model.hidden_layer_sizes).tolist())
    if not (hyperparameters["random_state"] is None or isinstance(hyperparameters["random_state"], int)):
        warnings.warn("random_state is not an int or None, so it is not saved: the loaded model has "
                      "random_state=None (its coefficients and training state are saved in full)",
                      UserWarning, stacklevel=3)
        hyperparameters["random_state"] = None
    fitted = {name: _json_number(getattr(model, name)) for name in MLP_FITTED}
    fitted.update(has_validation_scores=model.validation_scores_ is not None, learning_rate=model._lr,
                  no_improvement_count=model._no_improvement_count, optimizer_step=int(step),
                  has_optimizer_state=state is not None, rng_state=model._rng.bit_generator.state)
    return "MLPClassifier", params, arrays, {"hyperparameters": hyperparameters, "fitted": fitted}


def _restore_mlp(params, entries, metadata):
    from .mlp import MLPClassifier

    hyperparameters = dict(metadata["hyperparameters"])
    hyperparameters["hidden_layer_sizes"] = tuple(hyperparameters["hidden_layer_sizes"])
    model = MLPClassifier(**hyperparameters)
    model._validate_hyperparameters()
    fitted = metadata["fitted"]
    weights, biases = check_params(params)
    classes = entries["classes"]
    if classes.ndim != 1 or len(classes) != weights[-1].shape[1] or not np.array_equal(np.unique(classes), classes):
        raise ValueError(f"classes must be {weights[-1].shape[1]} sorted, distinct labels, got {classes.shape}")
    if fitted["n_features_in_"] != weights[0].shape[0]:
        raise ValueError(f"n_features_in_ is {fitted['n_features_in_']} but W1 has {weights[0].shape[0]} rows")
    model.classes_ = classes
    model._store(params)
    model.n_layers_, model.n_outputs_, model.out_activation_ = len(weights) + 1, len(classes), "softmax"
    for name in MLP_FITTED:
        setattr(model, name, fitted[name])
    model.n_iter_, model.t_, model.n_features_in_ = int(model.n_iter_), int(model.t_), int(model.n_features_in_)
    if "feature_names_in" in entries:
        if entries["feature_names_in"].shape != (model.n_features_in_,):
            raise ValueError("feature_names_in does not name every feature")
        model.feature_names_in_ = entries["feature_names_in"].astype(object)
    model.loss_curve_ = entries["loss_curve"].tolist()
    model.validation_scores_ = entries["validation_scores"].tolist() if fitted["has_validation_scores"] else None
    model._val_losses = entries["val_losses"].tolist()
    model._lr = float(fitted["learning_rate"])
    model._no_improvement_count = int(fitted["no_improvement_count"])
    model._rng = np.random.default_rng()
    model._rng.bit_generator.state = fitted["rng_state"]
    model._optimizer_state = None
    if fitted["has_optimizer_state"]:
        model._optimizer_state = (_optimizer_state(model, weights, biases, entries), int(fitted["optimizer_step"]))
    return model


def _optimizer_state(model, weights, biases, entries):
    """The saved optimizer state, checked entry by entry against the shapes the solver keeps.

    The compiled update trusts these shapes, so a file must not be able to choose them.
    """
    expected = model._optimizer().init_state(weights, biases)
    state = []
    for prefix, per_layer in zip(("opt_vW", "opt_sW", "opt_vb", "opt_sb"), expected):
        arrays = []
        for layer, want in enumerate(per_layer, 1):
            array = np.ascontiguousarray(entries[f"{prefix}{layer}"])
            if array.shape != want.shape or array.dtype != want.dtype:
                raise ValueError(f"{prefix}{layer} is {array.dtype} {array.shape}, the solver keeps "
                                 f"{want.dtype} {want.shape}")
            arrays.append(array)
        state.append(tuple(arrays))
    return tuple(state)


def _label_array(labels):
    """Labels as an array numpy can store without pickle: numbers, booleans or unicode."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "O":
        if not all(isinstance(label, str) for label in labels):
            raise TypeError("only numeric or string labels can be saved (without pickle); got mixed objects")
        labels = labels.astype(str)
    if labels.dtype.kind not in "biufU":
        raise TypeError(f"labels of dtype {labels.dtype} cannot be saved without pickle")
    return labels


def _json_default(value):
    """numpy scalars (an np.int64 max_iter, say) as the Python numbers JSON holds."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be saved as JSON metadata")


def _json_number(value):
    """A fitted scalar as JSON can hold it (None stays None; numpy numbers become Python's)."""
    return None if value is None else value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- checks on read


def _check_entries(path, entries, described):
    """Every entry is described by the metadata, and has the dtype and shape it says."""
    if sorted(entries) != sorted(described):
        raise ValueError(f"{path}: expected the entries {sorted(described)}, found {sorted(entries)}")
    for name, array in entries.items():
        want = described[name]
        if array.dtype.kind not in "biufU" or array.dtype != np.dtype(want["dtype"]) or list(array.shape) != want["shape"]:
            raise ValueError(f"{path}: {name} is {array.dtype} {array.shape}, but the metadata says "
                             f"{want['dtype']} {tuple(want['shape'])}")


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
    if metadata.get("format_version") not in READABLE_VERSIONS:
        raise ValueError(f"{path} has format version {metadata.get('format_version')!r}; this fastnn "
                         f"reads versions {READABLE_VERSIONS} (a newer fastnn may read it)")
    if metadata.get("kind") not in KINDS or metadata["format_version"] == 1 and metadata["kind"] == "MLPClassifier":
        raise ValueError(f"{path}: unknown kind {metadata.get('kind')!r}; expected one of {KINDS}")
    try:
        if np.dtype(metadata["dtype"]) not in (np.float32, np.float64):
            raise TypeError
        if metadata["format_version"] == 1:
            metadata = _upgrade_v1(metadata, entries)
        described = metadata["arrays"]
        n_layers = metadata["n_layers"]
        if not (isinstance(described, dict) and isinstance(n_layers, int) and n_layers >= 2
                and all(key in described for key in param_keys(n_layers))):
            raise KeyError
        for want in described.values():
            np.dtype(want["dtype"])
            if not (isinstance(want["shape"], list) and all(isinstance(size, int) for size in want["shape"])):
                raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: the metadata's dtype, layers or array descriptions are missing or invalid") from None
    return metadata


def _upgrade_v1(metadata, entries):
    """Version 1 (two layers; "shapes" of W1..b2 only) described as version 2."""
    shapes = metadata["shapes"]
    if sorted(shapes) != sorted(param_keys(2)):
        raise KeyError
    described = {key: {"dtype": np.dtype(metadata["dtype"]).str, "shape": shape} for key, shape in shapes.items()}
    if metadata["kind"] == "NetClassifier":
        for key in HISTORY_KEYS:
            history = entries.get(f"hist_{key}")
            shape = list(history.shape) if history is not None and history.ndim == 1 else [-1]
            described[f"hist_{key}"] = {"dtype": np.dtype(np.float64).str, "shape": shape}
    return {**metadata, "n_layers": 2, "arrays": described}
