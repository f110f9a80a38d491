"""Data loading: the embedded digits, IDX files, .npz, .csv, and the stratified split."""

import gzip

import numpy as np
import pytest

from fastnn.datasets import load_csv, load_digits, load_mnist, load_npz, read_idx, stratified_split


def write_idx(path, array, type_code=0x08, compress=False):
    """An IDX file of array written the way MNIST's are (big-endian header and data)."""
    dtype = {0x08: ">u1", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    raw = header + array.astype(dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return raw


def test_embedded_digits():
    X, y = load_digits(np.float32)
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_stratified_split_keeps_the_class_proportions():
    _, y = load_digits()
    train, val, test = stratified_split(y, (0.6, 0.2, 0.2), seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(val) + len(test) == len(y)
    for part, fraction in ((train, 0.6), (test, 0.2)):
        np.testing.assert_allclose(np.bincount(y[part]) / np.bincount(y), fraction, atol=0.01)
    np.testing.assert_array_equal(stratified_split(y, (0.75, 0.25), seed=3)[0],
                                  stratified_split(y, (0.75, 0.25), seed=3)[0])
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(y, (0.5, 0.2))


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress=compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress=compress)
    X, y = load_mnist(tmp_path, "train")
    np.testing.assert_allclose(X, images.reshape(7, 12) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path, "t10k")


def test_idx_float_data_and_errors(tmp_path):
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = write_idx(tmp_path / "f.idx", values, type_code=0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), values)
    (tmp_path / "short.idx").write_bytes(raw[:-2])
    with pytest.raises(ValueError, match="promises"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "type.idx").write_bytes(b"\x00\x00\x07" + raw[3:])
    with pytest.raises(ValueError, match="unknown IDX type"):
        read_idx(tmp_path / "type.idx")
    (tmp_path / "gz.idx").write_bytes(gzip.compress(raw)[:20])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "gz.idx")


def test_npz_and_csv(tmp_path):
    X = np.array([[0.5, 1.0], [2.0, 3.0], [4.0, 5.5]])
    y = np.array([1, 0, 2])
    np.savez(tmp_path / "data.npz", X=X, y=y)
    got_X, got_y = load_npz(tmp_path / "data.npz", np.float32)
    assert got_X.dtype == np.float32
    np.testing.assert_array_equal(got_y, y)
    np.savez(tmp_path / "wrong.npz", features=X)
    with pytest.raises(ValueError, match="needs arrays X and y"):
        load_npz(tmp_path / "wrong.npz")
    (tmp_path / "a.csv").write_text("f1,label,f2\n0.5,1,1.0\n2.0,0,3.0\n4.0,2,5.5\n")
    got_X, got_y = load_csv(tmp_path / "a.csv")
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    (tmp_path / "b.csv").write_text("digit,f1,f2\n1,0.5,1.0\n0,2.0,3.0\n2,4.0,5.5\n")
    np.testing.assert_array_equal(load_csv(tmp_path / "b.csv")[1], y)  # no "label": the first column
    (tmp_path / "c.csv").write_text("label,f1\n1,abc\n")
    with pytest.raises(ValueError, match="numeric"):
        load_csv(tmp_path / "c.csv")
