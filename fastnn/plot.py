"""Training curves: the hand-in's Figure 1, loss and accuracy per epoch."""


def plot_history(hist, path=None):
    """Plot training and validation loss and accuracy per epoch, in two panels.

    Parameters
    ----------
    hist : dict
        As returned by NetClassifier.fit: train_loss, train_acc, val_loss, val_acc (the
        validation arrays may be empty).
    path : str or os.PathLike, optional
        Save the figure there (format from the suffix, e.g. .png); otherwise only return it.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (pip install fastnn[plot]).
    """
    try:
        # A bare Figure, not pyplot: no GUI backend is chosen or needed.
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib (or fastnn[plot])") from error
    missing = [key for key in ("train_loss", "train_acc") if key not in hist]
    if missing:
        raise ValueError(f"hist lacks {missing}: pass the dict NetClassifier.fit returns")
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, metric, title in zip(figure.subplots(1, 2), ("loss", "acc"), ("Cross-entropy", "Accuracy")):
        for split in ("train", "val"):
            values = hist.get(f"{split}_{metric}", [])
            if len(values):
                axes.plot(range(1, len(values) + 1), values, marker=".",
                          label="training" if split == "train" else "validation")
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
