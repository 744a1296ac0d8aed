"""Every figure renders headless to a PNG with the content it promises."""

from __future__ import annotations

import io

import torch
from matplotlib.figure import Figure

from course_utils import plots
from course_utils.training import History

CLASSES = [f"class{i}" for i in range(10)]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_sample_grid_has_a_row_per_class(eurosat):
    figure = plots.sample_grid(
        eurosat.images, eurosat.labels, eurosat.classes, per_class=4
    )
    assert len(figure.axes) == 40
    assert figure.axes[0].get_ylabel() == "AnnualCrop"
    assert _png(figure).startswith(b"\x89PNG")


def test_class_balance_labels_every_bar():
    counts = {"a": 3, "b": 5}
    figure = plots.class_balance(counts)
    texts = [t.get_text().strip() for t in figure.axes[0].texts]
    assert texts == ["3", "5"]
    _png(figure)


def test_learning_curves_draw_train_and_validation_per_run():
    record = {
        "epoch": 1,
        "train_loss": 1.0,
        "train_accuracy": 0.5,
        "val_loss": 1.2,
        "val_accuracy": 0.4,
    }
    history = History([record, {**record, "epoch": 2, "train_loss": 0.5}])
    figure = plots.learning_curves({"a": history, "b": history})
    loss_axis = figure.axes[0]
    assert len(loss_axis.lines) == 4
    assert list(loss_axis.lines[0].get_ydata()) == [1.0, 0.5]
    _png(figure)


def test_confusion_matrix_counts_pairs():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    predictions = torch.tensor([0, 1, 1, 2, 2, 0])
    figure = plots.confusion_matrix(labels, predictions, ["a", "b", "c"])
    image = figure.axes[0].images[0].get_array()
    assert image.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert "accuracy 66.7%" in figure.axes[0].get_title()
    _png(figure)


def test_predictions_show_top_classes():
    images = torch.rand(3, 3, 64, 64)
    probabilities = torch.softmax(torch.randn(3, 10), dim=1)
    labels = probabilities.argmax(dim=1)
    figure = plots.predictions(images, labels, probabilities, CLASSES, columns=2, top=3)
    titles = [a.get_title() for a in figure.axes if a.get_title()]
    assert titles == [f"true: {CLASSES[i]}" for i in labels.tolist()]
    _png(figure)


def test_compare_bars_label_values():
    figure = plots.compare_bars({"x": 0.5, "y": 0.75}, "runs")
    assert [t.get_text().strip() for t in figure.axes[0].texts] == ["50.0%", "75.0%"]
