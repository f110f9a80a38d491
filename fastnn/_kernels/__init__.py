"""fastnn's Numba kernels, by family. Private: only `fastnn._engine` calls them.

- `compile`: the `kernel` decorator (compile options, the safe on-disk cache, the compile
  notice), `dispatch` (the one way a kernel picks an implementation, by its arguments'
  types) and scalar helpers (`one_like`, `cast_like`).
- `workspaces`: the named tuples of arrays kernels take together (rows, buffers, the
  block pass's workspace, an update's settings).
- `status`: the status codes kernels return (finite, or where NaN or inf appeared).
- `blas`: row-major GEMM callable from kernels (the library `fastnn._blas_libraries` chooses,
  bound by symbol name).
- `elementary`: exp, tanh and the logistic function, vectorised.
- `activations`: the hidden layers' activations and their derivatives.
- `outputs`: the output layers, their losses and their gradients.
- `inputs`: the network's input, a dense matrix or rows of a CSR matrix, behind one interface.
- `block`: the block pass around the output layer (bias, activation, logits, the loss, its
  gradient and the activation's derivative, 64 rows at a time), serial and parallel.
- `updates`: weight decay and the optimizer updates (sgd, momentum, nesterov, adam).
- `network`: the drivers: one batch's cost and gradients (cost_grad) and one training
  epoch, for every activation and output (runtime codes of `fastnn.families`).
- `predict`: the chunked forward pass, and the loss and accuracy of logits.

Each family has its twin in `fastnn.reference`. Every kernel is made by `compile.kernel`,
which applies the compile options of `fastnn._config` and the safe on-disk cache.
"""
