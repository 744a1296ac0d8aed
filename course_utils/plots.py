"""Every figure the notebooks draw.

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so
it works headless (CI, servers) and is shown once when it is the last value of
a notebook cell. Save one with ``figure.savefig("name.png")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def _to_display(image: torch.Tensor) -> np.ndarray:
    """A (3, H, W) uint8 or 0-1 float image as an (H, W, 3) array for imshow."""
    image = image.detach().cpu()
    if image.dtype == torch.uint8:
        image = image.float() / 255
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def sample_grid(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    per_class: int = 6,
    seed: int = 0,
) -> Figure:
    """A grid with one row per class and ``per_class`` random images in each.

    images: uint8 (N, 3, H, W) or float 0-1; labels: (N,) class indices.
    """
    generator = torch.Generator().manual_seed(seed)
    figure = Figure(figsize=(per_class * 1.2 + 2.2, len(classes) * 1.2))
    axes = figure.subplots(len(classes), per_class, squeeze=False)
    for row, name in enumerate(classes):
        members = torch.nonzero(labels == row).flatten()
        chosen = members[torch.randperm(len(members), generator=generator)[:per_class]]
        for column in range(per_class):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(chosen):
                axis.imshow(_to_display(images[chosen[column]]))
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle("EuroSAT: random images of every class")
    figure.tight_layout()
    return figure


def class_balance(counts: Mapping[str, int], title: str = "Images per class") -> Figure:
    """Horizontal bars: how many images each class has."""
    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    names = list(counts)
    axis.barh(names, [counts[name] for name in names], color="tab:blue")
    axis.invert_yaxis()
    for position, name in enumerate(names):
        axis.text(counts[name], position, f" {counts[name]:,}", va="center", fontsize=8)
    axis.set_xlabel("images")
    axis.set_title(title)
    axis.set_xlim(0, max(counts.values()) * 1.15)
    figure.tight_layout()
    return figure


def learning_curves(histories, title: str = "Learning curves") -> Figure:
    """Loss and accuracy per epoch, training solid and validation dashed.

    histories: one ``History`` or a dict {label: History} to compare runs.
    """
    if not isinstance(histories, Mapping):
        histories = {"": histories}
    figure = Figure(figsize=(11, 3.8))
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    colors = iter(
        [
            "tab:blue",
            "tab:orange",
            "tab:green",
            "tab:red",
            "tab:purple",
            "tab:brown",
            "tab:pink",
            "tab:gray",
        ]
        * 4
    )
    for label, history in histories.items():
        color = next(colors)
        epochs = history["epoch"]
        prefix = f"{label} " if label else ""
        for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
            axis.plot(
                epochs,
                history[f"train_{metric}"],
                "-o",
                color=color,
                ms=3,
                label=f"{prefix}train",
            )
            if "val_" + metric in history.records[0]:
                axis.plot(
                    epochs,
                    history[f"val_{metric}"],
                    "--s",
                    color=color,
                    ms=3,
                    label=f"{prefix}validation",
                )
    loss_axis.set_ylabel("cross-entropy loss")
    accuracy_axis.set_ylabel("accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    accuracy_axis.legend(fontsize=8, loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_matrix(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    classes: Sequence[str],
    title: str = "Confusion matrix",
) -> Figure:
    """Counts of (true class, predicted class), with each row's recall on the right.

    labels, predictions: int (N,) class indices.
    """
    n = len(classes)
    matrix = torch.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)
    figure = Figure(figsize=(8, 7))
    axis = figure.subplots()
    shown = axis.imshow(matrix.numpy(), cmap="Blues")
    figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.12)
    threshold = matrix.max().item() / 2
    for row in range(n):
        for column in range(n):
            value = matrix[row, column].item()
            if value:
                axis.text(
                    column,
                    row,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > threshold else "black",
                )
    recall = matrix.diag() / matrix.sum(dim=1).clamp(min=1)
    for row in range(n):
        axis.text(n - 0.3, row, f"{recall[row]:.0%}", va="center", fontsize=8)
    axis.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(n), classes, fontsize=8)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    accuracy = matrix.diag().sum().item() / max(matrix.sum().item(), 1)
    axis.set_title(f"{title} (accuracy {accuracy:.1%}; recall per class at right)")
    figure.tight_layout()
    return figure


def predictions(
    images: torch.Tensor,
    labels: torch.Tensor,
    probabilities: torch.Tensor,
    classes: Sequence[str],
    columns: int = 4,
    top: int = 3,
) -> Figure:
    """Images with their top predicted classes and probabilities.

    images: uint8 or float 0-1 (N, 3, H, W); labels: (N,); probabilities: (N, classes).
    The true class is named above each image, green when the top guess is right.
    """
    count = len(images)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(columns * 3.2, rows * 1.9))
    axes = figure.subplots(
        rows,
        columns * 2,
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1.3] * columns},
    )
    for slot in range(rows * columns):
        image_axis = axes[slot // columns, 2 * (slot % columns)]
        bar_axis = axes[slot // columns, 2 * (slot % columns) + 1]
        image_axis.axis("off")
        if slot >= count:
            bar_axis.axis("off")
            continue
        probs = probabilities[slot]
        best = probs.topk(top)
        correct = best.indices[0].item() == int(labels[slot])
        image_axis.imshow(_to_display(images[slot]))
        image_axis.set_title(
            f"true: {classes[int(labels[slot])]}",
            fontsize=8,
            color="tab:green" if correct else "tab:red",
        )
        names = [classes[i] for i in best.indices.tolist()]
        bar_axis.barh(
            range(top),
            best.values.numpy(),
            color=[
                "tab:green" if i == int(labels[slot]) else "tab:gray"
                for i in best.indices.tolist()
            ],
        )
        bar_axis.set_yticks(range(top), names, fontsize=7)
        bar_axis.invert_yaxis()
        bar_axis.set_xlim(0, 1)
        bar_axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    return figure


def compare_bars(
    values: Mapping[str, float], title: str, xlabel: str = "accuracy"
) -> Figure:
    """One horizontal bar per run, labelled with its value."""
    figure = Figure(figsize=(6.5, 0.5 * len(values) + 1.2))
    axis = figure.subplots()
    names = list(values)
    axis.barh(names, [values[name] for name in names], color="tab:blue")
    axis.invert_yaxis()
    for position, name in enumerate(names):
        axis.text(
            values[name], position, f" {values[name]:.1%}", va="center", fontsize=8
        )
    axis.set_xlim(0, 1.12)
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    figure.tight_layout()
    return figure
