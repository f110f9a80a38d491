"""fastnn's Numba kernels, by family. Private: only `fastnn._engine` calls them.

- `blas`: row-major GEMM callable from kernels (NumPy's OpenBLAS, bound by symbol name).
- `block`: the block pass around the output layer (bias, ReLU, logits, log-softmax,
  cross-entropy, its gradient and the ReLU mask, 64 rows at a time), serial and parallel.
- `updates`: weight decay and the optimizer updates (sgd, momentum, nesterov, adam).
- `network`: the drivers: one batch's cost and gradients (cost_grad), one training step,
  one training epoch.
- `predict`: the chunked forward pass, and the loss and accuracy of logits.

Each family has its twin in `fastnn.reference`. Every kernel is made by `compile.kernel`,
which applies the compile options of `fastnn._config` and the safe on-disk cache.
"""
