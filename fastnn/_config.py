"""Compile options for every Numba kernel, kept in one place.

Kernels are cached on disk (the first call in a fresh process loads them instead of
compiling) and release the GIL, so Python threads can run them side by side.
fastmath is limited to reassociation and contraction (FMA), which let the sums
(of squares for weight decay, of exponentials in the softmax) vectorise; without
`nnan`/`ninf`, NaN and inf keep their IEEE behaviour, which the kernels rely on to
detect them.
"""

FASTMATH = {"reassoc", "contract"}
# error_model="numpy": a float division by zero gives inf or NaN, as in NumPy, instead of
# raising ZeroDivisionError. The check Python's model needs stops every loop with a
# division from vectorising (Adam's update ran 5.6x slower with it).
SERIAL = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
# Only explicit prange loops run in parallel: Numba's automatic parallelisation of array
# expressions (np.zeros, reductions, ...) would wake the thread pool for tiny work.
_ONLY_PRANGE = dict(
    prange=True, comprehension=False, reduction=False, inplace_binop=False,
    setitem=False, numpy=False, stencil=False, fusion=False,
)
PARALLEL = dict(SERIAL, parallel=_ONLY_PRANGE)

# Rows per block of the block pass (small enough to stay in cache from the ReLU to the
# gradient). Reductions give each block its own partial sum and add the partials in
# block order, so results do not depend on the thread count.
ROW_BLOCK = 64

# When the block pass runs in parallel: batches of at least PARALLEL_MIN_ROWS rows, on
# machines with more than PARALLEL_MIN_CORES cores. Measured on 2 cores, the serial pass
# was as fast or faster at every n (BLAS already uses both cores, and Numba's and
# OpenBLAS's idle threads spin against each other); with more cores the BLAS products
# shrink and the serial pass would become the bottleneck (see docs/internals.md).
PARALLEL_MIN_ROWS = 4096
PARALLEL_MIN_CORES = 2

# Rows per chunk when predicting or measuring a whole data set: bounds the hidden
# activations held at once to EVAL_CHUNK x h.
EVAL_CHUNK = 1024

# BLAS threads (`fastnn._blas_threads`). Products of fewer floating-point operations than
# this run on one thread: measured on 2 cores (quiet), two threads took as long as one up
# to 1.0 MFLOP per product and 0.8x from 1.5 MFLOP (docs/performance.md, "Threads on a
# busy machine").
BLAS_THREADS_MIN_FLOP = 1_000_000
# How long a reading of the machine's load serves before it is read again (seconds), and
# how many more looks, 1 ms apart, confirm a look that found other runnable tasks.
LOAD_PROBE_SECONDS = 0.5
CONFIRM_LOOKS = 3
