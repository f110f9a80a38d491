"""Training curves and the numerical gradient check."""

import pytest

import fastnn
from fastnn import reference
from fastnn.gradcheck import numerical_grad_check
from conftest import make_problem


def test_plot_history_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn.plot import plot_history

    X, y, params = make_problem(60, 4, 6, 3, seed=0)
    hist = fastnn.NetClassifier().fit(X[:40], y[:40], X[40:], y[40:], params, epochs=4, seed=0)
    figure = plot_history(hist, tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert [axes.get_title() for axes in figure.axes] == ["Cross-entropy", "Accuracy"]
    assert [len(line.get_xdata()) for line in figure.axes[0].lines] == [4, 4]
    with pytest.raises(ValueError, match="lacks"):
        plot_history({"loss": [1.0]})


@pytest.mark.parametrize("key", ["W1", "b1", "W2", "b2"])
def test_gradient_check_passes_for_both_implementations(key):
    X, y, params = make_problem(8, 3, 4, 3, seed=1)
    for cost_grad in (reference.cost_grad, fastnn.cost_grad):
        report = numerical_grad_check(lambda p: cost_grad(X, y, p, 0.3), params, key)
        assert report.max_abs_error < 1e-8 and report.key == key


def test_gradient_check_reports_the_worst_entry():
    X, y, params = make_problem(8, 3, 4, 3, seed=2)

    def wrong(p):
        cost, grads = reference.cost_grad(X, y, p, 0.0)
        grads["d_w2"] = grads["d_w2"].copy()
        grads["d_w2"][1, 2] += 0.5
        return cost, grads

    with pytest.raises(AssertionError, match=r"W2: .* at \(1, 2\)"):
        numerical_grad_check(wrong, params, "W2")
