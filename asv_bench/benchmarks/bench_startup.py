"""Cold start in a fresh process: import fastnn, the first cost_grad call, and the main
job (`fastnn train`, 30 epochs on the embedded digits, as the README's first command).

`timeraw_` benchmarks time code run in a new interpreter. Warm cache: the Numba cache
was filled by an earlier process. Cold cache: every run starts with an empty cache, so
the kernels compile.
"""

import os
import shutil
import subprocess
import sys
import tempfile

FIRST_CALL = """
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((32, 784)).astype(np.float32)
params = fastnn.get_init_params(784, 256, 10, seed=0, dtype=np.float32)
fastnn.cost_grad(X, rng.integers(0, 10, 32), params, 1e-4)
"""

# asv reads the time from the process's standard output: the command's lines go elsewhere.
TRAIN = """
import contextlib, io
from fastnn.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["train", "--quiet"])
"""

FRESH_CACHE = "import os, tempfile\nos.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='fastnn-cold-')\n"


class Startup:
    timeout = 600
    repeat = 3
    number = 1

    def setup(self):
        self.cache = tempfile.mkdtemp(prefix="fastnn-asv-cache-")
        os.environ["NUMBA_CACHE_DIR"] = self.cache
        for code in (FIRST_CALL, TRAIN):  # fill the cache
            subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)

    def teardown(self):
        os.environ.pop("NUMBA_CACHE_DIR", None)
        shutil.rmtree(self.cache, ignore_errors=True)
        for name in os.listdir(tempfile.gettempdir()):
            if name.startswith("fastnn-cold-"):
                shutil.rmtree(os.path.join(tempfile.gettempdir(), name), ignore_errors=True)

    def timeraw_import(self):
        return "import fastnn"

    def timeraw_first_call_warm_cache(self):
        return FIRST_CALL

    def timeraw_first_call_cold_cache(self):
        return FRESH_CACHE + FIRST_CALL

    def timeraw_train_warm_cache(self):
        return TRAIN

    def timeraw_train_cold_cache(self):
        return FRESH_CACHE + TRAIN
