"""fastnn.save and fastnn.load: bit-exact round trips, and clear errors for bad files."""

import json
import zipfile

import numpy as np
import pytest

import fastnn
from helpers import make_problem


@pytest.fixture(scope="module")
def fitted():
    X, y, params = make_problem(60, 5, 7, 3, np.float32, seed=0, bias_shape="2d")
    clf = fastnn.NetClassifier()
    clf.fit(X[:40], y[:40], X[40:], y[40:], params, epochs=3, seed=0)
    return clf, X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias_shape", ["1d", "2d"])
def test_params_round_trip_is_bit_exact(tmp_path, dtype, bias_shape):
    _, _, params = make_problem(3, 4, 5, 2, dtype, seed=1, bias_shape=bias_shape)
    fastnn.save(tmp_path / "p.npz", params)
    loaded = fastnn.load(tmp_path / "p.npz")
    assert sorted(loaded) == sorted(params)
    for key in params:
        assert loaded[key].dtype == params[key].dtype and loaded[key].shape == params[key].shape
        assert loaded[key].tobytes() == params[key].tobytes()


def test_net_classifier_round_trip(tmp_path, fitted):
    clf, X = fitted
    fastnn.save(tmp_path / "model.npz", clf)
    loaded = fastnn.load(tmp_path / "model.npz")
    assert isinstance(loaded, fastnn.NetClassifier)
    for key in clf.params:
        assert loaded.params[key].tobytes() == clf.params[key].tobytes()
    for key in clf.hist:
        np.testing.assert_array_equal(loaded.hist[key], clf.hist[key])
    assert loaded.stop_reason == clf.stop_reason
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_save_replaces_an_existing_file_and_keeps_the_name(tmp_path, fitted):
    clf, _ = fitted
    path = tmp_path / "model"  # no .npz suffix: the name is kept as given
    path.write_bytes(b"old")
    fastnn.save(path, clf)
    assert isinstance(fastnn.load(path), fastnn.NetClassifier)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_save_refuses_what_it_cannot_save(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        fastnn.save(tmp_path / "m.npz", fastnn.NetClassifier())
    with pytest.raises(TypeError, match="params dict, a NetClassifier, an MLPClassifier or an MLPRegressor"):
        fastnn.save(tmp_path / "m.npz", [1, 2])
    with pytest.raises(ValueError, match="missing"):
        fastnn.save(tmp_path / "m.npz", {"W1": np.ones((2, 2))})
    assert list(tmp_path.iterdir()) == []


def _rewrite(path, target, change):
    """Copy the npz at path to target with its entries passed through change(entries)."""
    with np.load(path, allow_pickle=False) as data:
        entries = {name: data[name] for name in data.files}
    change(entries)
    with open(target, "wb") as file:
        np.savez(file, **entries)


def _metadata(entries, **updates):
    metadata = json.loads(entries["metadata"].tobytes())
    metadata.update(updates)
    entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)


@pytest.mark.parametrize("change, message", [
    (lambda e: _metadata(e, format_version=99), "format version 99"),
    (lambda e: _metadata(e, format="other"), "not a fastnn model file"),
    (lambda e: _metadata(e, kind="Pipeline"), "unknown kind"),
    (lambda e: _metadata(e, dtype="float16"), "dtype, layers or array descriptions"),
    (lambda e: _metadata(e, n_layers=3), "dtype, layers or array descriptions"),
    (lambda e: e.update(W1=e["W1"][:-1]), "W1 is float32"),
    (lambda e: e.update(W2=e["W2"].astype(np.float64)), "W2 is float64"),
    (lambda e: e.update(b1=np.full_like(e["b1"], np.nan)), "b1 contains NaN"),
    (lambda e: e.pop("hist_val_loss"), r"disagree with the metadata \(missing \['hist_val_loss'\]"),
    (lambda e: e.update(extra=np.zeros(2)), r"disagree with the metadata .*unexpected \['extra'\]"),
    (lambda e: e.pop("metadata"), "no metadata"),
    (lambda e: e.update(metadata=np.frombuffer(b"{not json", np.uint8)), "not valid JSON"),
])
def test_tampered_files_give_clear_errors(tmp_path, fitted, change, message):
    clf, _ = fitted
    fastnn.save(tmp_path / "good.npz", clf)
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=message):
        fastnn.load(tmp_path / "bad.npz")


def test_object_arrays_are_refused_without_running_code(tmp_path, fitted):
    clf, _ = fitted
    fastnn.save(tmp_path / "good.npz", clf)
    with np.load(tmp_path / "good.npz") as data:
        entries = {name: data[name] for name in data.files}
    entries["W1"] = np.array([print], dtype=object)  # would need pickle to load
    with open(tmp_path / "evil.npz", "wb") as file:
        np.savez(file, **entries)
    with pytest.raises(ValueError, match="not a readable fastnn model file.*dtype object"):
        fastnn.load(tmp_path / "evil.npz")


@pytest.mark.parametrize("spoil", [lambda data: data[: len(data) // 2], lambda data: b"hello"],
                         ids=["truncated", "text"])
def test_truncated_and_foreign_files(tmp_path, fitted, spoil):
    clf, _ = fitted
    fastnn.save(tmp_path / "good.npz", clf)
    assert zipfile.is_zipfile(tmp_path / "good.npz")
    (tmp_path / "bad.npz").write_bytes(spoil((tmp_path / "good.npz").read_bytes()))
    with pytest.raises(ValueError, match="not a readable fastnn model file"):
        fastnn.load(tmp_path / "bad.npz")


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.npz")


def test_a_deeper_params_dict_round_trips(tmp_path):
    _, _, params = make_problem(3, 4, (5, 6, 2), 3, np.float32, seed=1)
    fastnn.save(tmp_path / "p.npz", params)
    loaded = fastnn.load(tmp_path / "p.npz")
    assert list(loaded) == list(params)
    assert all(loaded[key].tobytes() == params[key].tobytes() for key in params)


def test_version_1_files_still_load(tmp_path, fitted):
    clf, X = fitted
    fastnn.save(tmp_path / "v2.npz", clf)

    def as_version_1(entries):
        metadata = json.loads(entries["metadata"].tobytes())
        v1 = {"format": "fastnn", "format_version": 1, "kind": "NetClassifier", "fastnn_version": "0.1.0",
              "dtype": "float32", "shapes": {key: metadata["arrays"][key]["shape"] for key in ("W1", "b1", "W2", "b2")},
              "stop_reason": metadata["stop_reason"]}
        entries["metadata"] = np.frombuffer(json.dumps(v1).encode(), np.uint8)

    _rewrite(tmp_path / "v2.npz", tmp_path / "v1.npz", as_version_1)
    loaded = fastnn.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.hist["val_loss"], clf.hist["val_loss"])


@pytest.fixture(scope="module")
def mlp_data():
    pytest.importorskip("sklearn")
    X, y, _ = make_problem(120, 5, 7, 3, np.float32, seed=3)
    return X, np.array(["ant", "bee", "cow"])[y]


@pytest.fixture(scope="module")
def fitted_mlp(mlp_data):
    X, y = mlp_data
    return fastnn.MLPClassifier(hidden_layer_sizes=(4,), tol=1e-2, random_state=0).fit(X, y)


@pytest.mark.parametrize("kind, settings", [
    ("MLPClassifier", dict(solver="adam")), ("MLPClassifier", dict(solver="sgd", momentum=0.0)),
    ("MLPClassifier", dict(solver="sgd", early_stopping=True, learning_rate="invscaling", warm_start=True)),
    ("MLPClassifier", dict(solver="lbfgs", warm_start=True, activation="tanh")),
    ("MLPRegressor", dict(solver="adam", loss="poisson")), ("MLPRegressor", dict(solver="lbfgs", warm_start=True)),
])
def test_mlp_round_trip_and_continued_training_are_bit_exact(tmp_path, mlp_data, kind, settings):
    import warnings

    X, y = mlp_data
    if kind == "MLPRegressor":  # counts, for the Poisson loss
        y = np.unique(y, return_inverse=True)[1].astype(np.float32)
    model = getattr(fastnn, kind)(hidden_layer_sizes=(6, 4), random_state=0, max_iter=5, **settings)

    def train_on(model):  # partial_fit continues the optimizer; the others continue by warm start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y) if model.warm_start else model.partial_fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    train_on(model)
    fastnn.save(tmp_path / "mlp.npz", model)
    loaded = fastnn.load(tmp_path / "mlp.npz")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    for name in ("classes_", "n_iter_", "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
                 "best_validation_score_", "history_", "n_features_in_", "n_layers_", "n_outputs_", "out_activation_"):
        assert hasattr(loaded, name) == hasattr(model, name), name
        if hasattr(model, name):
            np.testing.assert_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, model.coefs_ + model.intercepts_, strict=True):
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    train_on(model)
    train_on(loaded)  # continues with the same optimizer state, learning rate and stopping count
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, model.coefs_ + model.intercepts_, strict=True):
        assert a.tobytes() == b.tobytes()


def test_mlp_classifier_feature_names_survive(tmp_path, mlp_data):
    pandas = pytest.importorskip("pandas")
    X, y = mlp_data
    frame = pandas.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(4,), tol=1e-2, random_state=0).fit(frame, y)
    fastnn.save(tmp_path / "mlp.npz", clf)
    loaded = fastnn.load(tmp_path / "mlp.npz")
    assert list(loaded.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(frame))


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(opt_vW1=np.zeros((50, 50), np.float32)), "opt_vW1 is float32"),
    (lambda e: e.update(classes=e["classes"][:2]), "classes is <U3"),
    (lambda e: (e.update(classes=e["classes"][::-1].copy())), "sorted, distinct labels"),
])
def test_a_tampered_mlp_classifier_state_is_refused(tmp_path, fitted_mlp, change, message):
    fastnn.save(tmp_path / "good.npz", fitted_mlp)
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=message):
        fastnn.load(tmp_path / "bad.npz")


def test_a_tampered_optimizer_state_in_metadata_and_entry_is_refused(tmp_path, fitted_mlp):
    fastnn.save(tmp_path / "good.npz", fitted_mlp)

    def bigger_state(entries):  # consistent with the metadata, but not with the network
        entries["opt_vW1"] = np.zeros((50, 50), np.float32)
        metadata = json.loads(entries["metadata"].tobytes())
        metadata["arrays"]["opt_vW1"]["shape"] = [50, 50]
        entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)

    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", bigger_state)
    with pytest.raises(ValueError, match="the solver keeps float32"):
        fastnn.load(tmp_path / "bad.npz")


def test_an_unfitted_mlp_classifier_is_not_saved(tmp_path, mlp_data):
    with pytest.raises(ValueError, match="MLPClassifier is not fitted"):
        fastnn.save(tmp_path / "m.npz", fastnn.MLPClassifier())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change", ["set_params", "from_sklearn"])
def test_a_model_whose_hidden_layer_sizes_changed_after_fitting_saves_and_loads(tmp_path, mlp_data, change):
    """hidden_layer_sizes set after fitting describes the next fit; the coefficients describe this model.
    Saved and loaded, both come back, as pickle keeps them."""
    from fastnn import MLPClassifier

    X, y = mlp_data[:2]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    if change == "set_params":
        clf.set_params(hidden_layer_sizes=(4,))
    else:
        exported = clf.to_sklearn().set_params(hidden_layer_sizes=(4,))
        clf = MLPClassifier.from_sklearn(exported)
    fastnn.save(tmp_path / "model.npz", clf)
    loaded = fastnn.load(tmp_path / "model.npz")
    assert loaded.get_params()["hidden_layer_sizes"] == (4,)
    assert [W.shape[1] for W in loaded.coefs_[:-1]] == [8]
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_subclass_saves_as_its_base_and_another_class_is_refused(tmp_path):
    class Mine(fastnn.NetClassifier):
        pass

    model = Mine()
    model.params = fastnn.get_init_params(3, 4, 2, seed=0)
    model.hist = {key: np.zeros(0) for key in ("train_loss", "train_acc", "val_loss", "val_acc")}
    fastnn.save(tmp_path / "mine.npz", model)
    assert type(fastnn.load(tmp_path / "mine.npz")) is fastnn.NetClassifier
    NetClassifier = type("NetClassifier", (), {})  # the name alone is not the registered class
    with pytest.raises(TypeError, match="save takes a params dict"):
        fastnn.save(tmp_path / "other.npz", NetClassifier())
