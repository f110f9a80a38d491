"""Model files from anywhere: every bad file is one ValueError, in bounded time and memory."""

import io
import json
import os
import resource
import stat
import time
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn.datasets import load_digits


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    X, y = load_digits()
    clf = fastnn.NetClassifier()
    params = fastnn.get_init_params(64, 12, 10, seed=0)
    clf.fit(X[:300], y[:300], X[300:400], y[300:400], params, epochs=2, seed=0)
    path = tmp_path_factory.mktemp("models") / "good.npz"
    fastnn.save(path, clf)
    return path, clf


def _entries(path):
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _write(path, entries, compressed=False):
    with open(path, "wb") as file:
        (np.savez_compressed if compressed else np.savez)(file, **entries)


def _with_metadata(entries, **changes):
    metadata = json.loads(entries["metadata"].tobytes())
    metadata.update(changes)
    return {**entries, "metadata": np.frombuffer(json.dumps(metadata).encode(), np.uint8)}


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _refused_quickly(path, match):
    started, peak = time.perf_counter(), _peak_rss_mb()
    with pytest.raises(ValueError, match=match) as error:
        fastnn.load(path)
    assert time.perf_counter() - started < 5  # bounded, not a benchmark: seconds where it took minutes
    assert _peak_rss_mb() - peak < 200
    assert len(str(error.value)) < 600
    return error.value


def test_a_huge_layer_count_is_refused_before_any_key_is_built(tmp_path, good_file):
    entries = _with_metadata(_entries(good_file[0]), n_layers=10_000_000)
    _write(tmp_path / "layers.npz", entries)
    _refused_quickly(tmp_path / "layers.npz", "layers or array descriptions")


def test_a_deflate_bomb_is_refused_before_it_is_inflated(tmp_path, good_file):
    entries = _entries(good_file[0])
    entries["hist_train_loss"] = np.zeros(30_000_000)  # 240 MB of zeros, 230 KB deflated
    _write(tmp_path / "bomb.npz", entries, compressed=True)
    assert os.path.getsize(tmp_path / "bomb.npz") < 1_000_000
    _refused_quickly(tmp_path / "bomb.npz", "inflates")


def test_a_declared_shape_larger_than_the_entry_is_refused(tmp_path, good_file):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    header = buffer.getvalue().replace(b"(3,)", b"(1000000000000,)".ljust(4))
    with zipfile.ZipFile(tmp_path / "shape.npz", "w") as archive:
        archive.writestr("W1.npy", header)
    _refused_quickly(tmp_path / "shape.npz", "declares shape|not a readable")


def test_deeply_nested_metadata_is_refused(tmp_path, good_file):
    entries = _entries(good_file[0])
    entries["metadata"] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)
    _write(tmp_path / "nested.npz", entries)
    _refused_quickly(tmp_path / "nested.npz", "not valid JSON")


@pytest.mark.parametrize("content", [b"W1,b1\n1,2\n", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", b""],
                         ids=["text", "npy", "empty"])
def test_files_that_are_not_npz_are_refused_without_pickle_hints(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)
    error = _refused_quickly(tmp_path / "model.npz", "not a readable fastnn model file")
    assert "pickle" not in str(error)


def test_a_version_1_file_with_shapes_as_a_list_is_refused(tmp_path, good_file):
    entries = _with_metadata(_entries(good_file[0]), format_version=1, shapes=[[64, 12]])
    _write(tmp_path / "v1.npz", entries)
    _refused_quickly(tmp_path / "v1.npz", "missing or invalid")


def test_fuzzed_files_load_the_same_model_or_raise_value_error(tmp_path, good_file):
    path, clf = good_file
    original = path.read_bytes()
    rng = np.random.default_rng(0)
    loaded = 0
    for trial in range(300):
        data = bytearray(original)
        for _ in range(rng.integers(1, 4)):
            kind, at = rng.integers(3), int(rng.integers(len(data)))
            if kind == 0:
                data[at] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                del data[at:at + int(rng.integers(1, 64))]
            else:
                data[at:at] = rng.bytes(int(rng.integers(1, 16)))
        target = tmp_path / f"fuzz{trial}.npz"
        target.write_bytes(bytes(data))
        try:
            model = fastnn.load(target)
        except ValueError:
            continue
        loaded += 1  # a mutation of bytes nobody reads (zip comments, padding): the very same model
        assert isinstance(model, fastnn.NetClassifier)
        for key in clf.params:
            np.testing.assert_array_equal(model.params[key], clf.params[key])
    assert loaded < 300


def test_parameters_holding_nan_are_refused_at_save(tmp_path):
    params = fastnn.get_init_params(4, 3, 2, seed=0)
    params["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"params\['W2'\] contains NaN"):
        fastnn.save(tmp_path / "nan.npz", params)
    assert not os.listdir(tmp_path)


def test_saved_files_follow_the_umask_and_keep_an_existing_mode(tmp_path):
    params = fastnn.get_init_params(4, 3, 2, seed=0)
    old = os.umask(0o022)
    try:
        fastnn.save(tmp_path / "new.npz", params)
        assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o644
        (tmp_path / "shared.npz").write_bytes(b"")
        os.chmod(tmp_path / "shared.npz", 0o664)
        fastnn.save(tmp_path / "shared.npz", params)
        assert stat.S_IMODE(os.stat(tmp_path / "shared.npz").st_mode) == 0o664
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["new.npz", "shared.npz"]


def _with_entry(entries, name, array):
    """The entries with `name` replaced by array, described so in the metadata."""
    metadata = json.loads(entries["metadata"].tobytes())
    metadata["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape)}
    return {**entries, name: array, "metadata": np.frombuffer(json.dumps(metadata).encode(), np.uint8)}


@pytest.mark.parametrize("entry", [
    np.ndarray((10**8,), "<U0"),  # zero bytes per entry: a count no byte bound catches
    np.arange(3, dtype=np.int64),  # a curve of integers
    np.array(["0.5", "0.4"]),  # a curve of strings
], ids=["zero-width", "int64", "strings"])
def test_entries_of_no_width_or_the_wrong_kind_are_refused(tmp_path, good_file, entry):
    entries = _with_entry(_entries(good_file[0]), "hist_train_loss", entry)
    path = tmp_path / "bad.npz"
    _write(path, entries)
    _refused_quickly(path, "not a plain array|must hold floats")


def test_a_curve_of_two_dimensions_is_refused(tmp_path, good_file):
    entries = _with_entry(_entries(good_file[0]), "hist_train_loss", np.zeros((2, 2)))
    path = tmp_path / "bad.npz"
    _write(path, entries)
    _refused_quickly(path, "must be 1-D")


def test_a_network_deeper_than_fastnn_compiles_for_is_refused_before_compiling(tmp_path):
    from fastnn.params import MAX_LAYERS

    rng = np.random.default_rng(0)
    params = {}
    for layer in range(1, MAX_LAYERS + 2):
        params[f"W{layer}"], params[f"b{layer}"] = rng.standard_normal((2, 2)), np.zeros(2)
    path = tmp_path / "deep.npz"
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        fastnn.save(path, params)
    assert not path.exists()
    # A file written by hand with that many layers: refused by load, not compiled by predict.
    shallow = {key: value for key, value in params.items() if int(key[1:]) <= 2}
    fastnn.save(path, shallow)
    entries = _entries(path)
    metadata = json.loads(entries["metadata"].tobytes())
    for key, value in params.items():
        entries[key] = value
        metadata["arrays"][key] = {"dtype": value.dtype.str, "shape": list(value.shape)}
    metadata["n_layers"] = MAX_LAYERS + 1
    entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    _write(path, entries)
    _refused_quickly(path, f"at most {MAX_LAYERS} layers")


def test_entries_replaced_by_arrays_of_any_kind_load_or_raise_value_error(tmp_path, good_file):
    """A structured fuzz: any entry swapped for an array of another kind, width or shape (described so in
    the metadata, as a forger would): the file loads as a valid model or is one ValueError, quickly."""
    path = good_file[0]
    original = _entries(path)
    names = [name for name in original if name != "metadata"]
    kinds = ["<U0", "<U3", "|S0", "<i8", "|b1", "<f4", "<f8", "<c16"]
    shapes = [(), (0,), (3,), (10**7,), (4, 0), (2, 3)]
    rng = np.random.default_rng(1)
    for trial in range(120):
        name = names[rng.integers(len(names))]
        dtype, shape = np.dtype(kinds[rng.integers(len(kinds))]), shapes[rng.integers(len(shapes))]
        if dtype.itemsize and np.prod(shape) * dtype.itemsize > 10**6:
            shape = (3,)  # a real array of that size would be a large file, not a forgery
        array = np.zeros(shape, dtype)
        target = tmp_path / f"kind{trial}.npz"
        _write(target, _with_entry(original, name, array))
        started = time.perf_counter()
        try:
            model = fastnn.load(target)
        except ValueError:
            assert time.perf_counter() - started < 5
            continue
        assert isinstance(model, fastnn.NetClassifier)  # what loads is a model that works
        model.predict(np.zeros((2, 64)))
