"""Numba's on-disk cache, made safe: for kernels that call parallel kernels, for
processes that compile the same kernel at once, for edits to other kernel modules, and
for damaged cache files.

Parallel callees: a cached kernel that calls a `parallel=True` kernel needs Numba's
threading layer started before it runs. Numba records that need in the cache entry only
when the callee is compiled together with it (numba issues 8578 and 9938, open), so an
entry written by a process that had the callee already loaded lacks it, and the next
process to load it crashes. `start_threading_layer` starts the layer up front.

Concurrent compiles:
Numba names a new cache entry's data file by the first number its index does not use.
Two processes that compile new specialisations of one kernel at the same time (joblib
or dask workers, pytest-xdist) can both pick the same number: one's index then points
at the other's machine code, and the next call with that signature crashes (numba
issue 4807, open). fastnn's kernels instead give each data file a unique name and write
it before the index that names it, so an index entry only ever leads to its own code.
An index update can still lose a concurrent writer's entry; that kernel compiles again
once, which is harmless.

Stamps: an index records the stamp of its kernel's source file, and Numba discards an
index whose stamp differs. fastnn adds a digest of all its kernel sources to the stamp
(`fastnn._kernels.compile`), since a kernel inlines code from other modules.

Damage: a truncated, empty or corrupt index or data file (a full disk, a killed
process) made Numba raise in every later process. Here any error reading an entry is a
cache miss: the kernel compiles again and overwrites the entry.
"""

import glob
import os
import time
import uuid

import numba
from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.dispatcher import Dispatcher

# Data files no index names, older than this, are removed when an index is written
# (younger ones may belong to a writer whose index update is still to come).
ORPHAN_AGE_SECONDS = 600


class RaceFreeCacheFile(IndexDataCacheFile):
    """IndexDataCacheFile whose data files have unique names, written before the index,
    and whose damaged entries read as misses."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception:  # truncated, empty or corrupt: start a new index
            return {}

    def load(self, key):
        try:
            return super().load(key)
        except Exception:  # a damaged data file: compile again
            return None

    def save(self, key, data):
        prefix = self._data_name_pattern.split("{")[0]
        data_name = f"{prefix}{uuid.uuid4().hex[:16]}.nbc"
        self._save_data(data_name, data)  # complete (written atomically) before it is named
        overloads = self._load_index()
        overloads[key] = data_name
        self._save_index(overloads)
        self._remove_orphans(prefix, set(overloads.values()))

    def _remove_orphans(self, prefix, named):
        now = time.time()
        for path in glob.glob(os.path.join(glob.escape(self._cache_path), glob.escape(prefix) + "*.nbc")):
            try:
                if os.path.basename(path) not in named and now - os.path.getmtime(path) > ORPHAN_AGE_SECONDS:
                    os.unlink(path)
            except OSError:  # removed by another process meanwhile
                pass


class DamageTolerantCache(FunctionCache):
    """FunctionCache that treats an entry it cannot rebuild (corrupt machine code) as a miss."""

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # e.g. "LLVM bitcode parsing error" from flipped bytes
            return None


def make_race_free(dispatcher, digest):
    """Give a cached Numba dispatcher a `RaceFreeCacheFile` whose stamp includes `digest`."""
    cache = getattr(dispatcher, "_cache", None) if isinstance(dispatcher, Dispatcher) else None
    cache_file = getattr(cache, "_cache_file", None)
    if type(cache) is FunctionCache and type(cache_file) is IndexDataCacheFile:
        cache.__class__ = DamageTolerantCache
        cache_file.__class__ = RaceFreeCacheFile
        cache_file._source_stamp = (cache_file._source_stamp, digest)


def start_threading_layer():
    """Start Numba's threading layer (once; cheap afterwards) before any kernel runs."""
    numba.get_num_threads()  # public API; it launches the layer's threads first
