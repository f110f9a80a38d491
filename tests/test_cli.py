"""The command line, run as a user would: in a subprocess (the trainings in the slow tier);
in this process where a test needs to reach inside.
"""

import json

import numpy as np
import pytest

import fastnn as package
from fastnn import cli, reference
from helpers import JIT_DISABLED, run_python


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
    run = fastnn("predict", "--model", tmp_path / "model.npz", "--data", "digits", "--out", tmp_path / "labels.csv")
    assert run.returncode == 0, run.stderr
    predicted = np.loadtxt(tmp_path / "labels.csv", delimiter=",", skiprows=1, dtype=int)
    assert predicted.shape == (450, 2)  # the test rows held out in training: row number, label
    from fastnn.datasets import load_digits
    assert np.mean(predicted[:, 1] == load_digits()[1][predicted[:, 0]]) == pytest.approx(accuracy, abs=1e-4)
    assert f"accuracy {accuracy:.4f} on the 450 test rows of digits held out" in run.stdout


@pytest.mark.slow
def test_train_on_a_csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] > 0).astype(int)
    np.savetxt(tmp_path / "d.csv", np.column_stack([y, X]), delimiter=",", header="label,a,b,c", comments="")
    run = fastnn("train", "--data", tmp_path / "d.csv", "--hidden", 8, "--epochs", 3, "--dtype", "float64",
                 "--threads", 1)
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
    run = fastnn("predict", "--model", tmp_path / "mlp.npz", "--data", "digits", "--out", tmp_path / "labels.csv")
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "labels.csv").read_text().split()
    assert lines[0] == "row,label"
    assert [line.split(",")[1] for line in lines[1:]] == clf.predict(X).tolist()
    # the model knows names, the digits have numbers: said, not silently 0.0000
    assert "labels the model does not know" in run.stderr


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


def _main(capsys, *args):
    """Run the command line in this process: (exit code, stdout, stderr)."""
    try:
        cli.main([str(arg) for arg in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nowhere.npz"], "no such file"),
    (["train", "--data", "imagenet"], "unknown data"),
    (["train", "--data", "mnist:/nonexistent"], "is not a folder"),
    (["train", "--epochs", "many"], "invalid int value"),
    (["train", "--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
    (["train", "--lr", "-1"], "--lr must be a number > 0"),
    (["train", "--hidden", "64", "0"], "--hidden must be sizes >= 1"),
    (["train", "--threads", "99"], "--threads must be between"),
    (["train", "--save", "/nonexistent/folder/m.npz"], "the folder /nonexistent/folder does not exist"),
    (["train", "--save", "."], "is a directory"),
    (["train", "--history", "h.txt"], "must end in .csv or .json"),
    (["train", "--lr", "1e6", "--epochs", "2", "--quiet"], "training diverged in epoch 1"),
    (["predict", "--model", "missing.npz", "--data", "digits"], "missing.npz"),
    (["train", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["train", "--data", "table.tsv"], "fastnn reads comma-separated files named .csv"),
    (["train", "--hidden", "100000", "100000"], "(10,000,400,001 parameters) needs about"),
    (["train", "--plot", "curves.xyz"], "--plot curves.xyz: the file name must end in one of"),
    (["train", "--label", "99"], "--label describes a CSV file's columns; --data digits is not a CSV file"),
    (["train", "--no-header"], "--no-header describes a CSV file's columns"),
    (["predict", "--model", "m.npz", "--data", "digits", "--label", "3"], "--label describes a CSV file's columns"),
    (["gradcheck", "--hidden", "0"], "--hidden must be sizes >= 1, got [0]"),
    (["gradcheck", "--hidden", "-3"], "--hidden must be sizes >= 1, got [-3]"),
    (["gradcheck", "--hidden", "100000"], "--hidden must be sizes <= 64"),
    (["gradcheck", "--c", "-1"], "--c must be a number >= 0, got -1.0"),
    (["gradcheck", "--c", "nan"], "--c must be a number >= 0, got nan"),
    (["gradcheck", "--c", "inf"], "--c must be a number >= 0, got inf"),
    (["gradcheck", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["bench", "--repeats", "0"], "--repeats must be >= 1"),
    (["compile", "--hidden-layers", "-1"], "--hidden-layers must be integers from 0 to 31, got [-1]"),
    (["compile", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["bench", "--chart", "c.png"], "--chart goes with --epoch"),
])
def test_user_errors_are_one_line_with_exit_code_2(capsys, monkeypatch, args, message):
    from fastnn import _engine

    monkeypatch.setattr(_engine, "training_kernels_cached", lambda: True)  # no compile notice on a cold cache
    code, out, err = _main(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_compile_command_reports_each_configuration_and_the_cache(capsys):
    # The configuration the other tests use most: cached already in a warm run.
    code, out, err = _main(capsys, "compile", "--dtype", "float64", "--hidden-layers", "1", "--dense-only")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "compiling 2 configurations (seconds each where not cached yet)"
    assert lines[1].startswith("[1/2] float64, 1 hidden layer, dense input, labels: ")
    assert lines[2].startswith("[2/2] float64, 1 hidden layer, dense input, numbers: ")
    assert lines[3].startswith("done in ")
    assert ("cached in " in lines[3]) == (package._kernels.compile.cache_folder is not None)


def test_too_few_rows_and_a_single_class_are_named(capsys, tmp_path):
    (tmp_path / "three.csv").write_text("label,a,b\n0,1,2\n1,2,3\n0,3,4\n")
    code, _, err = _main(capsys, "train", "--data", tmp_path / "three.csv")
    assert code == 2 and "3 rows are too few to split" in err
    np.savez(tmp_path / "one.npz", X=np.ones((40, 2)), y=np.zeros(40, int))
    code, _, err = _main(capsys, "train", "--data", tmp_path / "one.npz")
    assert code == 2 and "one class" in err


def test_an_internal_error_keeps_its_traceback(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise AssertionError("a bug")

    monkeypatch.setattr(package.NetClassifier, "fit", broken)
    with pytest.raises(AssertionError, match="a bug"):
        cli.main(["train", "--epochs", "1"])


def test_version_and_defaults_in_help(capsys):
    code, out, _ = _main(capsys, "--version")
    assert code == 0 and out.startswith(f"fastnn {package.__version__} (BLAS: {package._engine.blas_name()}, ")
    assert len(out.strip().splitlines()) == 1
    code, out, _ = _main(capsys, "train", "--help")
    assert code == 0
    for flag in ("--early-stopping", "--patience", "--lr-schedule", "--quiet", "--label", "--no-header", "--history",
                 "--metrics"):
        assert flag in out
    assert "(default: 30)" in out and "(default: momentum)" in out
    assert "(default: 0)" in out and "(default: minmax)" in out  # --seed's default 0 is shown too


def test_labels_of_any_kind_history_and_probabilities(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    names = np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    np.savez(tmp_path / "animals.npz", X=X, y=names)
    code, out, _ = _main(capsys, "train", "--data", tmp_path / "animals.npz", "--hidden", 8, "--epochs", 3,
                         "--quiet", "--save", tmp_path / "m.npz", "--history", tmp_path / "h.json")
    assert code == 0 and "test accuracy" in out
    history = json.loads((tmp_path / "h.json").read_text())
    assert len(history["train_loss"]) == 3 and history["epoch"] == [1, 2, 3]
    assert 1 <= history["kept_epoch"] <= 3
    assert package.load(tmp_path / "m.npz").classes.tolist() == ["cat", "dog", "emu"]
    code, out, _ = _main(capsys, "predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "animals.npz",
                         "--out", tmp_path / "labels.csv")
    assert code == 0 and "test rows of" in out and "held out when the model was trained" in out
    rows = [line.split(",") for line in (tmp_path / "labels.csv").read_text().split()[1:]]
    assert {label for _, label in rows} <= {"cat", "dog", "emu"}
    assert sum(label == names[int(row)] for row, label in rows) / len(rows) == pytest.approx(
        float(out.split("accuracy ")[1].split()[0]), abs=1e-4)
    code, _, _ = _main(capsys, "predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "animals.npz",
                       "--out", tmp_path / "p.csv", "--proba")
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert code == 0 and lines[0] == "row,cat,dog,emu"
    np.testing.assert_allclose(np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)[:, 1:].sum(axis=1), 1,
                               rtol=1e-5)


@pytest.mark.skipif(JIT_DISABLED, reason="NUMBA_DISABLE_JIT=1: no cache folder to name")
def test_history_as_csv_and_a_notice_when_kernels_compile(capsys, monkeypatch, tmp_path):
    from fastnn import _engine

    monkeypatch.setattr(_engine, "training_kernels_cached", lambda: False)
    monkeypatch.setattr(cli, "_noticed", False)
    code, out, err = _main(capsys, "train", "--hidden", 8, "--epochs", 2, "--history", tmp_path / "h.csv")
    assert (code == 0 and "fastnn is compiling its kernels for a new configuration (about" in err
            and "for later processes" in err)
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,train_acc,val_loss,val_acc" and len(rows) == 3



def test_running_metrics_leave_the_training_accuracy_out_of_the_history(capsys, tmp_path):
    code, out, _ = _main(capsys, "train", "--hidden", 8, "--epochs", 2, "--metrics", "running",
                         "--history", tmp_path / "h.csv")
    assert code == 0 and "test accuracy" in out
    rows = [row.split(",") for row in (tmp_path / "h.csv").read_text().splitlines()]
    assert rows[0] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"] and len(rows) == 3
    assert all(row[2] == "" and float(row[1]) > 0 and float(row[3]) > 0 for row in rows[1:])
    assert "train_acc" not in out.splitlines()[1]  # the epoch lines name only what was measured


INTERRUPT = """
import signal, subprocess, sys, time
proc = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--epochs", "100000", "--quiet", "--save", "m.npz",
                         "--plot", "c.png", "--history", "h.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(8)
proc.send_signal(signal.SIGINT)
out, err = proc.communicate(timeout=120)
print(proc.returncode)
print(out)
print("STDERR", err)
"""


@pytest.mark.slow  # a training in a fresh process, interrupted
def test_ctrl_c_keeps_the_completed_epochs_saves_them_and_exits_130(tmp_path):
    pytest.importorskip("matplotlib")
    run = run_python("-c", INTERRUPT, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    code, *lines = run.stdout.splitlines()
    assert code == "130", run.stdout
    summary = next(line for line in lines if line.startswith("interrupted after"))
    assert "test accuracy" in summary and "Traceback" not in run.stdout
    model = package.load(tmp_path / "m.npz")
    epochs = int(summary.split()[2])
    assert len(model.hist["train_loss"]) == epochs >= 1
    assert len((tmp_path / "h.csv").read_text().splitlines()) == epochs + 1
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # a fresh process whose reader goes away
def test_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--epochs", "5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdout.readline()
    proc.stdout.close()  # as `fastnn train | head -1` does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    assert b"Traceback" not in err and b"Broken pipe" not in err


def test_model_and_data_that_do_not_fit(tmp_path):
    np.savez(tmp_path / "wide.npz", X=np.ones((5, 70)), y=np.zeros(5, int))
    package.save(tmp_path / "m.npz", package.get_init_params(64, 8, 10, seed=0))
    run = fastnn("predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "wide.npz")
    assert run.returncode == 2 and "expects 64 features but" in run.stderr
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    run = fastnn("predict", "--model", tmp_path / "broken.npz", "--data", "digits")
    assert run.returncode == 2 and "not a readable fastnn model file" in run.stderr


@pytest.mark.parametrize("content, message", [
    ("a,b,label\n", "has a header but no rows"),
    ("a,b,c,d,label\n1,2,3\n4,5,6\n", "the first row has 5 columns but the others have 3"),
    ("a,label\n1," + "x" * 200_000 + "\n", "not a readable CSV file"),
    ("label,a\n" + "0,1e39\n1,2\n" * 20, "is NaN or inf in float32 (row 2, feature column 0)"),
], ids=["header-only", "header-wider-than-rows", "huge-field", "overflows-float32"])
@pytest.mark.parametrize("command", ["train", "predict"])
def test_hostile_csv_files_are_one_line_and_exit_code_2(capsys, monkeypatch, tmp_path, content, message, command):
    from fastnn import _engine

    monkeypatch.setattr(_engine, "training_kernels_cached", lambda: True)  # no compile notice on a cold cache
    (tmp_path / "data.csv").write_text(content)
    args = ["--data", tmp_path / "data.csv"]
    if command == "predict":
        package.save(tmp_path / "m.npz", package.get_init_params(1, 4, 2, seed=0, dtype=np.float32))
        args += ["--model", tmp_path / "m.npz"]
    code, _, err = _main(capsys, command, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- data as users bring it


def _digits_table(tmp_path, name, factor=16, label_at=None, label_name="target", header=True, rows=None):
    """The digits as a CSV file of raw values (0 to 16 times factor/16), the label column where asked."""
    from fastnn.datasets import load_digits

    X, y = load_digits()
    X, y = X[:rows] * factor, y[:rows]
    names = [f"px{i}" for i in range(64)]
    if label_at is not None:
        X = np.insert(X, label_at if label_at >= 0 else 64, y, axis=1)
        names.insert(label_at if label_at >= 0 else 64, label_name)
    np.savetxt(tmp_path / name, X, delimiter=",", header=",".join(names) if header else "", comments="", fmt="%g")
    return tmp_path / name, y


@pytest.fixture
def digits_model(tmp_path, capsys):
    """A model trained by the command line on raw digits (0 to 16) with the label in a last column named target."""
    path, _ = _digits_table(tmp_path, "train.csv", label_at=-1)
    code, out, err = _main(capsys, "train", "--data", path, "--epochs", 5, "--hidden", 32, "--quiet",
                           "--save", tmp_path / "m.npz")
    assert code == 0, err
    return tmp_path / "m.npz", out


def test_a_last_column_named_like_a_label_is_used_and_said(digits_model):
    _, out = digits_model
    assert "labels: the column named 'target'" in out
    assert "64 features, 10 classes" in out
    assert float(out.split("test accuracy ")[1].split()[0]) > 0.9  # raw 0..16 pixels, scaled by default


def test_the_first_column_fallback_is_said(capsys, tmp_path):
    path, _ = _digits_table(tmp_path, "first.csv", label_at=0, label_name="digit", rows=300)
    code, out, _ = _main(capsys, "train", "--data", path, "--epochs", 1, "--hidden", 8, "--quiet")
    assert code == 0 and "labels: the first column, 'digit', since none is named label, target" in out
    (tmp_path / "two.csv").write_text("a,y,class\n" + "1,0,1\n" * 10)
    code, _, err = _main(capsys, "train", "--data", tmp_path / "two.csv")
    assert code == 2 and "the columns ['y', 'class'] all look like labels; choose one (--label NAME)" in err
    code, out, _ = _main(capsys, "train", "--data", path, "--label", "px5", "--epochs", 1, "--hidden", 8, "--quiet")
    assert code == 0 and "labels: the column named 'px5'" in out
    code, out, _ = _main(capsys, "train", "--data", path, "--label", "PX5", "--epochs", 1, "--hidden", 8, "--quiet")
    assert code == 0 and "labels: the column named 'px5'" in out  # a name's case need not match


@pytest.mark.parametrize("kind", ["csv-header", "csv-no-header", "npz-X-only", "idx-images"])
def test_predict_scores_unlabeled_data_in_every_format(capsys, tmp_path, digits_model, kind):
    from fastnn.datasets import load_digits

    model_path, _ = digits_model
    X = load_digits()[0][:25] * 16  # raw, as the model was trained
    if kind.startswith("csv"):
        path, _ = _digits_table(tmp_path, "new.csv", rows=25, header=kind == "csv-header")
    elif kind == "npz-X-only":
        path = tmp_path / "new.npz"
        np.savez(path, X=X)
    else:
        path = tmp_path / "new-images-idx3-ubyte"
        images = np.round(X * 255 / 16).astype(np.uint8).reshape(25, 8, 8)  # IDX pixels are 0..255
        path.write_bytes(bytes([0, 0, 0x08, 3]) + np.array(images.shape, ">u4").tobytes() + images.tobytes())
        X = images.reshape(25, 64) / 255  # the loader scales IDX bytes to [0, 1], as for MNIST
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "row,label" and len(lines) == 26
    model = package.load(model_path)
    assert [int(line.split(",")[1]) for line in lines[1:]] == model.classes[model.predict(X)].tolist()
    assert "predicted all 25 rows" in err and "no labels" in err
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", path, "--proba")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "row," + ",".join(str(c) for c in range(10)) and len(lines) == 26
    np.testing.assert_allclose(np.loadtxt(lines[1:], delimiter=",")[:, 1:], model.predict_proba(X), atol=1e-6)


def test_predict_scores_labelled_data_and_prints_probabilities_without_out(capsys, tmp_path, digits_model):
    model_path, _ = digits_model
    path, y = _digits_table(tmp_path, "labelled.csv", label_at=-1, rows=40)
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", path)
    assert code == 0 and out.startswith("accuracy ") and "on all 40 rows" in out
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", path, "--proba")
    assert code == 0 and len(out.splitlines()) == 41 and "accuracy" in err  # stdout stays a CSV table


def test_the_scaling_is_saved_with_the_model_and_applied_by_predict(capsys, tmp_path, digits_model):
    model_path, _ = digits_model
    model = package.load(model_path)
    scaling = model.feature_scaling
    assert scaling is not None and scaling.scale.max() == 16 and scaling.offset.min() == 0  # minmax of raw pixels
    assert model.trained_on["scale"] == "minmax" and model.trained_on["label"] == "target"
    from fastnn.datasets import load_digits

    X, y = load_digits()
    raw = model.predict(X * 16)
    unscaled = package.NetClassifier()
    unscaled.params = model.params
    np.testing.assert_array_equal(raw, unscaled.predict((X * 16 - scaling.offset) / scaling.scale))


def test_unscaled_features_are_warned_about(capsys, tmp_path):
    path, _ = _digits_table(tmp_path, "big.csv", factor=1600, label_at=-1, rows=400)
    code, out, err = _main(capsys, "train", "--data", path, "--scale", "none", "--epochs", 1, "--hidden", 8,
                           "--quiet")
    assert code == 0 and "warning: features reach 1600" in err and "--scale" in err
    code, out, err = _main(capsys, "train", "--data", path, "--epochs", 1, "--hidden", 8, "--quiet")
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize("content, message", [
    ("label,a,b\n0,1,2\n1,,3\n", "row 3, column 'a' is empty, not a number"),
    ("label,a,b\n0,1,2\n1,NA,3\n", "row 3, column 'a' holds 'NA', not a number"),
    ("label;a;b\n0;1;2\n1;2;3\n", "the rows are separated by ';', not by commas"),
    ("label\n0\n1\n", "the rows have one column; they need the features and a label"),
], ids=["empty-cell", "NA", "semicolons", "one-column"])
def test_unclear_csv_files_get_a_message_that_names_the_cause(capsys, tmp_path, content, message):
    (tmp_path / "d.csv").write_text(content)
    code, _, err = _main(capsys, "train", "--data", tmp_path / "d.csv")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_unknown_labels_are_printed_as_text(capsys, tmp_path):
    X = np.random.default_rng(0).standard_normal((60, 2))
    np.savez(tmp_path / "a.npz", X=X, y=np.array(["one", "two"] * 30))
    code, _, _ = _main(capsys, "train", "--data", tmp_path / "a.npz", "--epochs", 1, "--hidden", 4, "--quiet",
                       "--save", tmp_path / "m.npz")
    assert code == 0
    np.savez(tmp_path / "b.npz", X=X[:4], y=np.array(["three", "one", "one", "two"]))
    code, _, err = _main(capsys, "predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "b.npz")
    assert code == 0 and "such as three;" in err and "np.str_" not in err


def test_a_network_too_large_for_the_machine_is_refused_before_the_data_loads(capsys, monkeypatch):
    from fastnn import datasets

    def never(*args, **kwargs):
        raise AssertionError("the data must not be loaded")

    monkeypatch.setattr(datasets, "load_digits", never)
    code, _, err = _main(capsys, "train", "--hidden", 100000, 100000)
    assert code == 2 and "GiB to train in float32; this machine has" in err


# ---------------------------------------------------------------- what a trial as a new user found


def _people(tmp_path, name, header=True, rows=300, extra=""):
    """A table of mixed units with names as labels: age, income, a 0/1 flag, segment."""
    rng = np.random.default_rng(0)
    age, income, member = rng.integers(18, 90, rows), rng.normal(5e4, 2e4, rows).round(2), rng.integers(0, 2, rows)
    segment = np.where(income > 6e4, "high", np.where(income > 4e4, "medium", "low"))
    lines = [f"{a},{i},{m},{s}" for a, i, m, s in zip(age, income, member, segment)]
    text = ("age,income,member,segment\n" if header else "") + "\n".join(lines) + "\n" + extra
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_a_headerless_file_with_names_as_labels_keeps_its_first_row(capsys, tmp_path):
    path = _people(tmp_path, "people.csv", header=False)
    code, out, err = _main(capsys, "train", "--data", path, "--label", 3, "--epochs", 1, "--hidden", 8, "--quiet")
    assert code == 0, err
    assert out.startswith(f"{path}: 180 training, 45 validation, 75 test rows, 3 features, 3 classes")


def test_a_guessed_label_column_is_named_in_the_message_that_fails(capsys, tmp_path):
    code, _, err = _main(capsys, "train", "--data", _people(tmp_path, "people.csv"))
    assert code == 2 and "row 2, column 'segment' holds" in err
    assert "the labels were taken from the first column, 'age': if column 'segment' holds them, choose it with " \
           "--label segment" in err
    (tmp_path / "last.csv").write_text("".join(f"{i % 7},{i % 5},0\n" for i in range(40)))
    code, _, err = _main(capsys, "train", "--data", tmp_path / "last.csv", "--label", 2)
    assert code == 2 and "one class (0); a classifier needs two (the labels were taken from column 2; choose their " \
        "column with --label)" in err


def test_predict_refuses_an_explicit_label_on_a_file_without_one_and_names_a_wrong_width(capsys, tmp_path,
                                                                                         digits_model):
    model_path, _ = digits_model
    path, _ = _digits_table(tmp_path, "features.csv", rows=10)
    code, _, err = _main(capsys, "predict", "--model", model_path, "--data", path, "--label", "target")
    assert code == 2 and "--label target: " in err and "has only the model's 64 feature columns, no labels" in err
    code, _, err = _main(capsys, "predict", "--model", model_path, "--data", _people(tmp_path, "people.csv"))
    assert code == 2 and "the model expects 64 features, so 64 columns (or 65 with the labels), but the rows have 4" \
        in err


def test_other_label_like_columns_are_warned_about(capsys, tmp_path):
    path, _ = _digits_table(tmp_path, "two.csv", label_at=-1, rows=300)
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0] + ",label"] + [line + "," + line.rsplit(",", 1)[1] for line in text[1:]]) + "\n")
    code, out, err = _main(capsys, "train", "--data", path, "--label", "target", "--epochs", 1, "--hidden", 8,
                           "--quiet")
    assert code == 0 and "warning: the columns ['label'] look like labels too and are read as features" in err


@pytest.mark.parametrize("extra, message", [
    ("30,46435.14,1,medium,extra\n", "row 302 has 5 columns, the first row 4"),
    ("30,46435.14,1,\n", "row 302 has an empty label; fill it in or drop the row"),
    ("30,nan,1,low\n", "a value is NaN (row 302, feature column 1): a missing value"),
], ids=["extra-field", "empty-label", "nan"])
def test_ragged_rows_empty_labels_and_nan_are_named(capsys, tmp_path, extra, message):
    code, _, err = _main(capsys, "train", "--data", _people(tmp_path, "p.csv", extra=extra), "--label", "segment")
    assert code == 2 and message in err, err


def test_data_in_other_units_than_the_training_data_is_warned_about(capsys, tmp_path, digits_model):
    model_path, _ = digits_model  # trained on raw pixels, 0..16
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", "digits")  # loads scaled to [0, 1]
    assert code == 0 and "warning: the features of digits reach 1, those the model was trained on 16" in err
    path, _ = _digits_table(tmp_path, "raw.csv", rows=50)
    code, out, err = _main(capsys, "predict", "--model", model_path, "--data", path)
    assert code == 0 and "warning" not in err


def test_a_model_is_saved_under_an_npz_name(capsys):
    code, _, err = _main(capsys, "train", "--save", "model.txt")
    assert code == 2 and "--save model.txt: the file name must end in .npz" in err
