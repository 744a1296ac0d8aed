"""Every figure the notebooks draw.

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so
it works headless (CI, servers) and is shown once when it is the last value of
a notebook cell. Save one with ``figure.savefig("name.png")``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def _figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _show_figures_in_notebooks() -> None:
    """Let IPython draw a Figure that ends a cell, without pyplot's global state."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


_show_figures_in_notebooks()


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
    """Each image above a bar chart of its top predicted classes.

    images: uint8 or float 0-1 (N, 3, H, W); labels: (N,); probabilities: (N, classes).
    The true class is named above each image, green when the top guess is right
    and red otherwise; the bar of the true class is green when it is among the
    top guesses.
    """
    count = len(images)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(columns * 3.0, rows * 3.5))
    axes = figure.subplots(
        rows * 2, columns, squeeze=False, gridspec_kw={"height_ratios": [2.2, 1] * rows}
    )
    for slot in range(rows * columns):
        image_axis = axes[2 * (slot // columns), slot % columns]
        bar_axis = axes[2 * (slot // columns) + 1, slot % columns]
        image_axis.axis("off")
        if slot >= count:
            bar_axis.axis("off")
            continue
        truth = int(labels[slot])
        best = probabilities[slot].topk(top)
        indices, values = best.indices.tolist(), best.values.tolist()
        image_axis.imshow(_to_display(images[slot]))
        image_axis.set_title(
            f"true: {classes[truth]}",
            fontsize=9,
            color="tab:green" if indices[0] == truth else "tab:red",
        )
        colors = ["tab:green" if i == truth else "tab:gray" for i in indices]
        bar_axis.barh(range(top), values, color=colors)
        for position, value in enumerate(values):
            label = f"{value:.0%}"
            x = min(value, 0.62) + 0.02
            bar_axis.text(x, position, label, va="center", fontsize=7)
        bar_axis.set_yticks(range(top), [classes[i] for i in indices], fontsize=7)
        bar_axis.invert_yaxis()
        bar_axis.set_xlim(0, 1)
        bar_axis.set_xticks([])
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


# --- Convolution and pooling lessons (03_convolution, 04_pooling) ---------------


def _plain(tensor) -> np.ndarray:
    """Any tensor or array as a float64 NumPy array on the CPU."""
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().double().numpy()
    return np.asarray(tensor, dtype=np.float64)


def _number(value: float) -> str:
    """A short label for a matrix cell: 4, -1, 0.25, 3.25, 11.5, 173."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _fraction(value: float) -> str:
    """A kernel weight as a short fraction when it is one: 1/9, -1/8, 0.3."""
    from fractions import Fraction

    fraction = Fraction(float(value)).limit_denominator(64)
    if abs(float(fraction) - value) > 1e-6:
        return _number(value)
    return str(fraction)


def _matrix(
    axis,
    values,
    title: str = "",
    cmap: str = "Greys",
    vmin: float | None = None,
    vmax: float | None = None,
    fontsize: float = 9,
    label=_number,
) -> None:
    """Draw a small 2D array as coloured cells with its numbers written in."""
    values = _plain(values)
    low = values.min() if vmin is None else vmin
    high = values.max() if vmax is None else vmax
    axis.imshow(values, cmap=cmap, vmin=low, vmax=high)
    middle = (low + high) / 2
    for (row, column), value in np.ndenumerate(values):
        dark = value > middle if cmap in ("Greys", "Blues", "Oranges") else False
        axis.text(
            column,
            row,
            label(value),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark else "black",
        )
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=10)


def _box(axis, top: float, left: float, height: float, width: float, color: str):
    """Outline cells [top, top+height) x [left, left+width) of an imshow."""
    from matplotlib.patches import Rectangle

    axis.add_patch(
        Rectangle(
            (left - 0.5, top - 0.5),
            width,
            height,
            fill=False,
            edgecolor=color,
            linewidth=2.5,
        )
    )


def image_as_array(
    image: torch.Tensor, gray: torch.Tensor, top: int, left: int, size: int = 8
) -> Figure:
    """An image as numbers: colour, grayscale, a patch of 0-255 values, channels.

    image: uint8 (3, H, W); gray: uint8 (H, W). The ``size`` x ``size`` patch
    at (top, left) is outlined and shown with its pixel values written in.
    """
    figure = Figure(figsize=(11, 7.2))
    axes = figure.subplots(2, 3)
    axes[0, 0].imshow(_to_display(image))
    axes[0, 0].set_title(f"colour image, {tuple(image.shape)}", fontsize=10)
    axes[0, 1].imshow(_plain(gray), cmap="gray", vmin=0, vmax=255)
    axes[0, 1].set_title(f"grayscale, {tuple(gray.shape)}, values 0-255", fontsize=10)
    for axis in axes[0, :2]:
        _box(axis, top, left, size, size, "tab:red")
    patch = gray[top : top + size, left : left + size]
    _matrix(axes[0, 2], patch, "", cmap="gray", vmin=0, vmax=255, fontsize=7)
    for text in axes[0, 2].texts:  # gray cmap: dark cells need light text
        row_col = text.get_position()
        value = float(patch[int(row_col[1]), int(row_col[0])])
        text.set_color("white" if value < 128 else "black")
    axes[0, 2].set_title(
        f"the red {size}x{size} patch, as numbers (rows {top}-{top + size - 1}, "
        f"columns {left}-{left + size - 1})",
        fontsize=9,
    )
    for channel, (name, cmap) in enumerate(
        [("red", "Reds"), ("green", "Greens"), ("blue", "Blues")]
    ):
        values = image[channel]
        shown = axes[1, channel].imshow(_plain(values), cmap=cmap, vmin=0, vmax=255)
        axes[1, channel].set_title(
            f"channel {channel} ({name}): {int(values.min())}-{int(values.max())}",
            fontsize=10,
        )
        figure.colorbar(shown, ax=axes[1, channel], fraction=0.046, pad=0.03)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return figure


def image_panels(
    panels: Mapping[str, torch.Tensor],
    columns: int | None = None,
    title: str | None = None,
    cmap: str = "gray",
    symmetric: bool = False,
    panel_size: float = 2.6,
) -> Figure:
    """Images side by side, each with its title; each gray panel has its own scale.

    panels: {title: image}; an image is (3, H, W) (uint8 or 0-1 float, shown in
    colour) or (H, W) (shown with ``cmap``). ``symmetric`` centres the colour
    scale of 2D panels on zero (for signed values such as edge responses).
    """
    count = len(panels)
    columns = columns or count
    rows = -(-count // columns)
    figure = Figure(figsize=(panel_size * columns, (panel_size + 0.35) * rows + 0.5))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, (name, image) in zip(axes.flat, panels.items(), strict=False):
        if image.dim() == 3:
            axis.imshow(_to_display(image), interpolation="nearest")
        else:
            values = _plain(image)
            limit = np.abs(values).max() if symmetric else None
            axis.imshow(
                values,
                cmap=cmap,
                vmin=-limit if symmetric else None,
                vmax=limit if symmetric else None,
                interpolation="nearest",
            )
        axis.set_title(name, fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in list(axes.flat)[count:]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def convolution_step(
    image: torch.Tensor, kernel: torch.Tensor, row: int, column: int
) -> Figure:
    """One step of a convolution by hand: window, kernel, products, their sum.

    image: (H, W); kernel: (k, k); stride 1, no padding. The convolved feature
    is filled in up to output (row, column), in reading order.
    """
    image, kernel = _plain(image), _plain(kernel)
    size = kernel.shape[0]
    window = image[row : row + size, column : column + size]
    products = window * kernel
    out_h, out_w = image.shape[0] - size + 1, image.shape[1] - size + 1
    feature = np.full((out_h, out_w), np.nan)
    for i in range(out_h):
        for j in range(out_w):
            if (i, j) <= (row, column):
                feature[i, j] = (image[i : i + size, j : j + size] * kernel).sum()

    figure = Figure(figsize=(12, 3.3))
    axes = figure.subplots(1, 4, gridspec_kw={"width_ratios": [5, 3, 3, 3]})
    _matrix(axes[0], image, "image", cmap="Blues", vmin=0, vmax=2.5)
    _box(axes[0], row, column, size, size, "tab:red")
    _matrix(axes[1], kernel, "kernel", cmap="Oranges", vmin=0, vmax=2.5)
    _matrix(
        axes[2],
        products,
        f"pointwise product\n(sum = {_number(products.sum())})",
        cmap="Greens",
        vmin=0,
        vmax=2.5,
    )
    axes[3].imshow(np.nan_to_num(feature, nan=0.0), cmap="Reds", vmin=0, vmax=8)
    for (i, j), value in np.ndenumerate(feature):
        if not np.isnan(value):
            axes[3].text(j, i, _number(value), ha="center", va="center", fontsize=11)
    _box(axes[3], row, column, 1, 1, "tab:red")
    axes[3].set_xticks([])
    axes[3].set_yticks([])
    axes[3].set_title("convolved feature", fontsize=10)
    figure.suptitle(
        f"output ({row}, {column}): multiply the window by the kernel cell by "
        f"cell, add up: {_number(products.sum())}",
        fontsize=11,
    )
    figure.tight_layout()
    return figure


def receptive_fields(
    image: torch.Tensor,
    feature_map: torch.Tensor,
    kernel_size: int,
    positions: Sequence[tuple[int, int]],
    title: str = "",
) -> Figure:
    """Where each output looks: windows on the input, matching dots on the output.

    image: (H, W) input; feature_map: (H', W') output of a stride-1 convolution
    without padding; positions: output (row, column) cells to mark. Output
    (i, j) is computed from the window whose top-left input cell is (i, j).
    """
    colors = ["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:cyan"]
    figure = Figure(figsize=(9, 4.4))
    input_axis, output_axis = figure.subplots(1, 2)
    input_axis.imshow(_plain(image), cmap="gray")
    input_axis.set_title(
        f"input {tuple(image.shape)}: {kernel_size}x{kernel_size} receptive fields",
        fontsize=10,
    )
    output_axis.imshow(_plain(feature_map), cmap="gray")
    output_axis.set_title(
        f"output {tuple(feature_map.shape)}: one value per window position",
        fontsize=10,
    )
    for index, (row, column) in enumerate(positions):
        color = colors[index % len(colors)]
        _box(input_axis, row, column, kernel_size, kernel_size, color)
        _box(output_axis, row, column, 1, 1, color)
        output_axis.plot(column, row, "o", ms=7, mfc="none", mec=color, mew=2)
    for axis in (input_axis, output_axis):
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def sliding_window(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0
) -> Figure:
    """Every window position of a square kernel on a square input grid.

    Left: the (padded) input, the first window position outlined in red and
    the next one to its right in orange; the top-left corner of every window
    position is dotted. Right: the output grid, one cell per position.
    """
    padded = size + 2 * padding
    out = (padded - kernel_size) // stride + 1
    figure = Figure(figsize=(8, 4))
    input_axis, output_axis = figure.subplots(
        1, 2, gridspec_kw={"width_ratios": [padded, max(out, 3)]}
    )
    cells = np.zeros((padded, padded))
    cells[padding : padding + size, padding : padding + size] = 1
    input_axis.imshow(cells, cmap="Blues", vmin=-0.4, vmax=3)
    for line in np.arange(-0.5, padded, 1):
        input_axis.axhline(line, color="gray", lw=0.8)
        input_axis.axvline(line, color="gray", lw=0.8)
    for i in range(out):
        for j in range(out):
            input_axis.plot(j * stride, i * stride, ".", color="black", ms=5)
    _box(input_axis, 0, 0, kernel_size, kernel_size, "tab:red")
    if out > 1:
        _box(input_axis, 0, stride, kernel_size, kernel_size, "tab:orange")
    pad_note = f", padding {padding} (pale cells)" if padding else ""
    input_axis.set_title(
        f"input {size}x{size}{pad_note}\nkernel {kernel_size}x{kernel_size}, "
        f"stride {stride}",
        fontsize=10,
    )
    marks = np.ones((out, out, 3))  # white cells; the first two in the box colours
    marks[0, 0] = (0.84, 0.15, 0.16)  # tab:red
    if out > 1:
        marks[0, 1] = (1.0, 0.5, 0.05)  # tab:orange
    output_axis.imshow(marks)
    for line in np.arange(-0.5, out, 1):
        output_axis.axhline(line, color="gray", lw=1)
        output_axis.axvline(line, color="gray", lw=1)
    output_axis.set_title(f"output {out}x{out}", fontsize=10)
    for axis in (input_axis, output_axis):
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return figure


def filter_gallery(
    kernels: Mapping[str, torch.Tensor],
    outputs: Mapping[str, torch.Tensor],
    columns: int = 4,
) -> Figure:
    """Each filter's kernel (numbers) above what it makes of an image.

    kernels: {name: (k, k)}; outputs: {name: (H, W)}, same names. Each output
    is shown on its own scale, clipped to its 1st-99th percentile so a few
    extreme pixels do not wash the rest out.
    """
    names = list(kernels)
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(3.1 * columns, 4.6 * rows))
    grid = figure.add_gridspec(2 * rows, columns, height_ratios=[1, 2.4] * rows)
    for index, name in enumerate(names):
        row, column = divmod(index, columns)
        kernel_axis = figure.add_subplot(grid[2 * row, column])
        output_axis = figure.add_subplot(grid[2 * row + 1, column])
        kernel = _plain(kernels[name])
        limit = max(np.abs(kernel).max(), 1e-12)
        _matrix(
            kernel_axis,
            kernel,
            name,
            cmap="coolwarm",
            vmin=-limit,
            vmax=limit,
            label=_fraction,
        )
        values = _plain(outputs[name])
        low, high = np.percentile(values, [1, 99])
        output_axis.imshow(values, cmap="gray", vmin=low, vmax=max(high, low + 1e-9))
        output_axis.set_xticks([])
        output_axis.set_yticks([])
    figure.tight_layout()
    return figure


def kernel_grid(
    weight: torch.Tensor, columns: int = 8, title: str = "Learned kernels"
) -> Figure:
    """First-layer kernels (C_out, 3, k, k) drawn as tiny colour images.

    Each kernel is scaled on its own to the 0-1 range (its smallest weight
    black, its largest white), as in the usual pictures of AlexNet's filters.
    """
    weight = weight.detach().cpu().float()
    count = weight.shape[0]
    rows = -(-count // columns)
    figure = Figure(figsize=(1.25 * columns, 1.35 * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= count:
            axis.axis("off")
            continue
        kernel = weight[index]
        low, high = kernel.min(), kernel.max()
        scaled = (kernel - low) / (high - low).clamp(min=1e-12)
        axis.imshow(_to_display(scaled), interpolation="nearest")
        axis.set_title(str(index), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def feature_maps(
    maps: torch.Tensor,
    columns: int = 8,
    title: str = "Feature maps",
    cmap: str = "viridis",
) -> Figure:
    """One panel per channel of a (C, H, W) feature map, each on its own scale."""
    maps = maps.detach().cpu().float()
    count = maps.shape[0]
    rows = -(-count // columns)
    figure = Figure(figsize=(1.4 * columns, 1.5 * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= count:
            axis.axis("off")
            continue
        axis.imshow(maps[index].numpy(), cmap=cmap, interpolation="nearest")
        axis.set_title(str(index), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_comparison(histories, title: str) -> Figure:
    """Validation accuracy per epoch of several runs, one line each.

    histories: {label: History}. A label containing "shuffled" is drawn dashed.
    """
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    colors = {"MLP": "tab:blue", "CNN": "tab:orange"}
    for label, history in histories.items():
        color = next((c for key, c in colors.items() if key in label), None)
        style = "--" if "shuffled" in label else "-"
        axis.plot(
            history["epoch"],
            history["val_accuracy"],
            style,
            marker="o",
            ms=4,
            color=color,
            label=label,
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation accuracy")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=9)
    axis.set_title(title)
    figure.tight_layout()
    return figure


def pooling_windows(
    x: torch.Tensor, kernel_size: int, outputs: Mapping[str, torch.Tensor]
) -> Figure:
    """A small input with each non-overlapping window in its own colour, and
    each pooled output cell in the colour of the window it summarises.

    x: (H, W), H and W multiples of ``kernel_size`` (stride = kernel size);
    outputs: {name: (H / k, W / k)}.
    """
    from matplotlib.patches import Rectangle

    palette = ["#f4a582", "#92c5de", "#b8e186", "#fdb863", "#c2a5cf", "#d9d9d9"]
    values = _plain(x)
    out_w = values.shape[1] // kernel_size

    def color_of(i: int, j: int) -> str:
        return palette[(i * out_w + j) % len(palette)]

    figure = Figure(figsize=(3.2 * (1 + len(outputs)), 3.4))
    axes = figure.subplots(
        1,
        1 + len(outputs),
        gridspec_kw={"width_ratios": [2] + [1.2] * len(outputs)},
    )
    panels = [
        (axes[0], values, f"input {values.shape[0]}x{values.shape[1]}", kernel_size)
    ]
    panels += [
        (axis, _plain(out), name, 1)
        for axis, (name, out) in zip(axes[1:], outputs.items(), strict=True)
    ]
    for axis, cells, name, block in panels:
        axis.set_xlim(-0.5, cells.shape[1] - 0.5)
        axis.set_ylim(cells.shape[0] - 0.5, -0.5)
        axis.set_aspect("equal")
        for (i, j), value in np.ndenumerate(cells):
            axis.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=color_of(i // block, j // block),  # window's colour
                    edgecolor="white",
                    lw=2,
                )
            )
            axis.text(j, i, _number(value), ha="center", va="center")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(name, fontsize=10)
    figure.tight_layout()
    return figure


def shift_sensitivity(
    stages: Sequence[str], changes: Mapping[str, Sequence[float]], title: str
) -> Figure:
    """Relative change of a network's activations when the input shifts.

    stages: names of the layers measured, in order; changes: {shift label:
    one relative change per stage}, where relative change is
    ||f(shifted) - f(original)|| / ||f(original)||.
    """
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    for label, values in changes.items():
        axis.plot(range(len(stages)), list(values), "-o", ms=4, label=label)
    axis.set_xticks(range(len(stages)), stages, rotation=20, ha="right", fontsize=9)
    axis.set_ylabel("relative change of activations")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=9)
    axis.set_title(title)
    figure.tight_layout()
    return figure


def prediction_stability(
    shifts: Sequence[int], agreement: Sequence[float], title: str
) -> Figure:
    """Share of predictions unchanged when the input moves by a few pixels."""
    figure = Figure(figsize=(6, 3.6))
    axis = figure.subplots()
    axis.bar([str(s) for s in shifts], agreement, color="tab:blue")
    for position, value in enumerate(agreement):
        axis.text(position, value, f"{value:.1%}", ha="center", va="bottom")
    axis.set_ylim(0, 1.1)
    axis.set_xlabel("shift (pixels right and down)")
    axis.set_ylabel("predictions unchanged")
    axis.set_title(title)
    figure.tight_layout()
    return figure


# ------------------------------------------- recap and optimizer lessons (01, 02)
_COLORS = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
]


def activation_functions(
    functions: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    x_range: tuple[float, float] = (-4.0, 4.0),
    columns: int = 3,
) -> Figure:
    """Each activation (solid) with its derivative (dashed), one panel each.

    functions: {name: elementwise function of a float tensor}. The derivative
    is computed by autograd, so it is that of the code, not of a formula.
    """
    x = torch.linspace(*x_range, 801, dtype=torch.float64, requires_grad=True)
    rows = (len(functions) + columns - 1) // columns
    figure = Figure(figsize=(3.6 * columns, 2.8 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for axis, (name, function) in zip(axes, functions.items(), strict=False):
        y = function(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        axis.plot(x.detach(), y.detach(), color="tab:blue", label="f(x)")
        axis.plot(x.detach(), slope, "--", color="tab:orange", label="f'(x)")
        axis.axhline(0, color="black", lw=0.6)
        axis.axvline(0, color="black", lw=0.6)
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.set_xlabel("x")
    for axis in axes[len(functions) :]:
        axis.axis("off")
    axes[0].legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def decision_boundaries(
    panels: Mapping[str, tuple[Callable, torch.Tensor, torch.Tensor]],
    extent: tuple[float, float, float, float] = (-0.5, 1.5, -0.5, 1.5),
    resolution: int = 200,
) -> Figure:
    """Regions a 2-D classifier assigns to class 0 and 1, with its training points.

    panels: {title: (predict, inputs, targets)}, where predict maps float
    (M, 2) points to (M,) predicted classes 0/1, inputs are float (N, 2) and
    targets (N,) of 0/1. Points are drawn as circles (0) and crosses (1),
    ringed in red when the classifier gets them wrong.
    """
    x_low, x_high, y_low, y_high = extent
    grid_x, grid_y = torch.meshgrid(
        torch.linspace(x_low, x_high, resolution),
        torch.linspace(y_low, y_high, resolution),
        indexing="xy",
    )
    grid = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)
    figure = Figure(figsize=(3.4 * len(panels), 3.4))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (title, (predict, inputs, targets)) in zip(
        axes, panels.items(), strict=True
    ):
        with torch.no_grad():
            regions = predict(grid).reshape(resolution, resolution).float()
            predicted = predict(inputs.float()).long()
        axis.contourf(
            grid_x,
            grid_y,
            regions,
            levels=[-0.5, 0.5, 1.5],
            colors=["#cfe0f3", "#fbd9b5"],
        )
        for label, marker, color in ((0, "o", "tab:blue"), (1, "X", "tab:orange")):
            chosen = targets.long() == label
            axis.scatter(
                inputs[chosen, 0],
                inputs[chosen, 1],
                marker=marker,
                s=90,
                color=color,
                edgecolor="black",
                label=f"target {label}",
                zorder=3,
            )
        wrong = predicted != targets.long()
        if wrong.any():
            axis.scatter(
                inputs[wrong, 0],
                inputs[wrong, 1],
                s=330,
                facecolor="none",
                edgecolor="tab:red",
                lw=2,
                label="misclassified",
                zorder=4,
            )
        axis.set_title(f"{title}: {int(wrong.sum())} wrong", fontsize=10)
        axis.set_xlim(x_low, x_high)
        axis.set_ylim(y_low, y_high)
        axis.set_aspect("equal")
        axis.set_xlabel("$x_1$")
        axis.set_ylabel("$x_2$")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    return figure


def fitted_functions(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_grid: torch.Tensor,
    curves: Mapping[str, torch.Tensor],
    truth: torch.Tensor | None = None,
    title: str = "",
    ylim: tuple[float, float] | None = None,
    columns: int = 4,
) -> Figure:
    """One panel per fitted function of one input, with the training points.

    x_train, y_train: (N,); x_grid: (M,); curves: {label: values on x_grid (M,)};
    truth: optional (M,) noise-free function, drawn dashed.
    """
    columns = min(columns, len(curves))
    rows = (len(curves) + columns - 1) // columns
    figure = Figure(figsize=(3.3 * columns, 3.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False, sharey=True).flatten()
    for axis in axes[len(curves) :]:
        axis.axis("off")
    for axis, (label, values) in zip(axes, curves.items(), strict=False):
        if truth is not None:
            axis.plot(x_grid, truth, "--", color="gray", lw=1, label="true function")
        axis.plot(x_grid, values, color="tab:blue", label="learned")
        axis.scatter(x_train, y_train, s=14, color="black", zorder=3, label="training")
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("x")
        axis.grid(alpha=0.3)
        if ylim is not None:
            axis.set_ylim(*ylim)
    axes[0].legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def train_test_errors(
    capacities: Sequence[float],
    train_errors: Sequence[float],
    test_errors: Sequence[float],
    xlabel: str = "capacity",
    ylabel: str = "mean squared error",
    title: str = "Training and test error against capacity",
    log_y: bool = True,
) -> Figure:
    """Training and test error side by side over a capacity sweep, gap shaded."""
    figure = Figure(figsize=(6.5, 3.8))
    axis = figure.subplots()
    axis.plot(capacities, train_errors, "-o", ms=4, color="tab:blue", label="training")
    axis.plot(capacities, test_errors, "-s", ms=4, color="tab:red", label="test")
    axis.fill_between(
        capacities,
        train_errors,
        test_errors,
        color="tab:red",
        alpha=0.1,
        label="gap (test - training)",
    )
    best = int(np.argmin(test_errors))
    axis.axvline(capacities[best], color="gray", ls=":", lw=1)
    axis.annotate(
        f"lowest test error\n({xlabel} {capacities[best]:g})",
        (capacities[best], test_errors[best]),
        textcoords="offset points",
        xytext=(8, 25),
        fontsize=8,
        arrowprops={"arrowstyle": "->", "color": "gray"},
    )
    if log_y:
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def curve_panels(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    xlabel: str = "epoch",
    ylabel: str = "loss",
    columns: int = 3,
    log_y: bool | Collection[str] = False,
    title: str = "",
) -> Figure:
    """A grid of small line plots: {panel title: {line label: values}}.

    Each line's x axis counts from 1 (epochs, steps or layers). A label ending
    in "(validation)" or "(test)" is drawn dashed in the colour of the line
    before it, so a training curve and its validation curve pair up. Lines of
    at most 10 points get markers. log_y: True for every panel, or the titles
    of the panels to draw on a logarithmic scale. Non-finite values (a loss
    that became nan) leave a gap.
    """
    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(3.9 * columns, 3.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for axis, (panel, lines) in zip(axes, panels.items(), strict=False):
        color_index = -1
        for label, values in lines.items():
            dashed = label.endswith(("(validation)", "(test)"))
            if not dashed:
                color_index += 1
            values = np.asarray(values, dtype=float)
            axis.plot(
                np.arange(1, len(values) + 1),
                values,
                "--" if dashed else "-",
                marker="o" if len(values) <= 10 else None,
                ms=4,
                color=_COLORS[color_index % len(_COLORS)],
                label=label,
            )
        if log_y is True or (not isinstance(log_y, bool) and panel in log_y):
            axis.set_yscale("log")
        axis.set_title(panel, fontsize=10)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in axes[len(panels) :]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def histograms(
    values: Mapping[str, torch.Tensor],
    xlabel: str = "weight",
    title: str = "",
    bins: int = 60,
) -> Figure:
    """Overlaid histograms of several sets of numbers, e.g. weights per setting."""
    figure = Figure(figsize=(6.5, 3.6))
    axis = figure.subplots()
    everything = torch.cat([torch.as_tensor(v).flatten() for v in values.values()])
    edges = np.linspace(everything.min().item(), everything.max().item(), bins + 1)
    for color, (label, numbers) in zip(_COLORS, values.items(), strict=False):
        axis.hist(
            torch.as_tensor(numbers).flatten().numpy(),
            bins=edges,
            histtype="step",
            lw=1.6,
            color=color,
            label=label,
        )
    axis.set_xlabel(xlabel)
    axis.set_ylabel("count")
    axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return figure


def optimizer_trajectories(
    surfaces: Mapping[str, tuple[Callable, tuple[float, float, float, float]]],
    trajectories: Mapping[str, Mapping[str, np.ndarray]],
    highlight: str | None = None,
    columns: int = 3,
) -> Figure:
    """Paths of optimizers over 2-D loss surfaces, drawn on the loss contours.

    surfaces: {name: (loss, (x_low, x_high, y_low, y_high))}, where loss maps a
    float tensor of points (..., 2) to losses (...); trajectories: {surface
    name: {optimizer name: (steps + 1, 2) array of positions}}. A start point
    is a black dot, an end point a star. ``highlight`` draws one optimizer bold
    and the others faint.
    """
    count = len(surfaces)
    columns = min(columns, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(4.6 * columns, 4.0 * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    names = list(dict.fromkeys(n for paths in trajectories.values() for n in paths))
    colors = dict(zip(names, _COLORS, strict=False))
    for axis, (surface_name, (loss, extent)) in zip(
        axes, surfaces.items(), strict=False
    ):
        x_low, x_high, y_low, y_high = extent
        grid_x, grid_y = torch.meshgrid(
            torch.linspace(x_low, x_high, 200, dtype=torch.float64),
            torch.linspace(y_low, y_high, 200, dtype=torch.float64),
            indexing="xy",
        )
        with torch.no_grad():
            values = loss(torch.stack([grid_x, grid_y], dim=-1))
        axis.contourf(grid_x, grid_y, values, levels=30, cmap="Greys", alpha=0.55)
        axis.contour(grid_x, grid_y, values, levels=30, colors="gray", linewidths=0.3)
        for name, path in trajectories.get(surface_name, {}).items():
            path = np.asarray(path)
            faint = highlight is not None and name != highlight
            axis.plot(
                path[:, 0],
                path[:, 1],
                "-",
                color=colors[name],
                lw=0.8 if faint else 1.8,
                alpha=0.35 if faint else 1.0,
                label=name,
            )
            axis.plot(*path[-1], "*", color=colors[name], ms=11, mec="black", mew=0.5)
            axis.plot(*path[0], "o", color="black", ms=5)
        axis.set_xlim(x_low, x_high)
        axis.set_ylim(y_low, y_high)
        axis.set_title(surface_name, fontsize=10)
        axis.set_xlabel("$w_1$")
        axis.set_ylabel("$w_2$")
    for axis in axes[count:]:
        axis.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    per_row = len(labels) if columns > 1 else 3
    legend_rows = -(-len(labels) // per_row)
    figure.legend(
        handles, labels, loc="lower center", ncol=per_row, fontsize=8, frameon=False
    )
    figure.tight_layout(rect=(0, 0.045 * legend_rows / rows + 0.02, 1, 1))
    return figure


# --- Saliency maps (06_saliency) ------------------------------------------------
def _saliency_panel(figure, axis, image, heat, signed: bool, overlay: bool) -> None:
    """One map with its colour bar; ``signed``: a diverging scale centred on 0."""
    from matplotlib.ticker import FuncFormatter

    heat = _plain(heat)
    limit = float(np.abs(heat).max()) or 1.0
    if overlay:
        grey = _to_display(image).mean(axis=2)
        axis.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = axis.imshow(
        heat,
        cmap="RdBu_r" if signed else "inferno",
        vmin=-limit if signed else 0,
        vmax=limit,
        alpha=0.65 if overlay else 1.0,
        interpolation="nearest",
    )
    bar = figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.2g}"))


def saliency_maps(
    images: torch.Tensor,
    maps: Mapping[str, torch.Tensor],
    row_titles: Sequence[str] | None = None,
    title: str | None = None,
    overlay: Sequence[str] = (),
) -> Figure:
    """One row per image: the image, then each saliency map with its colour bar.

    images: uint8 or 0-1 float (N, 3, H, W); maps: {column title: (N, H, W)}.
    Every panel has its own scale. A column with negative values gets a
    diverging scale centred on 0 (red: positive, blue: negative); the maps
    named in ``overlay`` are drawn over a grey copy of the image.
    """
    count, columns = len(images), len(maps) + 1
    signed = {name: bool((values < 0).any()) for name, values in maps.items()}
    figure = Figure(figsize=(3.0 * columns, 2.5 * count + 0.4))
    axes = figure.subplots(count, columns, squeeze=False)
    for row in range(count):
        axes[row, 0].imshow(_to_display(images[row]), interpolation="nearest")
        if row_titles is not None:
            axes[row, 0].set_title(row_titles[row], fontsize=8)
        for column, (name, values) in enumerate(maps.items(), start=1):
            _saliency_panel(
                figure,
                axes[row, column],
                images[row],
                values[row],
                signed[name],
                name in overlay,
            )
            if row == 0:
                axes[row, column].set_title(name, fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def randomisation_curves(
    stages: Sequence[str],
    correlations: Mapping[str, torch.Tensor],
    title: str = "How much of each map survives randomising the weights",
) -> Figure:
    """Median rank correlation with the trained model's maps, per randomisation stage.

    correlations: {method: (images, stages)}; the band spans the middle half
    (25th to 75th percentile) of the images.
    """
    figure = Figure(figsize=(7.5, 3.8))
    axis = figure.subplots()
    positions = np.arange(len(stages))
    for name, values in correlations.items():
        values = _plain(values)
        low, middle, high = np.percentile(values, [25, 50, 75], axis=0)
        axis.plot(positions, middle, "-o", ms=4, label=name)
        axis.fill_between(positions, low, high, alpha=0.2)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(positions, stages, rotation=20, ha="right", fontsize=8)
    lowest = min(
        np.percentile(_plain(values), 25, axis=0).min()
        for values in correlations.values()
    )
    axis.set_ylim(max(-1.05, min(-0.3, lowest - 0.05)), 1.05)
    axis.set_ylabel("rank correlation with\nthe trained model's map")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    return figure
