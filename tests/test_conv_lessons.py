"""The convolution and pooling lessons' explorer and figures.

The explorer is driven the way a student drives it, by setting its controls'
values, and must update its size label, its output and its drawing each time.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from course_utils import ops, plots, widgets
from course_utils.training import History

PNG_SIGNATURE = b"\x89PNG"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _texts(figure: Figure) -> list[str]:
    return [text.get_text() for axis in figure.axes for text in axis.texts]


@pytest.fixture(scope="module")
def gray_image(eurosat) -> torch.Tensor:
    """A real EuroSAT image as grayscale floats, (64, 64), values 0-1."""
    index = eurosat.files.index("Highway/Highway_1.jpg")
    red, green, blue = eurosat.images[index].float() / 255
    return 0.299 * red + 0.587 * green + 0.114 * blue


# --- the explorer ------------------------------------------------------------------


def test_explorer_starts_with_a_valid_output(gray_image):
    explorer = widgets.ConvExplorer(gray_image)
    assert explorer.kernel.value == "identity 3x3"
    assert tuple(explorer.result.shape) == (62, 62)
    assert "output 62x62" in explorer.size_label.value
    assert bytes(explorer.picture.value).startswith(PNG_SIGNATURE)
    # identity without padding: the image minus a one-pixel border
    assert torch.equal(explorer.result, gray_image[1:-1, 1:-1])


def test_explorer_updates_on_every_control(gray_image):
    explorer = widgets.ConvExplorer(gray_image)
    pictures = [bytes(explorer.picture.value)]

    explorer.stride.value = 2
    assert "output 31x31" in explorer.size_label.value
    assert tuple(explorer.result.shape) == (31, 31)
    pictures.append(bytes(explorer.picture.value))

    explorer.padding.value = 1
    assert "output 32x32" in explorer.size_label.value
    pictures.append(bytes(explorer.picture.value))

    explorer.kernel.value = "box blur 7x7"
    assert "kernel 7x7" in explorer.size_label.value
    assert "output 30x30" in explorer.size_label.value  # (64 + 2 - 7) // 2 + 1
    pictures.append(bytes(explorer.picture.value))

    explorer.dilation.value = 2
    assert "output 27x27" in explorer.size_label.value  # (64 + 2 - 13) // 2 + 1
    assert tuple(explorer.result.shape) == (27, 27)
    pictures.append(bytes(explorer.picture.value))

    assert all(picture.startswith(PNG_SIGNATURE) for picture in pictures)
    assert len(set(pictures)) == len(pictures), "the drawing did not change"


def test_explorer_output_is_the_real_convolution(gray_image):
    explorer = widgets.ConvExplorer(gray_image)
    explorer.kernel.value = "edge (Laplacian) 3x3"
    explorer.stride.value = 3
    explorer.padding.value = 2
    kernel = widgets.classic_kernels()["edge (Laplacian) 3x3"]
    expected = F.conv2d(gray_image[None, None], kernel[None, None], stride=3, padding=2)
    torch.testing.assert_close(explorer.result, expected[0, 0], rtol=0, atol=1e-6)
    size = ops.output_size(64, 3, stride=3, padding=2)
    assert f"output {size}x{size}" in explorer.size_label.value


def test_explorer_reports_a_kernel_too_large_instead_of_failing():
    kernels = {"big": torch.ones(9, 9) / 81}
    explorer = widgets.ConvExplorer(torch.rand(8, 8), kernels=kernels)
    assert explorer.result is None
    assert "no output" in explorer.size_label.value
    explorer.padding.value = 1  # 8 + 2 >= 9: fits now
    assert tuple(explorer.result.shape) == (2, 2)
    assert "output 2x2" in explorer.size_label.value


def test_explorer_rejects_a_colour_image():
    with pytest.raises(ValueError, match="grayscale"):
        widgets.ConvExplorer(torch.rand(3, 16, 16))


def test_classic_kernels_are_what_their_names_say():
    kernels = widgets.classic_kernels()
    image = torch.rand(1, 1, 20, 20)
    for name, kernel in kernels.items():
        side = int(name.rsplit("x", 1)[1])
        assert tuple(kernel.shape) == (side, side), name
        if name.startswith(("edge", "identity", "sharpen")):
            assert kernel.sum().item() == (0 if name.startswith("edge") else 1), name
        if "blur" in name:
            torch.testing.assert_close(kernel.sum(), torch.tensor(1.0))
    identity = ops.conv2d(image, kernels["identity 3x3"][None, None])
    assert torch.equal(identity[0, 0], image[0, 0, 1:-1, 1:-1])


# --- figures -----------------------------------------------------------------------


def test_image_as_array_writes_the_patch_values(eurosat):
    image = eurosat.images[0]
    gray = image[1]  # any uint8 (H, W) grid will do
    figure = plots.image_as_array(image, gray, top=3, left=5, size=4)
    texts = _texts(figure)
    patch = gray[3:7, 5:9].flatten().tolist()
    assert [int(text) for text in texts] == patch
    assert _png(figure).startswith(PNG_SIGNATURE)


def test_image_panels_mixes_colour_and_gray_panels():
    panels = {"colour": torch.rand(3, 8, 8), "gray": torch.randn(8, 8)}
    figure = plots.image_panels(panels, columns=3, symmetric=True, title="t")
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[:2] == ["colour", "gray"]
    low, high = figure.axes[1].images[0].get_clim()
    assert low == -high  # symmetric colour scale for signed values
    _png(figure)


def test_convolution_step_shows_the_lecture_example():
    image = torch.tensor(
        [
            [1.0, 1, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 1, 1],
            [0, 0, 1, 1, 0],
            [0, 1, 1, 0, 0],
        ]
    )
    kernel = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    expected = torch.tensor([[4.0, 3, 4], [2, 4, 3], [2, 3, 4]])
    assert torch.equal(
        ops.conv2d_loop(image[None, None], kernel[None, None])[0, 0], expected
    )

    first = plots.convolution_step(image, kernel, row=0, column=0)
    assert "sum = 4" in first.axes[2].get_title()
    assert [t.get_text() for t in first.axes[3].texts] == ["4"]
    last = plots.convolution_step(image, kernel, row=2, column=2)
    filled = [int(t.get_text()) for t in last.axes[3].texts]
    assert filled == expected.flatten().int().tolist()
    _png(last)


def test_receptive_fields_and_sliding_window_render():
    image = torch.rand(16, 16)
    feature = ops.conv2d(image[None, None], torch.ones(1, 1, 3, 3))[0, 0]
    figure = plots.receptive_fields(image, feature, 3, [(0, 0), (5, 7)])
    assert len(figure.axes[0].patches) == 2 and len(figure.axes[1].patches) == 2
    _png(figure)

    for stride, size in ((1, 5), (2, 3)):
        figure = plots.sliding_window(7, 3, stride=stride)
        assert figure.axes[1].get_title() == f"output {size}x{size}"
        _png(figure)
    padded = plots.sliding_window(5, 3, stride=1, padding=1)
    assert padded.axes[1].get_title() == "output 5x5"


def test_filter_gallery_draws_kernel_and_output_per_filter():
    kernels = {"identity": torch.eye(3), "blur": torch.ones(3, 3) / 9}
    outputs = {name: torch.rand(10, 10) for name in kernels}
    figure = plots.filter_gallery(kernels, outputs, columns=2)
    assert len(figure.axes) == 4
    assert figure.axes[0].get_title() == "identity"
    assert "1/9" in _texts(figure)
    _png(figure)


def test_kernel_and_feature_map_grids_have_one_panel_each():
    weight = torch.randn(32, 3, 3, 3)
    figure = plots.kernel_grid(weight)
    drawn = [axis for axis in figure.axes if axis.images]
    assert len(drawn) == 32
    shown = drawn[0].images[0].get_array()
    assert shown.min() == 0 and shown.max() == 1  # scaled per kernel
    _png(figure)

    figure = plots.feature_maps(torch.rand(5, 12, 12), columns=4)
    assert len([axis for axis in figure.axes if axis.images]) == 5
    _png(figure)


def test_training_comparison_draws_one_line_per_run():
    def history(accuracies):
        result = History()
        for epoch, accuracy in enumerate(accuracies, start=1):
            result.records.append({"epoch": epoch, "val_accuracy": accuracy})
        return result

    runs = {"MLP, original": history([0.3, 0.4]), "CNN, shuffled": history([0.2, 0.5])}
    figure = plots.training_comparison(runs, "title")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(runs)
    assert lines[1].get_linestyle() == "--"
    _png(figure)


def test_pooling_windows_writes_every_value():
    x = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    pooled = F.max_pool2d(x[None, None], 2)[0, 0]
    figure = plots.pooling_windows(x, 2, {"max": pooled})
    assert [t.get_text() for t in figure.axes[1].texts] == ["6", "8", "3", "4"]
    assert len(figure.axes[0].texts) == 16
    _png(figure)


def test_shift_figures_render():
    figure = plots.shift_sensitivity(
        ["conv 1", "pool 1"], {"1-pixel shift": [0.5, 0.3]}, "title"
    )
    assert len(figure.axes[0].get_lines()) == 1
    _png(figure)
    figure = plots.prediction_stability([1, 2], [0.98, 0.9], "title")
    assert [t.get_text() for t in figure.axes[0].texts] == ["98.0%", "90.0%"]
    _png(figure)
