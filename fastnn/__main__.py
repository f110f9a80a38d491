"""``python -m fastnn``: train the hand-in's network on the embedded digits and report.

The main job of the README's first set-up command: a stratified 75/25 split of the
8x8 digits, a two-layer network (h = 256) trained by plain SGD (batch 32, lr 0.1,
c 1e-4, 30 epochs), one line per epoch, the test accuracy and the time per epoch.
"""

import argparse
import time

import numpy as np

from . import NetClassifier, get_init_params
from .datasets import load_digits, stratified_split


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--c", type=float, default=1e-4)
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "nesterov", "adam"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_digits(np.dtype(args.dtype))
    train, test = stratified_split(y, (0.75, 0.25), seed=args.seed)
    print(f"digits: {len(train)} training and {len(test)} test images of 8x8 pixels, 10 classes")
    params = get_init_params(X.shape[1], args.hidden, 10, seed=args.seed, dtype=np.dtype(args.dtype))
    clf = NetClassifier()
    start = time.perf_counter()
    hist = clf.fit(X[train], y[train], X[test], y[test], params, batch_size=args.batch_size, lr=args.lr,
                   c=args.c, epochs=args.epochs, optimizer=args.optimizer, seed=args.seed, verbose=True)
    seconds = time.perf_counter() - start
    best = int(np.argmin(hist["val_loss"]))
    print(f"best validation loss in epoch {best + 1}; test accuracy {clf.score(X[test], y[test]):.4f}")
    print(f"{seconds:.2f} s for {len(hist['train_loss'])} epochs (the first includes loading or compiling the kernels)")


if __name__ == "__main__":
    main()
