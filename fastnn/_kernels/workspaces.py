"""The arrays kernels take together, declared once: named tuples the engine allocates and
checks (`fastnn._buffers`) and the kernels read by name.
"""

import collections

Rows = collections.namedtuple("Rows", "X targets row_weights")
Rows.__doc__ = """Rows of a data set, or a batch of them.

X: a dense (rows, d) matrix or `fastnn._kernels.inputs.SparseRows`; targets: (rows, 1)
int64 labels for the softmax output, else (rows, k) in X's dtype; row_weights: (rows,)
per-row weights in X's dtype, or empty (every row weighs 1). The buffers an epoch
gathers its batches into are Rows too (X unused for a sparse X).
"""

Step = collections.namedtuple("Step", "c loss_range lr optimizer hyper")
Step.__doc__ = """What each optimizer step of an epoch applies: the weight decay c, the loss range
(`outputs`), the learning rate, the optimizer's code and its hyper-parameters (`updates`)."""

StepBuffers = collections.namedtuple("StepBuffers", "d_W d_b hidden scratch block")
StepBuffers.__doc__ = """What one batch's pass writes (`fastnn._buffers.step_buffers`).

d_W, d_b: the gradients, shaped like the layers; hidden: one (rows, h_l) buffer per
hidden layer; scratch: a flat buffer for the widest inner layer (the logits, for a
network without hidden layers); block: the serial block pass's `BlockWorkspace`.
"""

BlockWorkspace = collections.namedtuple(
    "BlockWorkspace", "d_w_out_partial d_b_hidden_partial d_b_out_partial losses flags logits d_hidden")
BlockWorkspace.__doc__ = """The block pass's work arrays (`block`) for a number of row blocks.

Per block: partials of the output layer's weight gradient (blocks, h, k) and of the two
bias gradients (blocks, h) and (blocks, k), its loss (float64) and its flag (bool); and
one block's logits (ROW_BLOCK, k) and d_hidden (ROW_BLOCK, h).
"""
