"""Compile options for every Numba kernel, kept in one place.

Kernels are cached on disk (the first call in a fresh process loads them instead of
compiling) and release the GIL, so Python threads can run them side by side.
fastmath is limited to reassociation and contraction (FMA), which let the dot
products and column sums vectorise; without `nnan`/`ninf`, NaN and inf keep their IEEE
behaviour, which the kernels rely on to detect them.
"""

FASTMATH = {"reassoc", "contract"}
SERIAL = dict(cache=True, nogil=True, fastmath=FASTMATH)
# Only explicit prange loops run in parallel: Numba's automatic parallelisation of array
# expressions (np.zeros, reductions, ...) would wake the thread pool for tiny work.
_ONLY_PRANGE = dict(
    prange=True, comprehension=False, reduction=False, inplace_binop=False,
    setitem=False, numpy=False, stencil=False, fusion=False,
)
PARALLEL = dict(SERIAL, parallel=_ONLY_PRANGE)

# Rows per block in parallel passes. Reductions give each block its own partial sum
# and add the partials in block order, so results do not depend on the thread count.
ROW_BLOCK = 64

# Batches with at least this many rows run the row pass in parallel; smaller ones run it
# serially, since waking Numba's threads costs more than the pass (measured: see README).
PARALLEL_MIN_ROWS = 4096
