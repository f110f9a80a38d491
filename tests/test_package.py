"""The package as users get it: its public names, its version, its declared dependencies."""

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest

import fastnn
from helpers import run_python

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

STAR_IMPORT_WITHOUT_SKLEARN = """
import sys
sys.modules["sklearn"] = None  # as if scikit-learn were not installed: importing it raises ImportError
from fastnn import *
import fastnn
print(sorted(name for name in fastnn.__all__ if name in globals()))
try:
    fastnn.MLPClassifier
except ImportError as error:
    print("ImportError:", error)
"""


def test_star_import_works_without_scikit_learn():
    run = run_python("-c", STAR_IMPORT_WITHOUT_SKLEARN)
    assert run.returncode == 0, run.stderr[-2000:]
    names, error = run.stdout.splitlines()
    assert names == str(sorted(fastnn.__all__))
    assert error.startswith("ImportError: ") and "scikit-learn" in error


PURE_PYTHON = """
import numpy as np
import fastnn
from helpers import assert_same_result, error_scale, make_problem

X, y, params = make_problem(30, 5, (6,), 3, np.float64, seed=0)
assert_same_result(fastnn.reference.cost_grad(X, y, params, 0.1), fastnn.cost_grad(X, y, params, 0.1), np.float64,
                   error_scale(X, y, params, 0.1))
print(type(fastnn._kernels.block._block_pass).__name__)
"""


def test_the_kernels_run_as_plain_python_with_the_jit_off():
    """NUMBA_DISABLE_JIT=1 (a debugger in a kernel, the kernels' line coverage in CI): the same results."""
    run = run_python("-c", PURE_PYTHON, env={"NUMBA_DISABLE_JIT": "1", "PYTHONPATH": Path(__file__).parent})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["function"]  # a plain function: nothing was compiled


NO_ORACLE_IN_PRODUCTION = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import scipy.sparse
import fastnn
from fastnn import MLPClassifier, MLPRegressor, NetClassifier, get_init_params
from fastnn.datasets import load_digits
X, y = load_digits()[:2]
X, y = X[:300], y[:300]
MLPClassifier((8,), max_iter=3, early_stopping=True).fit(X, y).predict_proba(X)
MLPClassifier((8,), max_iter=3, solver="lbfgs").fit(scipy.sparse.csr_matrix(X), y).predict_log_proba(X)
regressor = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, loss="poisson", early_stopping=True)
regressor.fit(X, y.astype(float)).predict(X)
net = NetClassifier()
net.fit(X, y, X, y, get_init_params(64, 8, 10, seed=0), epochs=2)
net.predict_proba(X)
fastnn.cost_grad(X, y, net.params, 0.1)
assert "fastnn.reference" not in sys.modules, "production imported the oracle"
assert fastnn.reference.cost_grad  # the package still loads it on first use
print("ok")
"""


def test_no_production_path_imports_the_reference():
    """The oracle is the tests', the benchmarks' and gradcheck's: a bug in it cannot hide on both sides of a test."""
    run = run_python("-c", NO_ORACLE_IN_PRODUCTION)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_public_names():
    assert {"NetClassifier", "cost_grad", "get_init_params", "load", "reference", "save"} <= set(fastnn.__all__)
    assert all(hasattr(fastnn, name) for name in fastnn.__all__)
    assert "MLPClassifier" in dir(fastnn) and "MLPClassifier" not in fastnn.__all__  # optional: scikit-learn
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        fastnn.nonexistent  # noqa: B018


DISTRIBUTION = "fastnn-numba"  # "fastnn" on PyPI is another project


def test_the_distribution_name_is_ours():
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'name = "{DISTRIBUTION}"' in pyproject


def test_the_version_is_written_once():
    from fastnn._version import __version__

    assert fastnn.__version__ is __version__
    # The installed metadata reads the same attribute (it is stale only in an editable
    # install made before the version changed: reinstall).
    assert importlib.metadata.version(DISTRIBUTION) == __version__


def _module_level_imports(path):
    """Top-level package names a module imports when it is imported (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        for statement in ast.walk(node) if isinstance(node, (ast.Try, ast.If)) else [node]:
            if isinstance(statement, ast.Import):
                names.update(alias.name.split(".")[0] for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
                names.add(statement.module.split(".")[0])
    return names


# Modules that import an optional dependency when imported themselves (the extra to install).
OPTIONAL = {"mlp.py": {"sklearn"}, "_mlp_state.py": {"sklearn"}}
DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def test_every_package_imported_at_import_time_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    if not PYPROJECT.exists():
        pytest.skip("not run from the source tree")
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    declared = {requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()
                for requirement in project["dependencies"]}
    undeclared = {}
    for path in Path(fastnn.__file__).parent.rglob("*.py"):
        third_party = _module_level_imports(path) - set(sys.stdlib_module_names) - {"fastnn"}
        missing = {DISTRIBUTIONS.get(name, name) for name in third_party - OPTIONAL.get(path.name, set())} - declared
        if missing:
            undeclared[str(path.relative_to(Path(fastnn.__file__).parent))] = sorted(missing)
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"


def test_show_config_names_the_blas_the_cpus_and_the_cache(capsys, monkeypatch):
    from fastnn import _blas_threads, _cpus, _engine, _system
    from fastnn._kernels import compile

    monkeypatch.setattr(_blas_threads, "_usable_cpus", 1)
    fastnn.show_config()
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["fastnn"].strip() == fastnn.__version__
    assert lines["BLAS"].strip().startswith(f"{_engine.blas_name()} (")  # then how it was chosen, and the installed
    assert "installed: " in lines["BLAS"] and "openblas" in lines["BLAS"].split("installed: ")[1]
    assert lines["CPUs"].strip().endswith(f"fastnn uses at most {_cpus.usable_cpus()}")  # read afresh
    assert lines["parallel block pass"].strip().startswith("off: 1 CPUs or Numba threads")
    assert lines["kernel cache"].strip() == str(compile.cache_folder or "none writable: every process compiles")
    assert list(lines) == [key for key in _system.config()]


def test_cost_grad_and_show_config_on_a_two_cpu_budget_leave_numbas_threads_unstarted():
    # The parallel block pass needs more than PARALLEL_MIN_CORES CPUs; below that nothing starts
    # Numba's threading layer, whose idle threads would compete with BLAS's (5000 rows: a batch
    # large enough for the parallel pass). show_config starts nothing either.
    probe = """
import numba, numpy as np, fastnn
from fastnn import _blas_threads
_blas_threads._usable_cpus = 2
fastnn.cost_grad(np.ones((5000, 4)), np.zeros(5000, np.int64), fastnn.get_init_params(4, 5, 2, seed=0), 0.1)
fastnn.show_config()
try:
    print(numba.threading_layer())
except ValueError:
    print("not started")
"""
    run = run_python("-c", probe)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "not started"
