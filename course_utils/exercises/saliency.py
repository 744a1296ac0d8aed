"""Checks for the exercises of 06_saliency: the occlusion loop, the gradient map.

Both run the shipped course CNN on one EuroSAT test-split image (the motorway
``Highway/Highway_1.jpg`` of lessons 3 and 4, which the model calls Highway
with p = 0.997) and compare with ``course_utils.saliency``, which
``tests/test_saliency.py`` proves equal to Captum's ``Occlusion`` and
``Saliency``. Each check takes well under a second on a laptop CPU.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable

import torch
import torchvision

from .. import data, models
from .. import saliency as reference_saliency
from . import as_tensor, call, close, fail, passed

IMAGE_FILE = "Highway/Highway_1.jpg"


@functools.lru_cache(maxsize=1)
def _model_and_image() -> tuple[torch.nn.Module, torch.Tensor, int]:
    """The shipped CNN on the CPU, the normalised image (3, 64, 64), its label."""
    model, metadata = models.load_course_cnn(device="cpu")
    mean = torch.tensor(metadata["normalization"]["mean"])
    std = torch.tensor(metadata["normalization"]["std"])
    with warnings.catch_warnings():  # torchvision announces a future decoder
        warnings.simplefilter("ignore", DeprecationWarning)
        raw = torchvision.io.read_image(str(data.find_eurosat() / IMAGE_FILE))
    label = data.CLASSES.index(IMAGE_FILE.split("/")[0])
    return model, data.normalize(raw, mean, std), label


def _setup(training: bool = False) -> tuple[torch.nn.Module, torch.Tensor, int]:
    """A fresh copy of the model (in the given mode), the image and its label."""
    model, image, label = _model_and_image()
    model = copy.deepcopy(model).train(training)
    return model, image.clone(), label


# ------------------------------------------------------------------- occlusion
def _hidden(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    hidden = image.clone()
    hidden[:, top : top + size, left : left + size] = 0.0
    return hidden


def _occlusion_mistakes() -> dict[str, tuple[Callable, str]]:
    """hint: (how the mistake hides patch (i, j), what it records)."""

    def right(image, i, j, size):
        return _hidden(image, i * size, j * size, size)

    def no_channel_axis(image, i, j, size):
        hidden = image.clone()
        hidden[i * size : (i + 1) * size, j * size : (j + 1) * size] = 0.0
        return hidden

    def one_axis(image, i, j, size):
        hidden = image.clone()
        hidden[:, i * size : (i + 1) * size] = 0.0
        return hidden

    def from_origin(image, i, j, size):
        hidden = image.clone()
        hidden[:, i * size : size, j * size : size] = 0.0
        return hidden

    return {
        "you recorded p(hidden) - p(image); the drop is p(image) - p(hidden), "
        "positive when hiding the patch lowers the probability.": (right, "rise"),
        "record the drop, p_image - p_hidden, not the probability of the hidden "
        "copy itself.": (right, "probability"),
        "use probabilities (softmax of the scores), not the raw scores (logits).": (
            right,
            "score drop",
        ),
        "the softmax must run over the classes, dim=1: with dim=0 every "
        "probability of a single image is 1.": (right, "softmax over dim 0"),
        "rows and columns are swapped: `top` indexes the rows (dim 1 of "
        "(3, H, W)), `left` the columns (dim 2).": (
            lambda image, i, j, size: _hidden(image, j * size, i * size, size),
            "drop",
        ),
        "the channel axis is missing: image is (3, H, W), so the patch is "
        "image[:, top : top + patch_size, left : left + patch_size].": (
            no_channel_axis,
            "drop",
        ),
        "you hid whole rows: also limit the columns, left : left + patch_size.": (
            one_axis,
            "drop",
        ),
        "the slice ends at patch_size: it must end at top + patch_size "
        "(and left + patch_size).": (from_origin, "drop"),
        "you hid the patch at pixel (i, j) instead of (top, left) = "
        "(i * patch_size, j * patch_size).": (
            lambda image, i, j, size: _hidden(image, i, j, size),
            "drop",
        ),
    }


def _occlusion_variant(model, image, label, size, hide, record) -> torch.Tensor:
    """The grid of values that a mistaken loop records (one batched pass)."""
    rows, cols = image.shape[1] // size, image.shape[2] // size
    copies = torch.stack(
        [hide(image, i, j, size) for i in range(rows) for j in range(cols)]
    )
    with torch.no_grad():
        logits = model(torch.cat([image[None], copies]))  # the image first
    scores, probabilities = logits[:, label], torch.softmax(logits, dim=1)[:, label]
    score_image, scores = scores[0], scores[1:]
    p_image, p_hidden = probabilities[0], probabilities[1:]
    values = {
        "drop": p_image - p_hidden,
        "rise": p_hidden - p_image,
        "probability": p_hidden,
        "score drop": score_image - scores,
        "softmax over dim 0": torch.full_like(p_hidden, float(p_image - 1.0)),
    }[record]
    return values.view(rows, cols)


def occlusion_drops(student: Callable) -> None:
    """Check ``occlusion_drops(model, image, label, patch_size) -> (H/p, W/p)``.

    On the shipped CNN and the motorway image, with 16x16 and 32x32 patches
    (fill 0), compared with ``saliency.occlusion_map(..., stride=patch_size)``,
    one value per patch.
    """
    name = "occlusion_drops"
    for size in (16, 32):
        model, image, label = _setup()
        expected = reference_saliency.occlusion_map(
            model, image, label, patch_size=size, stride=size, fill=0.0
        )[::size, ::size]
        given = image.clone()
        value = as_tensor(
            call(student, name, model, given, label, size), name, expected
        )
        if not torch.equal(given, image):
            fail(
                f"`{name}` changed the image it was given.",
                "hide each patch in a copy, image.clone(); filling the image itself "
                "leaves every earlier patch hidden too.",
            )
        if close(value, expected, rtol=1e-4, atol=1e-5):
            continue
        problem = (
            f"with {size}x{size} patches the drops differ from "
            f"saliency.occlusion_map:\n{value}\nexpected\n{expected}"
        )
        for hint, (hide, record) in _occlusion_mistakes().items():
            wrong = _occlusion_variant(model, image, label, size, hide, record)
            if close(value, wrong, rtol=1e-4, atol=1e-5):
                fail(problem, hint)
        fail(
            problem,
            "for each patch: copy the image, set the patch_size x patch_size "
            "square at (top, left) to 0 in all channels, and record p_image "
            "minus the softmax probability of `label` for the copy.",
        )
    passed("matches saliency.occlusion_map with 16x16 and 32x32 patches.")


# -------------------------------------------------------------------- gradient
def _gradient_variants(model, image, label) -> dict[str, torch.Tensor]:
    """What the common mistakes compute, keyed by their hint."""
    model = copy.deepcopy(model).eval()
    pixels = image.clone().requires_grad_(True)
    scores = model(pixels[None])[0]
    (gradient,) = torch.autograd.grad(scores[label], pixels, retain_graph=True)
    (of_probability,) = torch.autograd.grad(
        torch.softmax(scores, dim=0)[label], pixels, retain_graph=True
    )
    (of_loss,) = torch.autograd.grad(-torch.log_softmax(scores, dim=0)[label], pixels)
    return {
        "take the absolute value before the maximum: |gradient|.amax(dim=0). "
        "A large negative gradient matters as much as a large positive one.": (
            gradient.amax(dim=0)
        ),
        "take the maximum over the channels, not the sum.": (gradient.abs().sum(dim=0)),
        "take the maximum over the channels, not the mean.": (
            gradient.abs().mean(dim=0)
        ),
        "take |.| of each channel, then the maximum (not |sum over channels|).": (
            gradient.sum(dim=0).abs()
        ),
        "differentiate the class *score* (the logit), model(x)[0, label], not "
        "its softmax probability.": of_probability.abs().amax(dim=0),
        "differentiate the class *score* (the logit), not a loss such as "
        "cross-entropy.": of_loss.abs().amax(dim=0),
    }


def gradient_map(student: Callable) -> None:
    """Check ``gradient_map(model, image, label) -> (H, W)``.

    On the shipped CNN (handed over in training mode, so that a missing
    ``model.eval()`` shows) and the motorway image, compared with
    ``saliency.gradient_saliency``; the function is called twice on the same
    image tensor, so that gradients piling up in ``.grad`` show too.
    """
    name = "gradient_map"
    model, image, label = _setup(training=True)
    expected = reference_saliency.gradient_saliency(model, image, label)
    given = image.clone()
    value = call(student, name, model, given, label)
    if isinstance(value, torch.Tensor) and value.shape != expected.shape:
        hint = None
        if tuple(value.shape) in ((3, 64, 64), (1, 3, 64, 64)):
            hint = "take the maximum over the 3 colour channels: .amax(dim=0)."
        elif value.dim() == 2:
            hint = "the maximum goes over the channels (dim=0 of (3, H, W))."
        fail(
            f"`{name}` returned shape {tuple(value.shape)}; expected "
            f"{tuple(expected.shape)}, one value per pixel.",
            hint,
        )
    value = as_tensor(value, name, expected)
    if not close(value, expected, rtol=1e-4, atol=1e-7):
        problem = (
            f"the map differs from saliency.gradient_saliency (largest value "
            f"{value.max().item():.4g}, expected {expected.max().item():.4g})."
        )
        if model.training:
            fail(
                problem,
                "call model.eval() first: in training mode batch norm uses the "
                "statistics of this one image and dropout zeroes features at "
                "random.",
            )
        for hint, wrong in _gradient_variants(model, image, label).items():
            if close(value, wrong, rtol=1e-4, atol=1e-7):
                fail(problem, hint)
        fail(
            problem,
            "make x = a copy of the image that requires grad, run "
            "model(x[None])[0, label].backward(), then x.grad.abs().amax(dim=0).",
        )

    again = as_tensor(call(student, name, model, given, label), name, expected)
    if not close(again, expected, rtol=1e-4, atol=1e-7):
        hint = "make a fresh copy of the image for every call."
        if close(again, 2 * expected, rtol=1e-4, atol=1e-7):
            hint = (
                "gradients add up in .grad from one backward() to the next: work "
                "on a fresh copy, image.detach().clone().requires_grad_(True), "
                "so that .grad starts at zero."
            )
        fail(
            f"called a second time on the same image, `{name}` gives another map.", hint
        )
    passed("matches saliency.gradient_saliency, also when called twice.")
