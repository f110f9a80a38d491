"""Scale-out: the guide's dask example runs as written, without oversubscribing the cores."""

import ast
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from fastnn.scaleout import THREAD_VARIABLES, worker_environment

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"


def test_worker_environment_shares_the_cores():
    assert worker_environment(2, cores=2) == {name: "1" for name in THREAD_VARIABLES}
    assert worker_environment(1, cores=8)["NUMBA_NUM_THREADS"] == "8"
    assert worker_environment(3, cores=8)["OPENBLAS_NUM_THREADS"] == "2"
    assert worker_environment(16, cores=8)["OMP_NUM_THREADS"] == "1"
    assert worker_environment(2, threads_per_worker=3, cores=2)["MKL_NUM_THREADS"] == "3"
    with pytest.raises(ValueError, match="n_workers"):
        worker_environment(0)
    with pytest.raises(ValueError, match="threads_per_worker"):
        worker_environment(2, threads_per_worker=0)


def guide_dask_example():
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(r"<!-- dask-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/guide.md lost its dask example"
    return match.group(1)


def test_the_guide_has_the_dask_example():
    example = guide_dask_example()
    compile(example, "docs/guide.md", "exec")  # valid Python
    assert "local_cluster(n_workers=2)" in example and 'print("best:"' in example


@pytest.mark.slow  # a dask cluster of two worker processes, and the same search again in this one
def test_the_guide_grid_search_runs_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    pytest.importorskip("sklearn")
    script = tmp_path / "dask_example.py"
    script.write_text(guide_dask_example())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900, cwd=tmp_path,
                         env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()

    report = ast.literal_eval(next(line for line in lines if line.startswith("threads per worker:")).split(":", 1)[1])
    assert len(report) == 2
    busiest = max(max(threads["numba"], threads["blas"] or 1) for threads in report.values())
    assert len(report) * busiest <= os.cpu_count()

    # The same search in this process finds the same scores.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    import fastnn
    from fastnn.datasets import load_digits

    X, y = load_digits()
    local = GridSearchCV(fastnn.MLPClassifier(max_iter=300, random_state=0),
                         {"hidden_layer_sizes": [(64,), (128, 64)], "alpha": [1e-4, 1e-2]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local.fit(X, y)
    best = next(line for line in lines if line.startswith("best:"))
    assert best == f"best: {local.best_params_} {round(local.best_score_, 4)}"
