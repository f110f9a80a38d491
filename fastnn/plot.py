"""Training curves: the hand-in's Figure 1, loss and accuracy per epoch."""

import numpy as np


def plot_history(hist, path=None, title=None, kept_epoch=None, dpi=150):
    """Plot training and validation loss and accuracy per epoch, in two panels.

    Parameters
    ----------
    hist : dict
        As returned by NetClassifier.fit: train_loss, train_acc, val_loss, val_acc (the
        validation arrays may be empty).
    path : str or os.PathLike, optional
        Save the figure there (format from the suffix, e.g. .png); otherwise only return it.
    title : str, optional
        The figure's title (the command line names the data, the layers, the optimizer,
        the learning rate and the test accuracy).
    kept_epoch : int, optional
        The epoch (from 1) whose parameters were kept: marked in both panels.
    dpi : int, default 150

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (pip install matplotlib).
    ValueError
        hist lacks the training curves.
    """
    try:
        # A bare Figure, not pyplot: no GUI backend is chosen or needed.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as error:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib") from error
    missing = [key for key in ("train_loss", "train_acc") if key not in hist]
    if missing:
        raise ValueError(f"hist lacks {missing}: pass the dict NetClassifier.fit returns")
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    if title:
        figure.suptitle(title)
    panels = (("loss", "cross-entropy (mean over the set)", "Loss"), ("acc", "accuracy (fraction correct)", "Accuracy"))
    for axes, (metric, ylabel, name) in zip(figure.subplots(1, 2), panels):
        for split in ("train", "val"):
            values = np.asarray(hist.get(f"{split}_{metric}", []))
            if len(values):
                axes.plot(range(1, len(values) + 1), values, marker="." if len(values) <= 100 else None,
                          label="training" if split == "train" else "validation")
        if kept_epoch is not None:
            axes.axvline(kept_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {kept_epoch}")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(ylabel)
        axes.set_title(name)
        axes.grid(alpha=0.3)
        axes.legend()
    if path is not None:
        figure.savefig(path, dpi=dpi)
    return figure
