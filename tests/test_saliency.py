"""Occlusion and gradient saliency: against Captum, the plain definition, bad input.

Everything runs on the shipped course CNN and real EuroSAT test images.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion, Saliency
from torch import nn

from course_utils import data, models, plots, saliency, widgets


@pytest.fixture(scope="module")
def trained(eurosat):
    """(model, images, labels): the shipped CNN and one test image of 3 classes."""
    model, metadata = models.load_course_cnn()
    splits = data.eurosat_splits(
        dataset=eurosat,
        fast=True,
        normalization=metadata["normalization"],
        progress=False,
    )
    labels = splits.test.labels
    chosen = [int(torch.nonzero(labels == name)[0]) for name in (1, 3, 8)]
    images = torch.stack([splits.test[index][0] for index in chosen])
    return model, images, labels[chosen]


def occlusion_by_definition(model, image, label, patch_size, stride, fill):
    """The plain definition: one occluded copy per forward pass, in a Python loop."""
    height, width = image.shape[-2:]
    total, count = torch.zeros(height, width), torch.zeros(height, width)
    with torch.no_grad():
        clean = torch.softmax(model(image[None]), dim=1)[0, label]
        for top in saliency.patch_positions(height, patch_size, stride):
            for left in saliency.patch_positions(width, patch_size, stride):
                copy = image.clone()
                copy[:, top : top + patch_size, left : left + patch_size] = fill
                drop = clean - torch.softmax(model(copy[None]), dim=1)[0, label]
                total[top : top + patch_size, left : left + patch_size] += drop
                count[top : top + patch_size, left : left + patch_size] += 1
    return total / count


def softmax_of(model: nn.Module) -> nn.Module:
    return nn.Sequential(model, nn.Softmax(dim=1))


# ------------------------------------------------------------ against Captum
@pytest.mark.parametrize("stride", [8, 4])
def test_occlusion_equals_captum_on_softmax_when_patches_tile(trained, stride):
    # Captum reports the drop of whatever the model returns, averaged over every
    # window covering a pixel. Wrapped in softmax, that is exactly our map when
    # the windows tile the image: (64 - 8) is a multiple of 8 and of 4.
    model, images, labels = trained
    ours = saliency.occlusion_map(model, images, labels, patch_size=8, stride=stride)
    theirs = Occlusion(softmax_of(model)).attribute(
        images,
        sliding_window_shapes=(3, 8, 8),
        strides=(3, stride, stride),
        baselines=0.0,
        target=labels,
        perturbations_per_eval=64,
    )
    # Captum spreads the same value over the channels; ours is one map per image.
    assert torch.equal(theirs.amin(dim=1), theirs.amax(dim=1))
    torch.testing.assert_close(ours, theirs[:, 0], atol=1e-6, rtol=0)
    assert ours.abs().max() > 1e-3  # a real signal, not two zero maps


def test_captum_without_softmax_reports_score_differences(trained):
    # Unwrapped, Captum measures drops of the logit, not of the probability:
    # a different quantity, up to a factor of hundreds on this model.
    model, images, labels = trained
    ours = saliency.occlusion_map(
        model, images[:1], labels[:1], patch_size=16, stride=16
    )
    scores = Occlusion(model).attribute(
        images[:1],
        sliding_window_shapes=(3, 16, 16),
        strides=(3, 16, 16),
        target=labels[:1],
        perturbations_per_eval=16,
    )[:, 0]
    assert not torch.allclose(ours, scores, atol=1e-3)
    by_probability = Occlusion(softmax_of(model)).attribute(
        images[:1],
        sliding_window_shapes=(3, 16, 16),
        strides=(3, 16, 16),
        target=labels[:1],
        perturbations_per_eval=16,
    )[:, 0]
    torch.testing.assert_close(ours, by_probability, atol=1e-6, rtol=0)


def test_occlusion_differs_from_captum_only_at_the_uneven_edge(trained):
    # patch 6, stride 4 on 64 pixels: (64 - 6) / 4 is not whole. Captum's last
    # window starts at 60 and is cut to 4 pixels; ours is a full patch at 58,
    # flush with the edge. Away from that strip the same windows cover each
    # pixel, so the maps are equal there.
    model, images, labels = trained
    image, label = images[0], labels[0]
    assert saliency.patch_positions(64, 6, 4) == list(range(0, 57, 4)) + [58]
    ours = saliency.occlusion_map(model, image, label, patch_size=6, stride=4)
    theirs = Occlusion(softmax_of(model)).attribute(
        image[None],
        sliding_window_shapes=(3, 6, 6),
        strides=(3, 4, 4),
        baselines=0.0,
        target=int(label),
        perturbations_per_eval=64,
    )[0, 0]
    torch.testing.assert_close(ours[:58, :58], theirs[:58, :58], atol=1e-6, rtol=0)
    assert not torch.allclose(ours[58:], theirs[58:], atol=1e-6)


def test_gradient_saliency_is_captum_saliency_maximised_over_channels(trained):
    # Captum's Saliency returns |d score / d x| per channel; we keep the largest
    # of the three channels at every pixel (Simonyan et al.).
    model, images, labels = trained
    ours = saliency.gradient_saliency(model, images, labels)
    leaves = images.clone().requires_grad_(True)  # Captum warns about others
    theirs = Saliency(model).attribute(leaves, target=labels, abs=True)
    assert ours.shape == (3, 64, 64)
    torch.testing.assert_close(ours, theirs.amax(dim=1), atol=0, rtol=1e-6)
    assert ours.max() > 0


# ------------------------------------------------- speed trick = definition
@pytest.mark.parametrize(
    ("patch_size", "stride", "fill"),
    [(8, 8, 0.0), (12, 7, 0.0), (5, 5, (0.5, -1.0, 2.0))],
)
def test_both_strategies_give_the_plain_definition(trained, patch_size, stride, fill):
    model, images, labels = trained
    image, label = images[1], int(labels[1])
    fill = torch.tensor(fill)
    expected = occlusion_by_definition(
        model, image, label, patch_size, stride, fill.view(-1, 1, 1)
    )
    for strategy in ("local", "full"):
        ours = saliency.occlusion_map(
            model,
            image,
            label,
            patch_size=patch_size,
            stride=stride,
            fill=fill,
            batch_size=37,
            strategy=strategy,
        )
        torch.testing.assert_close(ours, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("patch_size", "stride"), [(8, 4), (6, 4), (3, 2), (64, 1)])
def test_local_strategy_matches_full_model_runs(trained, patch_size, stride):
    model, images, labels = trained
    settings = {"patch_size": patch_size, "stride": stride}
    local = saliency.occlusion_map(model, images[2], strategy="local", **settings)
    full = saliency.occlusion_map(model, images[2], strategy="full", **settings)
    torch.testing.assert_close(local, full, atol=1e-6, rtol=0)


def test_local_strategy_on_other_course_cnns():
    # Another width, no batch norm, average pooling, a non-square image.
    torch.manual_seed(0)
    model = models.CourseCNN(width=4, batch_norm=False)
    model.features[3] = nn.AvgPool2d(2)
    images = torch.randn(2, 3, 48, 80)
    settings = {"patch_size": 7, "stride": 3, "target": [2, 5]}
    local = saliency.occlusion_map(model, images, strategy="local", **settings)
    full = saliency.occlusion_map(model, images, strategy="full", **settings)
    assert local.shape == (2, 48, 80)
    torch.testing.assert_close(local, full, atol=1e-6, rtol=0)


# ------------------------------------------------- the model is left alone
def test_model_is_left_as_it_was_found():
    torch.manual_seed(0)
    model = models.CourseCNN(width=4, dropout=0.5)
    model.train()
    model.features[1].eval()  # a mix of modes must come back as it was
    modes = [module.training for module in model.modules()]
    state = {name: value.clone() for name, value in model.state_dict().items()}
    images = torch.randn(2, 3, 32, 32)

    model.eval()
    expected_occlusion = saliency.occlusion_map(model, images, 1, patch_size=8)
    expected_gradient = saliency.gradient_saliency(model, images, 1)
    model.train()
    model.features[1].eval()

    for _ in range(2):  # dropout and batch statistics would make runs differ
        occlusion = saliency.occlusion_map(model, images, 1, patch_size=8)
        gradient = saliency.gradient_saliency(model, images, 1)
        torch.testing.assert_close(occlusion, expected_occlusion, atol=1e-6, rtol=0)
        torch.testing.assert_close(gradient, expected_gradient, atol=0, rtol=1e-6)
    assert [module.training for module in model.modules()] == modes
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name  # running statistics too
    assert all(parameter.grad is None for parameter in model.parameters())


def test_existing_parameter_gradients_are_untouched():
    torch.manual_seed(0)
    model = models.CourseCNN(width=4)
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 0.25)
    saliency.gradient_saliency(model, torch.randn(1, 3, 32, 32))
    saliency.occlusion_map(model, torch.randn(3, 32, 32), patch_size=16)
    for parameter in model.parameters():
        assert torch.equal(parameter.grad, torch.full_like(parameter, 0.25))


def test_inputs_that_are_not_leaves_work_and_get_no_gradient():
    torch.manual_seed(0)
    model = models.CourseCNN(width=4)
    raw = torch.randn(2, 3, 32, 32, requires_grad=True)
    images = raw * 2  # not a leaf, part of someone else's graph
    gradient = saliency.gradient_saliency(model, images, [0, 1])
    occlusion = saliency.occlusion_map(model, images, [0, 1], patch_size=8)
    assert raw.grad is None and not gradient.requires_grad
    assert not occlusion.requires_grad
    plain = images.detach()
    torch.testing.assert_close(
        gradient, saliency.gradient_saliency(model, plain, [0, 1])
    )
    torch.testing.assert_close(
        occlusion, saliency.occlusion_map(model, plain, [0, 1], patch_size=8)
    )


def test_gradient_saliency_works_under_no_grad():
    torch.manual_seed(0)
    model = models.CourseCNN(width=4)
    images = torch.randn(1, 3, 32, 32)
    expected = saliency.gradient_saliency(model, images)
    with torch.no_grad():
        torch.testing.assert_close(saliency.gradient_saliency(model, images), expected)


class DeviceRecorder(nn.Module):
    """A model that notes the device of every input it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.model = models.CourseCNN(width=4)
        self.seen: set[torch.device] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add(x.device)
        return self.model(x)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("model_device", DEVICES)
@pytest.mark.parametrize("image_device", DEVICES)
def test_inputs_go_to_the_model_device_and_maps_come_back(model_device, image_device):
    # With one CPU only both are "cpu"; on a CUDA machine the mixed cases run too.
    torch.manual_seed(0)
    model = DeviceRecorder().to(model_device)
    images = torch.randn(2, 3, 32, 32, device=image_device)
    for compute in (
        lambda: saliency.gradient_saliency(model, images),
        lambda: saliency.occlusion_map(model, images, patch_size=16),
    ):
        model.seen.clear()
        result = compute()
        assert model.seen == {torch.device(model_device, 0)} or model.seen == {
            torch.device(model_device)
        }
        assert result.device == images.device


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(64, 64), r"\(C, H, W\) or \(N, C, H, W\).*\(64, 64\)"),
        (torch.zeros(1, 1, 3, 64, 64), r"\(C, H, W\) or \(N, C, H, W\)"),
        (torch.zeros(2, 1, 64, 64), r"expects 3 channels"),
        (torch.zeros(3, 64, 64, dtype=torch.uint8), r"normalise them first"),
        (torch.zeros(0, 3, 64, 64), r"empty batch"),
    ],
)
@pytest.mark.parametrize("function", ["occlusion_map", "gradient_saliency"])
def test_wrong_image_shapes_are_named(images, message, function):
    model = models.CourseCNN(width=4)
    with pytest.raises(ValueError, match=message):
        getattr(saliency, function)(model, images)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (10, r"out of range: the model has 10 classes \(0 to 9\), got \[10, 10\]"),
        (-1, r"out of range"),
        ([1, 2, 3], r"3 targets for 2 images"),
        (1.5, r"integer class indices"),
        (True, r"integer class indices"),
    ],
)
@pytest.mark.parametrize("function", ["occlusion_map", "gradient_saliency"])
def test_target_out_of_range_is_named(target, message, function):
    model = models.CourseCNN(width=4)
    with pytest.raises(ValueError, match=message):
        getattr(saliency, function)(model, torch.zeros(2, 3, 32, 32), target)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"patch_size": 33}, r"patch_size 33 is larger than the image \(32x32\)"),
        ({"patch_size": 0}, r"patch_size must be a positive integer"),
        ({"patch_size": 8, "stride": 0}, r"stride must be a positive integer, got 0"),
        ({"patch_size": 8, "stride": -2}, r"stride must be a positive integer"),
        ({"patch_size": 8, "stride": 9}, r"stride 9 is larger than patch_size 8"),
        ({"fill": torch.zeros(2)}, r"one value per channel, shape \(3,\)"),
        ({"batch_size": 0}, r"batch_size must be a positive integer"),
        ({"strategy": "fastest"}, r"'auto', 'full' or 'local'"),
    ],
)
def test_bad_occlusion_settings_are_named(settings, message):
    model = models.CourseCNN(width=4)
    with pytest.raises(ValueError, match=message):
        saliency.occlusion_map(model, torch.zeros(3, 32, 32), **settings)


def test_local_strategy_refuses_models_it_cannot_crop():
    model = models.MLP(in_features=3 * 32 * 32, hidden=8)
    with pytest.raises(ValueError, match="use 'full'"):
        saliency.occlusion_map(model, torch.zeros(3, 32, 32), strategy="local")
    # "auto" falls back to running the whole model.
    assert saliency.occlusion_map(model, torch.zeros(3, 32, 32)).shape == (32, 32)


# ------------------------------------------------------------------ helpers
@pytest.mark.parametrize(
    ("size", "patch_size", "stride"),
    [(64, 8, 8), (64, 6, 4), (10, 3, 2), (7, 7, 1), (9, 4, 3)],
)
def test_patches_cover_every_pixel_with_full_patches(size, patch_size, stride):
    positions = saliency.patch_positions(size, patch_size, stride)
    covered = torch.zeros(size, dtype=torch.bool)
    for start in positions:
        assert 0 <= start <= size - patch_size
        covered[start : start + patch_size] = True
    assert covered.all()
    assert positions == sorted(set(positions))


def test_rank_correlation_ranks_ties_together():
    ramp = torch.arange(16.0).view(4, 4)
    assert saliency.rank_correlation(ramp, ramp.exp()) == pytest.approx(1.0)
    assert saliency.rank_correlation(ramp, -ramp) == pytest.approx(-1.0)
    # ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3): 4.5 / sqrt(4.5 * 5)
    tied = saliency.rank_correlation(torch.tensor([1.0, 2, 2, 3]), torch.arange(4.0))
    assert tied == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    with pytest.raises(ValueError, match="same shape"):
        saliency.rank_correlation(ramp, ramp.flatten())


# ------------------------------------------------- figures and the explorer
def test_saliency_figures_draw_every_panel():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16)
    maps = {"signed": torch.randn(2, 16, 16), "positive": torch.rand(2, 16, 16)}
    figure = plots.saliency_maps(images, maps, ["a", "b"], overlay=["signed"])
    assert len(figure.axes) == 2 * 3 + 2 * 2  # panels and one colour bar per map
    curves = plots.randomisation_curves(
        ["trained", "head", "all"], {"occlusion": torch.rand(5, 3)}
    )
    assert curves.axes[0].get_ylim()[0] <= -0.3


def test_saliency_explorer_follows_its_controls():
    torch.manual_seed(0)
    model = models.CourseCNN(width=4)
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([3, 7])
    explorer = widgets.SaliencyExplorer(
        model, images, labels, data.CLASSES, torch.zeros(3), torch.ones(3)
    )
    assert explorer.occlusion.shape == explorer.gradient.shape == (32, 32)
    explorer.patch_size.value = 3
    assert explorer.stride.max == 3 and explorer.stride.value == 3
    expected = saliency.occlusion_map(model, images[0], 3, patch_size=3, stride=3)
    torch.testing.assert_close(explorer.occlusion, expected)
    explorer.image.value = 1
    assert "true class <b>Residential</b>" in explorer.summary.value
    assert explorer.picture.value[:4] == b"\x89PNG"
