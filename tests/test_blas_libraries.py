"""Choosing the BLAS fastnn's kernels call (fastnn._blas_libraries, fastnn.use_blas), and every
installed one computing what the reference computes."""

import ctypes.util
import glob
import os
import textwrap

import numpy as np
import pytest

import fastnn
from fastnn import _blas_libraries
from helpers import run_python

NUMPY_OPENBLAS = sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")))


def test_the_choice_is_the_argument_else_the_environment_else_auto(monkeypatch):
    monkeypatch.delenv("FASTNN_BLAS", raising=False)
    assert _blas_libraries.choice() == "auto"
    assert _blas_libraries.chosen_by() == "auto, FASTNN_BLAS unset"
    monkeypatch.setenv("FASTNN_BLAS", " scipy ")
    assert _blas_libraries.choice() == "scipy"
    assert _blas_libraries.chosen_by() == "FASTNN_BLAS=scipy"
    assert _blas_libraries.choice("openblas") == "openblas"
    assert _blas_libraries.choice("/opt/blis/lib/libblis.so") == "/opt/blis/lib/libblis.so"


@pytest.mark.parametrize("name", ["blis", "OpenBLAS", "libblis.so"])
def test_an_unknown_name_is_refused_with_the_choices(name):
    with pytest.raises(ValueError, match=f"unknown BLAS '{name}': choose one of auto, openblas, mkl, scipy"):
        _blas_libraries.choice(name)


def test_a_name_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match="named by a string, not int"):
        _blas_libraries.choice(1)


def test_a_library_that_is_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(_blas_libraries, "_mkl_library", lambda: None)
    assert "mkl" not in _blas_libraries.installed()
    with pytest.raises(ValueError, match=r"'mkl' is not installed \(pip install \"fastnn-numba\[mkl\]\"\)"):
        _blas_libraries.find("mkl")


@pytest.mark.parametrize("intel, mkl, expected", [
    (True, True, "mkl"), (True, False, "openblas"), (False, True, "openblas"), (False, False, "openblas")])
def test_auto_takes_mkl_only_on_an_intel_cpu(monkeypatch, intel, mkl, expected):
    monkeypatch.setattr(_blas_libraries, "_intel_cpu", lambda: intel)
    fake_mkl = _blas_libraries.Library("mkl", "Intel MKL", (1, 2), None)
    monkeypatch.setattr(_blas_libraries, "_mkl", lambda: fake_mkl if mkl else None)
    assert _blas_libraries.find("auto").name == expected


def test_auto_falls_back_to_scipys_blas_without_numpys_openblas(monkeypatch):
    monkeypatch.setattr(_blas_libraries, "_intel_cpu", lambda: False)
    monkeypatch.setattr(_blas_libraries, "_numpy_openblas", lambda: None)
    library = _blas_libraries.find("auto")
    assert (library.name, library.description) == ("scipy", "SciPy's BLAS")
    assert all(library.gemm)


@pytest.mark.skipif(not NUMPY_OPENBLAS, reason="NumPy was not installed from a wheel bundling OpenBLAS")
def test_a_named_file_is_opened_with_its_gemm_and_thread_functions():
    named = _blas_libraries.find(NUMPY_OPENBLAS[0])
    bundled = _blas_libraries.find("openblas")
    assert named.gemm == bundled.gemm  # the same library, loaded once
    assert named.description.endswith("(named by the user)")
    get, set_ = named.threads
    before = get()
    try:
        set_(1)
        assert bundled.threads[0]() == 1
    finally:
        set_(before)


def test_a_file_that_does_not_load_is_refused(tmp_path):
    text = tmp_path / "libblas.so"
    text.write_text("not a library")
    with pytest.raises(ValueError, match="FASTNN_BLAS: cannot load '.*libblas.so' as a BLAS library"):
        _blas_libraries.find(str(text))
    with pytest.raises(ValueError, match="cannot load"):
        _blas_libraries.find(str(tmp_path / "missing.so"))


def test_a_library_without_gemm_is_refused():
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no C maths library to name")
    with pytest.raises(ValueError, match="exports no Fortran sgemm/dgemm"):
        _blas_libraries._named_file(libm)  # by its name: the loader finds it


def test_the_cli_refuses_a_bad_choice_in_one_line():
    result = run_python("-m", "fastnn", "--version", env={"FASTNN_BLAS": "blis"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fastnn: error: FASTNN_BLAS: unknown BLAS 'blis': choose one of auto, openblas, mkl, scipy, or give the path "
        "of a shared library that exports sgemm_ and dgemm_"]


def test_use_blas_binds_once_and_refuses_another_afterwards():
    script = textwrap.dedent("""
        import os
        import fastnn

        assert fastnn.use_blas("scipy") == "SciPy's BLAS"
        assert os.environ["FASTNN_BLAS"] == "scipy"  # so that worker processes call it too
        assert fastnn.use_blas("scipy") == "SciPy's BLAS"  # the same choice again: allowed
        try:
            fastnn.use_blas("openblas")
        except RuntimeError as error:
            print(error)
        else:
            raise AssertionError("a second library was accepted")
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": None})
    assert result.returncode == 0, result.stderr
    assert "fastnn's kernels already call SciPy's BLAS in this process: choose the BLAS before the first compiled " \
           "call" in result.stdout


def test_show_config_binds_nothing():
    script = textwrap.dedent("""
        import io
        import fastnn

        out = io.StringIO()
        fastnn.show_config(out)
        assert "BLAS:                NumPy's OpenBLAS (FASTNN_BLAS=openblas; installed: openblas" in out.getvalue(), \\
            out.getvalue()
        print(fastnn.use_blas("scipy"))  # still free to choose
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": "openblas"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SciPy's BLAS"


# Every installed library, and NumPy's OpenBLAS named by its path: the compiled cost_grad and
# one epoch of training against the reference, in a process that binds that library.
EQUALITY_SCRIPT = textwrap.dedent("""
    import sys

    import numpy as np

    import fastnn
    from fastnn import reference
    from fastnn._engine import blas_name
    from helpers import assert_same_result, error_scale, make_problem

    for dtype in (np.float32, np.float64):
        for n, (d, h, k) in [(1, (5, 3, 2)), (33, (64, 20, 10)), (1000, (64, 64, 10))]:
            X, y, params = make_problem(n, d, h, k, dtype, seed=n)
            assert_same_result(reference.cost_grad(X, y, params, 0.1), fastnn.cost_grad(X, y, params, 0.1), dtype,
                               error_scale(X, y, params, 0.1))
    print(blas_name())
""")


def _choices():
    by_path = [pytest.param(path, id="numpy-openblas-by-path") for path in NUMPY_OPENBLAS[:1]]
    return _blas_libraries.installed() + by_path


@pytest.mark.parametrize("choice", _choices())
def test_every_installed_blas_computes_what_the_reference_computes(choice):
    tests = os.path.dirname(__file__)
    result = run_python("-c", EQUALITY_SCRIPT, env={"FASTNN_BLAS": choice, "PYTHONPATH": tests}, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == fastnn._blas_libraries.find(choice).description
