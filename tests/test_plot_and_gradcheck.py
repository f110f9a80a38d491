"""Training curves and the numerical gradient check."""

import pytest

import fastnn
from fastnn import reference
from fastnn.gradcheck import GradientCheckError, numerical_grad_check
from helpers import make_problem, run_python


def test_plot_history_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn.plot import plot_history

    X, y, params = make_problem(60, 4, 6, 3, seed=0)
    hist = fastnn.NetClassifier().fit(X[:40], y[:40], X[40:], y[40:], params, epochs=4, seed=0)
    figure = plot_history(hist, tmp_path / "curves.png", title="digits: 64-6-3", kept_epoch=3)
    data = (tmp_path / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert [axes.get_title() for axes in figure.axes] == ["Loss", "Accuracy"]
    assert figure.get_suptitle() == "digits: 64-6-3"
    assert all(axes.get_ylabel() and axes.get_xlabel() == "epoch" for axes in figure.axes)
    # training, validation, and the kept epoch's mark
    assert [len(line.get_xdata()) for line in figure.axes[0].lines] == [4, 4, 2]
    assert list(figure.axes[0].lines[2].get_xdata()) == [3, 3]
    with pytest.raises(ValueError, match="lacks"):
        plot_history({"loss": [1.0]})


@pytest.mark.parametrize("implementation", [reference.cost_grad, fastnn.cost_grad], ids=["reference", "compiled"])
@pytest.mark.parametrize("key", ["W1", "b1", "W2", "b2"])
def test_gradient_check_passes_for_both_implementations(implementation, key):
    X, y, params = make_problem(8, 3, 4, 3, seed=1)
    report = numerical_grad_check(lambda p: implementation(X, y, p, 0.3), params, key)
    assert report.passed and report.key == key and report.max_abs_error < 1e-8


def _wrong_w2(X, y):
    """reference.cost_grad with d_w2[1, 2] off by 0.5."""

    def wrong(p):
        cost, grads = reference.cost_grad(X, y, p, 0.0)
        grads["d_w2"] = grads["d_w2"].copy()
        grads["d_w2"][1, 2] += 0.5
        return cost, grads

    return wrong


def test_gradient_check_reports_the_worst_entry():
    X, y, params = make_problem(8, 3, 4, 3, seed=2)
    with pytest.raises(GradientCheckError, match=r"W2: .* at \(1, 2\)") as failure:
        numerical_grad_check(_wrong_w2(X, y), params, "W2")
    assert isinstance(failure.value, AssertionError)  # what the hand-in's checker raised
    assert not failure.value.report.passed and failure.value.report.worst_index == (1, 2)


def test_a_nan_gradient_fails_the_check():
    X, y, params = make_problem(8, 3, 4, 3, seed=2)

    def nan_gradient(p):
        cost, grads = reference.cost_grad(X, y, p, 0.0)
        return cost, {**grads, "d_b1": grads["d_b1"] * float("nan")}

    with pytest.raises(GradientCheckError):
        numerical_grad_check(nan_gradient, params, "b1")


OPTIMISED_CHECK = """
from fastnn import reference
from fastnn.gradcheck import GradientCheckError, numerical_grad_check
from fastnn.benchmarks.inputs import make_problem

assert False, "not reached: python -O removes assert statements"
X, y, params = make_problem(8, 3, 4, 3, seed=2)

def wrong(p):
    cost, grads = reference.cost_grad(X, y, p, 0.0)
    grads["d_w2"] = grads["d_w2"] + 0.5
    return cost, grads

try:
    numerical_grad_check(wrong, params, "W2")
except GradientCheckError as error:
    print("failed as it should:", error)
else:
    print("passed a wrong gradient")
"""


def test_the_check_fails_a_wrong_gradient_under_python_O():
    run = run_python("-O", "-c", OPTIMISED_CHECK)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("failed as it should: gradient check failed: W2:"), run.stdout
