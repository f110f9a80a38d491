"""scikit-learn's own tests of its MLP estimators, run against fastnn's (slow tier).

scikit-learn's `sklearn/neural_network/tests/test_mlp.py`, read from the installed
scikit-learn, runs with its import line changed to take MLPClassifier and MLPRegressor
from fastnn, nothing else changed. Three of its tests read scikit-learn's private state
and cannot pass: test_gradient calls `_loss_grad_lbfgs`; test_learning_rate_warmstart and
test_adaptive_learning_rate read the `_optimizer` object.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

sklearn = pytest.importorskip("sklearn")

IMPORT_LINE = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
PRIVATE = {"test_gradient", "test_learning_rate_warmstart", "test_adaptive_learning_rate"}
# sklearn/conftest.py gives the tests this fixture; the test file alone does not.
CONFTEST = """import pytest


@pytest.fixture
def global_random_seed():
    return 42
"""


@pytest.mark.slow
def test_scikit_learns_mlp_tests_pass_on_fastnns_estimators(tmp_path):
    source_path = os.path.join(os.path.dirname(sklearn.__file__), "neural_network", "tests", "test_mlp.py")
    with open(source_path, encoding="utf-8") as file:
        source = file.read()
    assert source.count(IMPORT_LINE) == 1, "scikit-learn's test_mlp.py imports its estimators differently"
    (tmp_path / "test_mlp_on_fastnn.py").write_text(source.replace(IMPORT_LINE, IMPORT_LINE.replace(
        "sklearn.neural_network", "fastnn")), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                    f"--junitxml={report}", str(tmp_path / "test_mlp_on_fastnn.py")], cwd=tmp_path,
                   capture_output=True, text=True, timeout=1200)
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        outcomes[case.get("name")] = "failed" if failed else "skipped" if skipped else "passed"
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    print(f"scikit-learn {sklearn.__version__}'s test_mlp.py on fastnn: "
          f"{sum(outcome == 'passed' for outcome in outcomes.values())} passed, {len(failed)} failed "
          f"({sorted(failed)}), {sum(outcome == 'skipped' for outcome in outcomes.values())} skipped")
    assert len(outcomes) > 50
    assert failed == PRIVATE
    assert "skipped" not in outcomes.values()


@pytest.mark.slow
def test_the_estimator_checks_are_scikit_learns_own_count():
    """Every check scikit-learn runs on its MLPs runs on fastnn's and passes, none listed as expected to fail."""
    import warnings

    from sklearn.neural_network import MLPClassifier as SkClassifier
    from sklearn.neural_network import MLPRegressor as SkRegressor
    from sklearn.utils.estimator_checks import check_estimator

    from fastnn import MLPClassifier, MLPRegressor

    def counts(estimator):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = check_estimator(estimator, on_fail=None)
        return {(result["check_name"], result["status"]) for result in results}

    for ours, theirs in ((MLPClassifier(), SkClassifier()), (MLPRegressor(), SkRegressor())):
        our_results, their_results = counts(ours), counts(theirs)
        assert our_results == their_results
        assert {status for _, status in our_results} <= {"passed", "skipped"}
