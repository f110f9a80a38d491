"""The benchmarks' contenders compute what the reference computes; pytest-benchmark times them.

One table drives these tests, the asv suite and the side-by-side runner
(`fastnn.benchmarks.contenders.CONTENDERS`): each contender of a task is a parameter, and
the timings are grouped by task, shape and dtype. The module belongs to the slow tier
(``-m slow``). Without --benchmark-enable each timing is one call (tests/conftest.py),
whose result is checked against `fastnn.reference`; measure with
``python -m pytest tests/test_bench.py -m slow --benchmark-enable``.
Contenders whose library (PyTorch, scikit-learn) is not installed are skipped.
"""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from fastnn import cli, reference  # noqa: E402  (after the skip: without pytest-benchmark nothing here runs)
from fastnn.benchmarks import blas, runner  # noqa: E402
from fastnn.benchmarks.contenders import CONTENDERS, LEARNING_RATE, epoch_order, gemm_operands, gemm_products  # noqa: E402
from fastnn.benchmarks.inputs import MNIST_SHAPE, make_problem, mnist_like  # noqa: E402
from helpers import RTOL, assert_same_params, assert_same_result, error_scale, run_python  # noqa: E402

pytestmark = pytest.mark.slow

# Large enough that a wrong weight-decay term shows beyond the tolerances.
DECAY = 0.1
SEED = 3

# (n, d, h, k): one row; sizes that are not multiples of anything; the digits' widths;
# and one MNIST-shaped batch (uniform data and zero 2-D biases, as the runner's).
SHAPES = [(1, 5, 7, 3), (33, 10, 16, 4), (200, 64, 32, 10), (256, *MNIST_SHAPE)]
# (n, d, h, k, batch_size), batch_size dividing n (see the epoch task in contenders.py):
# one batch, a few, and an MNIST-shaped epoch.
EPOCHS = [(40, 5, 8, 3, 40), (96, 10, 16, 4, 32), (200, 64, 32, 10, 50), (512, *MNIST_SHAPE, 64)]


def shape_id(shape):
    return "x".join(map(str, shape))


def problem(n, d, h, k, dtype):
    """MNIST-shaped benchmark inputs for the MNIST shape, `make_problem` for the small ones."""
    if (d, h, k) == MNIST_SHAPE:
        return mnist_like(n, dtype=dtype)
    return make_problem(n, d, h, k, dtype)


def installed(task, name):
    """The contender, or skip the test when its library is not installed."""
    contender = CONTENDERS[task][name]
    reason = contender.missing()
    if reason is not None:
        pytest.skip(reason)
    return contender


def copies(X, y, params):
    return X.copy(), y.copy(), {key: value.copy() for key, value in params.items()}


def assert_unchanged(before, X, y, params):
    """The contenders share cached inputs: none may write to them."""
    ref_X, ref_y, ref_params = before
    np.testing.assert_array_equal(X, ref_X)
    np.testing.assert_array_equal(y, ref_y)
    for key in ref_params:
        np.testing.assert_array_equal(params[key], ref_params[key], err_msg=key)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONTENDERS["cost_grad"]))
def test_cost_grad_contender(benchmark, name, dtype, shape):
    """Each contender's cost and gradients equal the reference's; the GEMM-only ones, the products."""
    benchmark.group = f"cost_grad {shape_id(shape)} {dtype}"
    contender = installed("cost_grad", name)
    X, y, params = problem(*shape, dtype)
    before = copies(X, y, params)
    run = contender.make(X, y, params, DECAY)
    run()  # compilation and warm-up outside the timing
    comp = benchmark(run)
    assert_unchanged(before, X, y, params)
    if not contender.yardstick:
        assert_same_result(reference.cost_grad(X, y, params, DECAY), comp, dtype, error_scale(X, y, params, DECAY))
        return
    # Each product entry is a sum of terms: rounding moves it by about eps times the sum of
    # their magnitudes, which is the same product of the operands' absolute values.
    operands = [np.asarray(operand, np.float64) for operand in gemm_operands(X, params)]
    ref_products, scales = gemm_products(*operands), gemm_products(*map(np.abs, operands))
    assert len(comp) == len(ref_products)
    for ref, product, scale in zip(ref_products, comp, scales):
        assert product.dtype == np.dtype(dtype) and product.shape == ref.shape
        assert np.all(np.abs(product - ref) <= RTOL[np.dtype(dtype)] * scale)


@pytest.mark.parametrize("case", EPOCHS, ids=shape_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONTENDERS["epoch"]))
def test_epoch_contender(benchmark, name, dtype, case):
    """Each contender's parameters after one epoch equal `reference.train_epoch`'s in the same order,
    and so do its training-set loss and accuracy."""
    n, d, h, k, batch_size = case
    benchmark.group = f"epoch {shape_id(case[:4])} batch={batch_size} {dtype}"
    contender = installed("epoch", name)
    X, y, params = problem(n, d, h, k, dtype)
    before = copies(X, y, params)
    run = contender.make(X, y, params, batch_size, LEARNING_RATE, DECAY, SEED)
    run()  # compilation outside the timing
    comp = benchmark.pedantic(run, rounds=3, iterations=1)
    assert_unchanged(before, X, y, params)
    if contender.yardstick:  # the floor's products, of the last batch
        last = slice((n - 1) // batch_size * batch_size, n)
        operands = [np.asarray(operand, np.float64) for operand in gemm_operands(X[last], params)]
        ref_products, scales = gemm_products(*operands), gemm_products(*map(np.abs, operands))
        m = operands[0].shape[0]
        for ref, product, scale in zip(ref_products, (comp[0][:m], comp[1][:m], comp[2], comp[3][:m], comp[4]), scales):
            assert product.dtype == np.dtype(dtype) and product.shape == ref.shape
            assert np.all(np.abs(product - ref) <= RTOL[np.dtype(dtype)] * scale)
        return
    ref_params, _, _, ref_running_loss, _ = reference.train_epoch(X, y, params, epoch_order(n, SEED), batch_size,
                                                               LEARNING_RATE, DECAY, optimizer="sgd")
    assert_same_params(ref_params, comp.params, dtype)
    running = contender.make(X, y, params, batch_size, LEARNING_RATE, DECAY, SEED, "running")()
    assert_same_params(ref_params, running.params, dtype)
    assert np.isnan(running.accuracy)
    if name != "sklearn":  # whose running loss adds each batch's L2 term
        np.testing.assert_allclose(running.loss, ref_running_loss, rtol=RTOL[np.dtype(dtype)])
    log_probs = reference.log_softmax(reference.logits(X, ref_params))
    np.testing.assert_allclose(comp.loss, -log_probs[np.arange(n), y].mean(), rtol=RTOL[np.dtype(dtype)])
    # A row whose two largest logits tie to rounding may go either way.
    assert abs(comp.accuracy - np.mean(log_probs.argmax(axis=1) == y)) <= 1 / n


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("name", list(CONTENDERS["estimator"]))
def test_estimator_contender(benchmark, name, solver):
    """Each estimator trains exactly the epochs asked (the timing's premise), its loss falling, in float32."""
    benchmark.group = f"estimator {solver} 300x20 float32"
    contender = installed("estimator", name)
    X, _, _ = make_problem(300, 20, 1, 3, "float32")
    y = np.argmax(X @ np.random.default_rng(1).standard_normal((20, 3)), axis=1)  # labels a network can learn
    epochs = 4
    model = benchmark.pedantic(contender.make(X, y, (16,), solver, 50, epochs), rounds=3, iterations=1)
    assert model.n_iter_ == epochs and len(model.loss_curve_) == epochs
    assert np.all(np.diff(model.loss_curve_) < 0), model.loss_curve_
    assert [W.shape for W in model.coefs_] == [(20, 16), (16, 3)]
    assert all(W.dtype == np.float32 for W in model.coefs_)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1, rtol=1e-5)


def _markdown_rows(text):
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return rows[0], rows[2:]  # the header, then the rows after the alignment line


@pytest.mark.parametrize("task, options, n_rows", [
    ("cost_grad", ["--sizes", "8", "16", "--dtypes", "float32"], 2),
    ("epoch", ["--epoch", "--samples", "128", "--batch-sizes", "64"], 1),
    ("estimator", ["--estimator", "--samples", "200"], len(runner.QUICK_ESTIMATOR_CONFIGS)),
    ("estimator", ["--estimator", "--digits", "--epochs", "2"], 3),
    ("estimator", ["--estimator", "--sparse", "--samples", "300", "--epochs", "2"], len(runner.SPARSE_CONFIGS)),
])
def test_runner_times_every_installed_contender(capsys, task, options, n_rows):
    """--quick prints a table with a row per measurement, timing every installed contender."""
    if task == "estimator":
        installed("estimator", "sklearn")
    runner.main(["--quick", "--repeats", "1", *options])
    out, err = capsys.readouterr()
    header, rows = _markdown_rows(out)
    assert len(rows) == n_rows
    skipped = runner.skipped_contenders(task)
    repeats = [line for line in err.splitlines() if "repeat 1/1:" in line]
    assert len(repeats) == n_rows
    for line in repeats:  # "[label] repeat 1/1: name time, name time, ..."
        timed = [entry.split()[0] for entry in line.split(":", 1)[1].split(",")]
        assert timed == [name for name in CONTENDERS[task] if name not in skipped]
    for name in skipped:
        assert f"skipped {CONTENDERS[task][name].label}: " in out
    if task == "cost_grad":  # its table leaves out the columns of a contender that did not run
        assert ("PyTorch" in header) == ("torch" not in skipped)
        assert not any("n/a" in row for row in rows)


@pytest.mark.parametrize("task, options", [
    ("cost_grad", ["--sizes", "8", "--dtypes", "float32"]),
    ("epoch", ["--epoch", "--samples", "128", "--batch-sizes", "64"]),
    ("estimator", ["--estimator", "--digits"]),
])
def test_bench_times_fastnn_and_the_named_contenders_only(capsys, task, options):
    if task == "estimator":
        installed("estimator", "sklearn")
    cli.main(["bench", "--quick", "--contenders", "numpy", *options])
    out, err = capsys.readouterr()
    header, _ = _markdown_rows(out)
    chosen = [name for name in CONTENDERS[task] if name not in runner.OPTIONAL_CONTENDERS or name == "numpy"]
    repeats = [line for line in err.splitlines() if "repeat 1/1:" in line]
    assert repeats
    for line in repeats:
        assert [entry.split()[0] for entry in line.split(":", 1)[1].split(",")] == chosen
    for name, contender in CONTENDERS[task].items():
        if name in runner.OPTIONAL_CONTENDERS and name != "numpy":
            assert contender.label not in header
    if task == "estimator":  # scikit-learn's columns left out; no NumPy MLPClassifier to time
        assert "not timed: numpy has no estimator contender" in out
    else:
        assert CONTENDERS[task]["numpy"].label in header
    assert "skipped" not in out  # nothing else was asked for


def test_bench_refuses_an_unknown_contender_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--contenders", "numpy", "jax"])
    assert exit_.value.code == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "--contenders: unknown jax; choose from numpy torch sklearn sklearn-1" in err


def test_bench_refuses_a_named_contender_that_is_not_installed(capsys, monkeypatch):
    torch = dataclasses.replace(CONTENDERS["epoch"]["torch"], needs="a_library_that_is_not_installed")
    monkeypatch.setitem(CONTENDERS["epoch"], "torch", torch)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--epoch", "--contenders", "numpy", "torch"])
    assert exit_.value.code == 2
    _, err = capsys.readouterr()
    assert err == ("fastnn bench: error: --contenders torch: a_library_that_is_not_installed is not installed: "
                   "pip install a_library_that_is_not_installed\n")


def test_quick_resolves_to_small_sizes_and_explicit_options_win():
    def options(*argv):
        return runner.check_options(cli.parser().parse_args(["bench", *argv]))

    assert options("--quick") == {"sizes": [32, 1024], "dtypes": ["float32", "float64"], "repeats": 1,
                                  "batch_sizes": [256], "samples": 2000, "epoch_dtypes": ["float32"], "epochs": 1,
                                  "contenders": ["numpy", "torch", "sklearn", "sklearn-1"]}
    assert options() == {**runner.DEFAULTS, "contenders": ["numpy", "torch", "sklearn", "sklearn-1"]}
    explicit = options("--quick", "--samples", "500", "--repeats", "2", "--batch-sizes", "32", "--contenders", "numpy")
    assert (explicit["samples"], explicit["repeats"], explicit["batch_sizes"], explicit["contenders"]) == (
        500, 2, [32], ["numpy"])


def test_busy_neighbours_run_during_the_block_and_are_gone_after():
    with runner.busy_neighbours(2):
        children = [int(pid) for pid in _children()]
        assert len(children) >= 2
    assert not set(children) & set(_children())


def _children():
    import psutil  # a dependency of dask.distributed, in the test extra

    return [str(child.pid) for child in psutil.Process().children() if child.status() != psutil.STATUS_ZOMBIE]


def test_the_epoch_table_has_the_flop_limit(capsys):
    runner.main(["--epoch", "--quick", "--samples", "128", "--batch-sizes", "64", "--contenders", "numpy"])
    out, _ = capsys.readouterr()
    header, rows = _markdown_rows(out)
    assert "| fastnn / floor | FLOP limit s | fastnn / limit |" in header
    assert float(rows[0].split("|")[6]) > 0 and float(rows[0].split("|")[7]) > 0
    flop = blas.epoch_flop(128, MNIST_SHAPE) / 1e9
    assert f"FLOP limit, float32: {flop:.1f} GFLOP of products per epoch at " in out


def test_the_epoch_flop_are_those_of_the_gemm_floors_products():
    """Five products per row of a pass, and a forward pass (the first two) over the set for the full metrics."""
    X, y, params = make_problem(40, *MNIST_SHAPE, np.float32, seed=0)
    operands = gemm_operands(X, params)
    pairs = [(operands[0], operands[1]), (operands[2], operands[4]), (operands[2].T, operands[3]),
             (operands[3], operands[4].T), (operands[0].T, operands[2])]
    assert [a @ b for a, b in pairs][0].shape == gemm_products(*operands)[0].shape
    for (a, b), product in zip(pairs, gemm_products(*operands)):
        np.testing.assert_array_equal(a @ b, product)  # the pairs are the yardstick's products
    flop = [2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs]
    assert blas.epoch_flop(40, MNIST_SHAPE, metrics="running") == sum(flop)
    assert blas.epoch_flop(40, MNIST_SHAPE) == sum(flop) + sum(flop[:2])
    assert round(blas.epoch_flop(60000, MNIST_SHAPE) / 1e9, 1) == 73.5


def test_blas_times_every_installed_library_on_one_thread_and_on_all(capsys):
    from fastnn import _blas_libraries
    from fastnn._blas_threads import cpu_budget

    runner.main(["--blas", "--quick", "--batch-sizes", "8", "--hidden", "16", "--epoch-dtypes", "float32", "float64"])
    out, err = capsys.readouterr()
    header, rows = _markdown_rows(out)
    counts = sorted({1, cpu_budget()})
    columns = [f"{_blas_libraries.find(name).description}, {count} thread{'s' if count > 1 else ''}"
               for name in _blas_libraries.installed() for count in counts]
    assert [cell.strip() for cell in header.split("|")[3:-1]] == columns
    assert [[cell.strip() for cell in row.split("|")[1:3]] for row in rows] == [
        [dtype, product] for dtype in ("float32", "float64") for product in ("X W1, batch 8", "X^T dZ1, batch 8")]
    for row in rows:
        rates = [float(cell.strip().strip("*")) for cell in row.split("|")[3:-1]]
        assert all(rate > 0 for rate in rates) and row.count("**") == 2
    with pytest.raises(ValueError, match="--blas times the BLAS libraries alone"):
        runner.check_options(cli.parser().parse_args(["bench", "--blas", "--contenders", "numpy"]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blas_benchmark_calls_each_library_correctly(dtype):
    from fastnn import _blas_libraries

    for name in _blas_libraries.installed():
        library = _blas_libraries.find(name)
        for product, (trans_a, a, b, c) in blas.products(33, 20, 7, np.dtype(dtype)).items():
            blas._gemm_call(library, np.dtype(dtype), trans_a, a, b, c)()
            expected = (a.T if trans_a else a) @ b
            np.testing.assert_allclose(c, expected, rtol=0, atol=RTOL[np.dtype(dtype)] * np.abs(expected).max(),
                                       err_msg=f"{name}: {product}")


def test_the_epoch_chart_is_drawn(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    runner.main(["--epoch", "--quick", "--repeats", "1", "--samples", "128", "--batch-sizes", "32", "64",
                 "--chart", str(tmp_path / "epoch.png")])
    out, _ = capsys.readouterr()
    assert f"chart: {tmp_path / 'epoch.png'}" in out
    assert (tmp_path / "epoch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("options, message", [(["--busy", "-1"], "--busy"), (["--digits"], "--digits"),
                                              (["--chart", "c.png"], "--chart"), (["--epoch", "--hidden", "0"],
                                                                                  "--hidden")])
def test_runner_refuses_bad_scenarios(options, message):
    with pytest.raises(ValueError, match=message):
        runner.main(options)


def test_bench_command_takes_the_runner_options():
    # Reported: "fastnn bench --sizes 32 --repeats 1" was an unrecognized argument.
    from fastnn.cli import bench, parser

    args = parser().parse_args(["bench", "--sizes", "32", "--repeats", "1", "--quick"])
    assert (args.run, args.sizes, args.repeats, args.quick, args.epoch) == (bench, [32], 1, True, False)


def test_bench_help_lists_its_options():
    result = run_python("-m", "fastnn", "bench", "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--quick", "--sizes", "--repeats", "--epoch", "--estimator", "--batch-sizes", "--samples", "--busy",
                   "--digits", "--contenders"):
        assert option in result.stdout
    assert "(default: all installed: numpy torch sklearn sklearn-1)" in " ".join(result.stdout.split())


def test_import_fastnn_reaches_neither_the_benchmarks_nor_torch():
    result = run_python("-c", "import fastnn, sys; "
                              "assert 'torch' not in sys.modules and 'fastnn.benchmarks' not in sys.modules",
                        timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # compiles all sixteen pairs
def test_runner_times_every_activation_and_output(capsys):
    runner.main(["--combinations", "--sizes", "8", "--dtypes", "float64", "--repeats", "1"])
    out, err = capsys.readouterr()
    header, rows = _markdown_rows(out)
    assert header == "| activation | output | float64 n=8 / GEMM |"
    assert [row.split("|")[1:3] for row in rows] == [
        [f" {activation} ", f" {output} "] for activation in runner.ACTIVATIONS for output in runner.OUTPUTS]
    assert all(float(row.split("|")[3]) > 0 for row in rows)


def test_scaling_times_fastnn_on_each_thread_count(capsys, monkeypatch):
    from fastnn import _blas_threads
    from fastnn.benchmarks import threads

    assert [threads.thread_counts(cpus) for cpus in (1, 2, 6, 8)] == [[1], [1, 2], [1, 2, 4, 6], [1, 2, 4, 8]]
    monkeypatch.setattr(threads, "COST_GRAD_ROWS", 64)
    runner.main(["--scaling", "--quick", "--samples", "128", "--batch-sizes", "32", "64"])
    out, err = capsys.readouterr()
    header, rows = _markdown_rows(out)
    counts = threads.thread_counts(_blas_threads.cpu_budget())
    assert header.split("|")[2:-1] == [f" {count} thread{'s' if count > 1 else ''} " for count in counts]
    assert [row.split("|")[1].strip() for row in rows] == [
        "epoch, batch 32, float32", "epoch, batch 64, float32", "cost_grad, n = 64, float32"]
    for row in rows:
        cells = row.split("|")[2:-1]
        assert cells[0].strip().endswith(" s") and all("x, " in cell and "%)" in cell for cell in cells[1:])
    assert len([line for line in err.splitlines() if "repeat 1/1:" in line]) == len(rows)
    with pytest.raises(ValueError, match="--scaling times fastnn alone"):
        runner.check_options(cli.parser().parse_args(["bench", "--scaling", "--contenders", "numpy"]))
