"""fastnn's kernels keep a consistent on-disk cache when processes compile them at once."""

import os
import time

import pytest
from numba.core.caching import IndexDataCacheFile

from fastnn._kernels import blas, block, compile, network, predict, updates
from fastnn._numba_cache import ORPHAN_AGE_SECONDS, DamageTolerantCache, RaceFreeCacheFile
from helpers import JIT_DISABLED, run_python

# The cache and the compile events exist only where Numba compiles (not under NUMBA_DISABLE_JIT=1).
pytestmark = pytest.mark.skipif(JIT_DISABLED, reason="NUMBA_DISABLE_JIT=1: nothing is compiled or cached")

KERNEL_MODULES = (blas, block, updates, network, predict)


def _cache_files(folder, cls=RaceFreeCacheFile):
    return [cls(str(folder), "kernel-10.py311", "stamp") for _ in range(2)]


def _interleave(first, second, stale_index):
    """first and second save at once; with stale_index, second read the index before first wrote it."""
    if stale_index:
        snapshot = second._load_index()
        second._load_index = lambda: dict(snapshot)
    first.save("signature-a", ("machine code", "a"))
    second.save("signature-b", ("machine code", "b"))


@pytest.mark.parametrize("stale_index", [False, True], ids=["fresh-index", "stale-index"])
def test_an_index_entry_only_ever_leads_to_its_own_code(tmp_path, stale_index):
    _interleave(*_cache_files(tmp_path), stale_index)
    reader = _cache_files(tmp_path)[0]
    assert reader.load("signature-b") == ("machine code", "b")
    # A lost index entry only means compiling once more, never someone else's code.
    assert reader.load("signature-a") == (None if stale_index else ("machine code", "a"))


def test_numbas_own_numbering_shares_one_data_file_between_two_signatures(tmp_path):
    # Why fastnn replaces it: under the same interleaving both signatures pick data file 1.
    first, second = _cache_files(tmp_path, IndexDataCacheFile)
    _interleave(first, second, stale_index=True)
    assert first._load_index() == {"signature-b": "kernel-10.py311.1.nbc"}
    assert sorted(os.listdir(tmp_path)) == ["kernel-10.py311.1.nbc", "kernel-10.py311.nbi"]


def test_old_orphaned_data_files_are_removed_and_young_ones_kept(tmp_path):
    first, second = _cache_files(tmp_path)
    first.save("signature-a", "a")
    old = tmp_path / "kernel-10.py311.0123456789abcdef.nbc"
    young = tmp_path / "kernel-10.py311.fedcba9876543210.nbc"
    for orphan in (old, young):
        orphan.write_bytes(b"left by a writer whose index entry was lost")
    long_ago = time.time() - 2 * ORPHAN_AGE_SECONDS
    os.utime(old, (long_ago, long_ago))
    second.save("signature-b", "b")
    assert not old.exists() and young.exists()
    assert second.load("signature-a") == "a" and second.load("signature-b") == "b"


def _kernels():
    return {f"{module.__name__}.{name}": value for module in KERNEL_MODULES for name, value in vars(module).items()
            if name.startswith("_") and hasattr(getattr(value, "_cache", None), "_cache_file")}


def test_every_kernel_uses_the_safe_cache_stamped_with_all_kernel_sources():
    kernels = _kernels()
    assert len(kernels) > 15
    for name, kernel in kernels.items():
        assert type(kernel._cache) is DamageTolerantCache, name
        assert type(kernel._cache._cache_file) is RaceFreeCacheFile, name
        assert kernel._cache._cache_file._source_stamp[1] == compile.SOURCE_DIGEST, name


def test_the_digest_covers_every_kernel_module():
    import os

    folder = os.path.dirname(compile.__file__)
    kernel_files = {os.path.join("_kernels", name) for name in os.listdir(folder) if name.endswith(".py")}
    assert kernel_files <= set(compile._SOURCES)
    assert {"_config.py", "_numba_cache.py"} <= set(compile._SOURCES)


def test_a_damaged_index_or_data_file_reads_as_a_miss(tmp_path):
    cache_file = RaceFreeCacheFile(str(tmp_path), "kernel-10.py311", "stamp")
    cache_file.save("signature", ("machine code",))
    for path in tmp_path.iterdir():
        path.write_bytes(path.read_bytes()[:7])  # truncated, as by a full disk
    assert cache_file.load("signature") is None
    (tmp_path / "kernel-10.py311.nbi").write_bytes(b"")
    assert cache_file.load("signature") is None


@pytest.mark.slow  # three fresh processes compiling into an empty cache
def test_a_cached_caller_of_a_parallel_kernel_runs_in_a_fresh_process(tmp_path):
    # numba 8578: compiled in a process that loaded its parallel callee from the cache,
    # the driver's cache entry does not record that the threading layer must start; the next
    # process to load it crashed (SIGSEGV) until fastnn started the layer itself.
    import subprocess
    import sys

    parallel_cost_grad = """
import numpy as np
from fastnn import _engine
from fastnn.params import to_layers
import fastnn
W, b = to_layers(fastnn.get_init_params(4, 3, 2, seed=0))
print(_engine.cost_grad(np.ones((5, 4)), np.zeros(5, np.int64), W, b, 0.1, parallel=True)[1])
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    run = lambda: subprocess.run([sys.executable, "-c", parallel_cost_grad], env=env, capture_output=True, text=True,
                                 timeout=600)
    # 1: compiles the driver with its callees; 2: loads the callees and compiles the driver
    # again (its cache entry removed); 3: loads the driver alone.
    runs = [run()]
    removed = list(tmp_path.rglob("*._cost_grad_parallel-*"))  # the parallel driver's index and data
    assert len(removed) >= 2, sorted(path.name for path in tmp_path.rglob("*"))
    for path in removed:
        path.unlink()
    runs += [run(), run()]
    for run_ in runs:
        assert run_.returncode == 0, run_.stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout


GC_PROBE = """
import gc, numpy as np, numba
from numba.core import event
from fastnn._kernels.block import _sum_blocks_into

seen = []

class Probe(event.Listener):  # registered after fastnn's own listener: sees its effect
    def on_start(self, ev):
        seen.append(gc.isenabled())
    def on_end(self, ev):
        pass

event.register("numba:compile", Probe())
_sum_blocks_into(np.ones((3, 4)), np.empty(4))      # a fastnn kernel compiles
after_fastnn = gc.isenabled()
numba.njit(lambda x: x + 1)(1)                       # someone else's function compiles
gc.disable()                                         # the user's choice, kept
_sum_blocks_into(np.ones((3, 4), np.float32), np.empty(4, np.float32))
print(seen[0], after_fastnn, seen[1], gc.isenabled())
"""


def test_the_garbage_collector_pauses_only_while_a_fastnn_kernel_compiles(tmp_path):
    """Paused during a fastnn kernel's compilation, enabled after it, untouched for other
    libraries' functions and when the user had disabled it."""
    run = run_python("-c", GC_PROBE, env={"NUMBA_CACHE_DIR": tmp_path})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "True", "False"]


def test_a_failed_compilation_resumes_the_garbage_collector():
    """Numba sends the end event also when compilation raises: the collector resumes.

    Driven by hand: a kernel that fails to compile crashes Numba 0.68 itself at exit."""
    import gc

    listener = compile._Compilations()
    kernel = type("Event", (), {"data": {"dispatcher": block._sum_blocks_into}})()
    other = type("Event", (), {"data": {"dispatcher": type("D", (), {"py_func": len})()}})()
    assert gc.isenabled()
    try:
        listener.on_start(kernel)
        listener.on_start(other)  # a callee of another library, inside the kernel's compilation
        assert not gc.isenabled()
        listener.on_end(other)
        assert not gc.isenabled()
        listener.on_end(kernel)  # as after a TypingError
        assert gc.isenabled()
    finally:
        gc.enable()


def test_an_unusable_numba_cache_dir_is_named_in_a_warning(tmp_path):
    """Numba falls back to another cache folder when NUMBA_CACHE_DIR cannot be used; fastnn says so."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = run_python("-c", "import fastnn", env={"NUMBA_CACHE_DIR": blocker / "cache"})
    assert run.returncode == 0, run.stderr
    assert f"NUMBA_CACHE_DIR={blocker / 'cache'} cannot be used" in run.stderr
    run = run_python("-W", "error::RuntimeWarning", "-c", "import fastnn", env={"NUMBA_CACHE_DIR": tmp_path / "ok"})
    assert run.returncode == 0, run.stderr


COMPILE_NOTICE = """
import warnings, numpy as np
import fastnn
from fastnn._kernels.block import _sum_blocks_into

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    _sum_blocks_into(np.ones((3, 4)), np.empty(4))                          # compiles: announced
    _sum_blocks_into(np.ones((3, 4), np.float32), np.empty(4, np.float32))  # compiles again: not announced twice
notices = [w for w in caught if w.category is fastnn.CompileWarning]
print(len(notices))
for notice in notices:
    print(notice.filename == "<string>")
    print(notice.message)
"""


def test_a_compilation_is_announced_once_per_process_at_the_callers_line(tmp_path):
    """fastnn.CompileWarning: once, naming the cache folder, attributed to the user's code."""
    run = run_python("-c", COMPILE_NOTICE, env={"NUMBA_CACHE_DIR": tmp_path})
    assert run.returncode == 0, run.stderr
    count, at_caller, message = run.stdout.splitlines()
    assert (count, at_caller) == ("1", "True")
    assert (message.startswith("fastnn is compiling its kernels for a new configuration (about")
            and str(tmp_path) in message)
    run = run_python("-c", COMPILE_NOTICE, env={"NUMBA_CACHE_DIR": tmp_path})
    assert run.returncode == 0 and run.stdout.split() == ["0"], run.stdout + run.stderr  # cached: nothing compiles


FITS_COUNTING_COMPILATIONS = """
import warnings
import numpy as np, scipy.sparse
from numba.core import event

compiled = []

class Outermost(event.Listener):  # the fastnn kernels compiled (not loaded from the cache)
    depth = 0
    def on_start(self, ev):
        if self.depth == 0:
            function = getattr(ev.data.get("dispatcher"), "py_func", None)
            if (getattr(function, "__module__", "") or "").startswith("fastnn"):
                compiled.append(function.__name__)
        self.depth += 1
    def on_end(self, ev):
        self.depth -= 1

event.register("numba:compile", Outermost())
warnings.simplefilter("ignore")
import fastnn
from fastnn import MLPClassifier, MLPRegressor, NetClassifier

rng = np.random.default_rng(0)
X = rng.random((60, 5))
y = np.arange(60) % 3
for data in (X, scipy.sparse.csr_matrix(X)):
    for model in (MLPClassifier((6,), max_iter=3), MLPClassifier((6,), solver="sgd", early_stopping=True, max_iter=3),
                  MLPClassifier((6,), solver="lbfgs", max_iter=3), MLPClassifier((6,), activation="tanh", max_iter=3)):
        model.fit(data, y).predict_proba(data)
        model.score(data, y)
    MLPClassifier((6,), max_iter=3).fit(data, y, sample_weight=np.ones(60))
    MLPClassifier((6,), max_iter=3).fit(data, y % 2).predict(data)
    MLPRegressor(hidden_layer_sizes=(6,), max_iter=3).fit(data, X[:, 0]).predict(data)
    MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", loss="poisson", max_iter=3).fit(data, X[:, :2])
    fastnn.cost_grad(data, y, fastnn.get_init_params(5, 6, 3, seed=0), 0.1)
net = NetClassifier()
net.fit(X, y, X, y, init_params=fastnn.get_init_params(5, 6, 3, seed=0), epochs=2, optimizer="adam")
net.predict(X)
print(sorted(set(compiled)))
"""


@pytest.mark.slow  # compiles four configurations into an empty cache
def test_after_fastnn_compile_a_new_process_compiles_nothing_for_those_configurations(tmp_path):
    """What `fastnn compile` compiles covers every fit, prediction and cost_grad of its configurations."""
    pytest.importorskip("sklearn")
    env = {"NUMBA_CACHE_DIR": tmp_path}
    compiled = run_python("-m", "fastnn", "compile", "--dtype", "float64", "--hidden-layers", "1", env=env)
    assert compiled.returncode == 0, compiled.stderr
    assert f"cached in {tmp_path}" in compiled.stdout
    fits = run_python("-c", FITS_COUNTING_COMPILATIONS, env=env)
    assert fits.returncode == 0, fits.stderr[-3000:]
    assert fits.stdout.split("\n")[-2] == "[]"
