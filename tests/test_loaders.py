"""Data files as users write them: headers with spaces or quotes, no header, bad labels named by row."""

import numpy as np
import pytest

from fastnn.datasets import load_csv, load_mnist, load_npz

ROWS = "1,0.5,1.0\n0,2.0,3.0\n2,4.0,5.5\n"


@pytest.mark.parametrize("header", ["label,a,b\n", "label, a, b\n", '"label","a","b"\n', ' "label" , a , b\n', ""],
                         ids=["plain", "spaces", "quotes", "quotes-and-spaces", "no-header"])
def test_the_label_column_is_found_and_no_row_is_lost(tmp_path, header):
    (tmp_path / "d.csv").write_text(header + ROWS)
    X, y = load_csv(tmp_path / "d.csv")
    np.testing.assert_array_equal(y, [1, 0, 2])
    np.testing.assert_array_equal(X, [[0.5, 1.0], [2.0, 3.0], [4.0, 5.5]])


def test_a_label_column_named_elsewhere(tmp_path):
    (tmp_path / "d.csv").write_text('"a", "b", "label"\n0.5,1.0,1\n2.0,3.0,0\n')
    X, y = load_csv(tmp_path / "d.csv")
    np.testing.assert_array_equal(y, [1, 0])
    np.testing.assert_array_equal(X, [[0.5, 1.0], [2.0, 3.0]])


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("label,a\n", "no rows"),
    ("label,a\n1,0.5\ninf,0.5\n", "row 3 has inf"),
    ("label,a\n1e20,0.5\n", "row 2 has 1e"),
    ("1,0.5\n0.5,2\n", "row 2 has 0.5"),
])
def test_bad_csv_files_are_named(tmp_path, content, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_csv(tmp_path / "d.csv")


def test_labels_may_be_names(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((2, 3)), y=np.array(["c0", "c1"]))
    assert load_npz(tmp_path / "d.npz")[1].tolist() == ["c0", "c1"]
    (tmp_path / "d.csv").write_text('a,species,b\n0.5,"cat",1\n2.0, dog,3\n')
    X, y = load_csv(tmp_path / "d.csv", label="species")
    assert y.tolist() == ["cat", "dog"] and X.tolist() == [[0.5, 1.0], [2.0, 3.0]]


@pytest.mark.parametrize("label, has_header, expected", [
    ("2", None, [7, 8]), (2, None, [7, 8]), ("label", False, [1, 2]),
])
def test_label_column_by_number_and_headerless_files(tmp_path, label, has_header, expected):
    (tmp_path / "d.csv").write_text("1,0.5,7\n2,1.5,8\n")
    assert load_csv(tmp_path / "d.csv", label=label, has_header=has_header)[1].tolist() == expected


def test_an_unknown_label_column_is_named(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column named 'species'"):
        load_csv(tmp_path / "d.csv", label="species")


def _idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype({0x08: ">u1", 0x0D: ">f4"}[code]).tobytes())


@pytest.mark.parametrize("naming", ["{}-images-idx3-ubyte", "{}-images.idx3-ubyte"])
def test_mnist_with_either_naming_and_float_labels_refused(tmp_path, naming):
    _idx(tmp_path / naming.format("train"), np.zeros((2, 3, 3)), 0x08)
    labels = naming.replace("images", "labels").replace("idx3", "idx1").format("train")
    _idx(tmp_path / labels, np.array([1, 2]), 0x08)
    X, y = load_mnist(tmp_path)
    assert X.shape == (2, 9) and y.tolist() == [1, 2]
    _idx(tmp_path / labels, np.array([0.5, 1.7]), 0x0D)
    with pytest.raises(ValueError, match="finite integers; row 0 has"):
        load_mnist(tmp_path)


def test_a_short_row_is_named(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,cat\n3,4\n")
    with pytest.raises(ValueError, match="row 3 has 2 columns"):
        load_csv(tmp_path / "d.csv")


def test_an_idx_header_promising_too_much_is_refused_without_reading_it_all(tmp_path):
    import gzip

    header = bytes([0, 0, 0x08, 4]) + np.array([65536] * 4, ">u4").tobytes()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as file:
        file.write(header + b"\0" * 1000)
    from fastnn.datasets import read_idx

    with pytest.raises(ValueError, match="promises"):
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")
