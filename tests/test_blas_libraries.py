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


def test_the_choice_is_the_argument_else_the_environment_else_auto(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_BLAS", raising=False)
    assert _blas_libraries.choice() == "auto"
    monkeypatch.setenv("FASTNN_BLAS", " SciPy ")  # names in any case, spaces around ignored
    assert _blas_libraries.choice() == "scipy"
    monkeypatch.setenv("FASTNN_BLAS", "  ")
    assert _blas_libraries.choice() == "auto"
    assert _blas_libraries.choice("OpenBLAS") == "openblas"
    assert _blas_libraries.choice("/opt/blis/lib/libblis.so") == "/opt/blis/lib/libblis.so"
    monkeypatch.chdir(tmp_path)  # a relative path is made absolute: a child started elsewhere finds it
    assert _blas_libraries.choice("./libblis.so") == str(tmp_path / "libblis.so")
    assert _blas_libraries.choice(tmp_path / "libblis.so") == str(tmp_path / "libblis.so")  # a path-like


@pytest.mark.parametrize("name", ["blis", "open-blas", "libblis.so"])
def test_an_unknown_name_is_refused_with_the_choices_and_where_it_came_from(name, monkeypatch):
    with pytest.raises(ValueError, match=f"^fastnn.use_blas: unknown BLAS '{name}': choose one of auto, openblas, "
                                         "mkl, scipy"):
        _blas_libraries.choice(name, "fastnn.use_blas")
    monkeypatch.setenv("FASTNN_BLAS", name)
    with pytest.raises(ValueError, match=f"^FASTNN_BLAS: unknown BLAS '{name}'"):
        _blas_libraries.choice()


def test_a_name_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match="named by a string or a path, not int"):
        _blas_libraries.choice(1)


def test_a_library_that_is_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(_blas_libraries, "_mkl_path", lambda: None)
    assert "mkl" not in _blas_libraries.installed()
    assert _blas_libraries.auto_name() in ("openblas", "scipy")
    with pytest.raises(ValueError, match=r"'mkl' is not installed \(pip install \"fastnn-numba\[mkl\]\"\)"):
        _blas_libraries.find("mkl")


@pytest.mark.parametrize("intel, mkl, expected", [
    (True, True, "mkl"), (True, False, "openblas"), (False, True, "openblas"), (False, False, "openblas")])
def test_auto_takes_mkl_only_on_an_intel_cpu(monkeypatch, intel, mkl, expected):
    monkeypatch.setattr(_blas_libraries, "_intel_cpu", lambda: intel)
    monkeypatch.setattr(_blas_libraries, "_mkl_path", lambda: "/opt/mkl/libmkl_rt.so.3" if mkl else None)
    fake_mkl = _blas_libraries.Library("mkl", "Intel MKL", (1, 2), None)
    monkeypatch.setitem(_blas_libraries._FINDERS, "mkl", lambda: fake_mkl)
    assert _blas_libraries.auto_name() == expected
    assert _blas_libraries.find("auto").name == expected


def test_auto_falls_back_to_scipys_blas_without_numpys_openblas(monkeypatch):
    monkeypatch.setattr(_blas_libraries, "_intel_cpu", lambda: False)
    monkeypatch.setattr(_blas_libraries, "_wheel_openblas_path", lambda package: None)
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


def test_the_cli_refuses_a_bad_choice_in_one_line_but_still_helps():
    result = run_python("-m", "fastnn", "gradcheck", env={"FASTNN_BLAS": "blis"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fastnn gradcheck: error: FASTNN_BLAS: unknown BLAS 'blis': choose one of auto, openblas, mkl, scipy, or give "
        "the path of a shared library that exports sgemm_ and dgemm_"]
    assert run_python("-m", "fastnn", "--help", env={"FASTNN_BLAS": "blis"}).returncode == 0
    version = run_python("-m", "fastnn", "--version", env={"FASTNN_BLAS": "blis"})
    assert version.returncode == 0 and "(BLAS: none, FASTNN_BLAS: unknown BLAS 'blis'" in version.stdout


def test_use_blas_binds_once_and_refuses_another_afterwards():
    script = textwrap.dedent("""
        import os
        import fastnn

        assert fastnn.use_blas("SciPy") == "SciPy's BLAS"
        assert os.environ["FASTNN_BLAS"] == "scipy"  # so that worker processes call it too
        assert fastnn.use_blas("scipy") == "SciPy's BLAS"  # the same choice again: allowed
        try:
            fastnn.use_blas("openblas")
        except RuntimeError as error:
            print(error)
        else:
            raise AssertionError("a second library was accepted")
        assert os.environ["FASTNN_BLAS"] == "scipy"  # a refused choice changes nothing
        from fastnn._system import config
        print(config()["BLAS"])
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": None})
    assert result.returncode == 0, result.stderr
    refusal, blas_line = result.stdout.strip().splitlines()
    assert refusal == ("fastnn already calls SciPy's BLAS in this process (chosen by fastnn.use_blas('scipy')), and "
                       "a process calls one BLAS: choose it before fastnn's first fit, prediction or cost_grad, or "
                       "set FASTNN_BLAS before Python starts")
    assert blas_line.startswith("SciPy's BLAS (chosen by fastnn.use_blas('scipy'); installed: ")


@pytest.mark.skipif(not NUMPY_OPENBLAS, reason="NumPy was not installed from a wheel bundling OpenBLAS")
def test_one_library_under_two_names_is_one_choice():
    script = textwrap.dedent(f"""
        import fastnn

        print(fastnn.use_blas("openblas"))
        print(fastnn.use_blas({NUMPY_OPENBLAS[0]!r}))  # the same library, by its path
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": None})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["NumPy's OpenBLAS"] * 2


def test_show_config_binds_nothing_and_reports_a_bad_choice():
    script = textwrap.dedent("""
        import fastnn
        from fastnn._system import config

        blas = config()["BLAS"]
        assert blas.startswith("NumPy's OpenBLAS (chosen by FASTNN_BLAS=openblas; installed: openblas"), blas
        print(fastnn.use_blas("scipy"))  # still free to choose
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": "openblas"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SciPy's BLAS"
    result = run_python("-c", "from fastnn._system import config; print(config()['BLAS'])", env={"FASTNN_BLAS": "nope"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("none: FASTNN_BLAS: unknown BLAS 'nope': choose one of")


def test_looking_at_the_libraries_changes_nothing_in_the_process():
    """Listing, finding and reporting MKL opens it at most: its threading layer and KMP_BLOCKTIME are set
    only when fastnn binds it."""
    script = textwrap.dedent("""
        import os
        import fastnn
        from fastnn import _blas_libraries

        _blas_libraries.installed()
        fastnn.show_config(open(os.devnull, "w"))
        if "mkl" in _blas_libraries.installed():
            _blas_libraries.find("mkl")
        assert "KMP_BLOCKTIME" not in os.environ
        print(fastnn.use_blas("openblas"))
        assert "KMP_BLOCKTIME" not in os.environ
    """)
    result = run_python("-c", script, env={"FASTNN_BLAS": "mkl", "KMP_BLOCKTIME": None})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "NumPy's OpenBLAS"


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
