"""The fitted state of fastnn's MLPs: its one list of attributes, the model file's contents
(`fastnn.io` writes and reads the container), and the exchange with scikit-learn's own
estimators.
"""

import copy
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from .io import curve_entry, json_number, label_array
from .params import to_layers

# Every fitted attribute scikit-learn's MLPs have, and how a model file keeps it:
# "layers" the coefficients, "scalar" a number of the JSON metadata (restored by name),
# "curve" a float64 array, "labels" a label array, "metadata" another JSON entry,
# "derived" rebuilt from the rest on load.
FITTED = {
    "coefs_": "layers", "intercepts_": "layers",
    "n_iter_": "scalar", "t_": "scalar", "loss_": "scalar", "best_loss_": "scalar",
    "best_validation_score_": "scalar", "n_features_in_": "scalar",
    "loss_curve_": "curve", "validation_scores_": "curve",
    "classes_": "labels", "feature_names_in_": "labels",
    "out_activation_": "metadata", "_no_improvement_count": "metadata",
    "n_layers_": "derived", "n_outputs_": "derived", "_label_binarizer": "derived",
}
FITTED_SCALARS = tuple(name for name, kind in FITTED.items() if kind == "scalar")


def to_sklearn(model):
    """The fitted scikit-learn estimator with the model's parameters and fitted state (`MLPClassifier.to_sklearn`)."""
    check_is_fitted(model)
    import sklearn.neural_network

    estimator = getattr(sklearn.neural_network, type(model).__name__)(**model.get_params())
    if is_classifier(model):
        model._binarizer()  # a model loaded from a file builds its LabelBinarizer here
    for name, value in fitted_state(model).items():
        setattr(estimator, name, value)
    return estimator


def from_sklearn(cls, estimator):
    """`MLPClassifier.from_sklearn` and `MLPRegressor.from_sklearn`: a model of class cls (TypeError for another
    kind of estimator, NotFittedError for an unfitted one)."""
    import sklearn.neural_network

    expected = getattr(sklearn.neural_network, cls.__name__)
    if not isinstance(estimator, expected):
        raise TypeError(f"{cls.__name__}.from_sklearn takes a sklearn.neural_network.{cls.__name__}, got "
                        f"{type(estimator).__name__}")
    check_is_fitted(estimator)
    model = cls(**estimator.get_params())
    for name, value in fitted_state(estimator).items():
        setattr(model, name, value)
    model._layers()
    return model


def fitted_state(model):
    """Copies of the fitted attributes scikit-learn's estimators have (of model, fastnn's or scikit-learn's
    estimator): the two models share nothing."""
    return {name: copy.deepcopy(getattr(model, name)) for name in FITTED if hasattr(model, name)}


def file_contents(model):
    """(params, arrays, metadata) for `fastnn.io.save`: coefficients, labels, curves, optimizer
    state; hyper-parameters and fitted scalars as JSON."""
    if not hasattr(model, "coefs_"):
        raise ValueError(f"this {type(model).__name__} is not fitted: there is nothing to save")
    arrays = {}
    if is_classifier(model):
        arrays["classes"] = label_array(model.classes_)
    curves = {"loss_curve": getattr(model, "loss_curve_", []), "validation_scores": validation_scores(model),
              "val_losses": getattr(model, "_val_losses", [])}
    arrays.update({name: np.asarray(values, dtype=np.float64) for name, values in curves.items()})
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names_in"] = label_array(model.feature_names_in_)
    weights, biases = model._layers()
    # Only a state the solver can continue from is saved: one left by another solver
    # or other shapes would be refused by load (partial_fit starts afresh instead).
    model._optimizer_state = getattr(model, "_optimizer_state", None)
    state, step = model._optimizer_state_for(model._optimizer(), weights, biases)
    if state is not None:
        for prefix, per_layer in zip(("opt_vW", "opt_sW", "opt_vb", "opt_sb"), state):
            arrays.update({f"{prefix}{layer}": array for layer, array in enumerate(per_layer, 1)})
    hyperparameters = model.get_params()
    hyperparameters["hidden_layer_sizes"] = model._hidden_sizes()
    if not (hyperparameters["random_state"] is None or isinstance(hyperparameters["random_state"], int)):
        warnings.warn("random_state is not an int or None, so it is not saved: the loaded model has "
                      "random_state=None (its coefficients and training state are saved in full)",
                      UserWarning, stacklevel=5)
        hyperparameters["random_state"] = None
    if hyperparameters["n_iter_no_change"] == np.inf:
        hyperparameters["n_iter_no_change"] = "inf"
    fitted = {name: json_number(getattr(model, name, None)) for name in FITTED_SCALARS}
    fitted.update(has_validation_scores=getattr(model, "validation_scores_", None) is not None,
                  has_loss_curve=hasattr(model, "loss_curve_"), learning_rate=getattr(model, "_lr", None),
                  no_improvement_count=int(getattr(model, "_no_improvement_count", 0)), optimizer_step=int(step),
                  has_optimizer_state=state is not None, out_activation=model.out_activation_)
    return model._params(), arrays, {"hyperparameters": hyperparameters, "fitted": fitted}


def validation_scores(model):
    """validation_scores_, or [] where there are none (no early stopping, lbfgs)."""
    return getattr(model, "validation_scores_", None) or []


def from_file_contents(cls, params, arrays, metadata):
    """A model of class cls from what `file_contents` gave; every array checked against the network."""
    hyperparameters = dict(metadata["hyperparameters"])
    hyperparameters["hidden_layer_sizes"] = tuple(hyperparameters["hidden_layer_sizes"])
    if hyperparameters.get("n_iter_no_change") == "inf":
        hyperparameters["n_iter_no_change"] = np.inf
    model = cls(**hyperparameters)
    model._validate_params()
    fitted = metadata["fitted"]
    weights, biases = to_layers(params)
    n_outputs = weights[-1].shape[1]
    out_activation = fitted.get("out_activation", "softmax")  # files that do not record it had softmax outputs
    if out_activation not in model._OUTPUT_ACTIVATIONS:
        raise ValueError(f"out_activation {out_activation!r} does not fit a {cls.__name__} with {n_outputs} "
                         "outputs")
    if is_classifier(model):
        model._restore_classes(arrays["classes"], out_activation, n_outputs)
    if fitted["n_features_in_"] != weights[0].shape[0]:
        raise ValueError(f"n_features_in_ is {fitted['n_features_in_']} but W1 has {weights[0].shape[0]} rows")
    for name in ("loss_", "best_loss_", "best_validation_score_"):
        if not (fitted[name] is None or isinstance(fitted[name], (int, float))):
            raise TypeError(f"{name} must be a number or null")
    if not (isinstance(fitted["optimizer_step"], int) and fitted["optimizer_step"] >= 0):
        raise ValueError(f"optimizer_step must be an integer >= 0, got {fitted['optimizer_step']!r}")
    model._store(params)
    model.n_layers_, model.n_outputs_, model.out_activation_ = len(weights) + 1, n_outputs, out_activation
    for name in FITTED_SCALARS:
        setattr(model, name, fitted[name])
    model.n_iter_, model.t_, model.n_features_in_ = int(model.n_iter_), int(model.t_), int(model.n_features_in_)
    if "feature_names_in" in arrays:
        if arrays["feature_names_in"].shape != (model.n_features_in_,):
            raise ValueError("feature_names_in does not name every feature")
        model.feature_names_in_ = arrays["feature_names_in"].astype(object)
    if fitted.get("has_loss_curve", True):
        model.loss_curve_ = curve_entry(arrays, "loss_curve").tolist()
        model.validation_scores_ = (curve_entry(arrays, "validation_scores").tolist()
                                    if fitted["has_validation_scores"] else None)
        model._val_losses = curve_entry(arrays, "val_losses").tolist()
        model._no_improvement_count = int(fitted["no_improvement_count"])
    else:
        for name in ("best_loss_", "best_validation_score_"):
            delattr(model, name)
    if fitted["learning_rate"] is not None:
        if not (isinstance(fitted["learning_rate"], (int, float)) and fitted["learning_rate"] > 0):
            raise ValueError(f"learning_rate must be a number > 0, got {fitted['learning_rate']!r}")
        model._lr = float(fitted["learning_rate"])
    model._optimizer_state = None
    if fitted["has_optimizer_state"]:
        model._optimizer_state = (_saved_optimizer_state(model, weights, biases, arrays),
                                  int(fitted["optimizer_step"]))
    return model


def _saved_optimizer_state(model, weights, biases, arrays):
    """The saved optimizer state, checked entry by entry against the shapes the solver keeps.

    The compiled update trusts these shapes, so a file must not be able to choose them.
    """
    names = ("opt_vW", "opt_sW", "opt_vb", "opt_sb")
    state = tuple(tuple(np.ascontiguousarray(arrays[f"{name}{layer}"]) for layer in range(1, len(weights) + 1))
                  for name in names)
    mismatch = model._optimizer().state_mismatch(state, weights, biases, names)
    if mismatch is not None:
        raise ValueError(mismatch)
    return state
