"""The command line, run as a user would: in a subprocess (the trainings in the slow tier);
in this process where a test needs to reach inside.
"""

import numpy as np
import pytest

import fastnn as package
from fastnn import cli, reference
from helpers import run_python


def fastnn(*args, cwd=None):
    return run_python("-m", "fastnn", *args, cwd=cwd)


def test_train_in_process(capsys, tmp_path):
    cli.main(["train", "--hidden", "16", "--epochs", "2", "--dtype", "float64", "--save", str(tmp_path / "m.npz")])
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2
    assert any(line.startswith("test accuracy") for line in lines)
    assert package.load(tmp_path / "m.npz").params["W1"].shape == (64, 16)


@pytest.mark.slow
def test_train_digits_save_plot_then_predict(tmp_path):
    pytest.importorskip("matplotlib")
    run = fastnn("train", "--epochs", 30, "--save", tmp_path / "model.npz", "--plot", tmp_path / "curves.png")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 30
    accuracy = float(next(line for line in lines if line.startswith("test accuracy")).split()[2])
    assert accuracy >= 0.97
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    run = fastnn("predict", "--model", tmp_path / "model.npz", "--data", "digits", "--out", tmp_path / "labels.txt")
    assert run.returncode == 0, run.stderr
    assert len(np.loadtxt(tmp_path / "labels.txt")) == 1797
    assert "accuracy" in run.stdout


@pytest.mark.slow
def test_train_on_a_csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] > 0).astype(int)
    np.savetxt(tmp_path / "d.csv", np.column_stack([y, X]), delimiter=",", header="label,a,b,c", comments="")
    run = fastnn("train", "--data", tmp_path / "d.csv", "--hidden", 8, "--epochs", 3, "--dtype", "float64", "--threads", 1)
    assert run.returncode == 0, run.stderr
    assert "test accuracy" in run.stdout


@pytest.mark.slow
def test_train_two_hidden_layers_on_the_digits(tmp_path):
    run = fastnn("train", "--hidden", 256, 128, "--save", tmp_path / "deep.npz")
    assert run.returncode == 0, run.stderr
    accuracy = float(next(line for line in run.stdout.splitlines() if line.startswith("test accuracy")).split()[2])
    assert accuracy >= 0.97
    assert [package.load(tmp_path / "deep.npz").params[f"W{layer}"].shape for layer in (1, 2, 3)] == [
        (64, 256), (256, 128), (128, 10)]


def test_predict_with_a_saved_mlp_classifier(tmp_path):
    pytest.importorskip("sklearn")
    from fastnn.datasets import load_digits

    X, y = load_digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = package.MLPClassifier(hidden_layer_sizes=(32,), tol=1e-2, random_state=0).fit(X, names[y])
    package.save(tmp_path / "mlp.npz", clf)
    run = fastnn("predict", "--model", tmp_path / "mlp.npz", "--data", "digits", "--out", tmp_path / "labels.txt")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "labels.txt").read_text().split() == clf.predict(X).tolist()


@pytest.mark.parametrize("hidden", [[], ["8", "5"]], ids=["depth2", "depth3"])
def test_gradcheck_command(hidden):
    run = fastnn("gradcheck", *(["--hidden", *hidden] if hidden else []))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("gradient check passed")
    assert ("W3" in run.stdout) == bool(hidden)


def test_gradcheck_command_under_python_O():
    run = run_python("-O", "-m", "fastnn", "gradcheck")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("gradient check passed")


def test_gradcheck_command_fails_with_exit_code_1(monkeypatch, capsys):
    def wrong(X, y, params, c=0.0):
        cost, grads = reference.cost_grad(X, y, params, c)
        return cost, {**grads, "d_w1": grads["d_w1"] + 1e-3}

    monkeypatch.setattr(package, "cost_grad", wrong)  # what the command checks as "compiled"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["gradcheck"])
    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    failed = [line.split()[:2] for line in out.splitlines() if line.endswith("FAILED")]
    assert failed == [["compiled", "W1:"]]
    assert "gradient check passed" not in out and "FAILED for 1 parameters" in err


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nowhere.npz"], "no such file"),
    (["train", "--data", "imagenet"], "no such file"),
    (["train", "--data", "mnist:/nonexistent"], "no train-images-idx3-ubyte"),
    (["train", "--epochs", "many"], "invalid int value"),
    (["train", "--lr", "-1"], "lr must be"),
    (["train", "--hidden", "64", "0"], "--hidden sizes must be >= 1"),
    (["train", "--threads", "99"], "--threads must be between"),
    (["predict", "--model", "missing.npz", "--data", "digits"], "missing.npz"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, message):
    run = fastnn(*args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_model_and_data_that_do_not_fit(tmp_path):
    np.savez(tmp_path / "wide.npz", X=np.ones((5, 70)), y=np.zeros(5, int))
    package.save(tmp_path / "m.npz", package.get_init_params(64, 8, 10, seed=0))
    run = fastnn("predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "wide.npz")
    assert run.returncode == 2 and "expects 64 features but" in run.stderr
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    run = fastnn("predict", "--model", tmp_path / "broken.npz", "--data", "digits")
    assert run.returncode == 2 and "not a readable fastnn model file" in run.stderr
