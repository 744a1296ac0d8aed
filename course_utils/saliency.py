"""Which pixels matter: occlusion maps and input-gradient saliency.

* ``occlusion_map`` (Zeiler and Fergus 2014) slides a patch of constant
  ``fill`` over the image and records how much the probability of the target
  class drops. A pixel's value is the mean drop over every patch that covers it.
* ``gradient_saliency`` (Simonyan, Vedaldi and Zisserman 2014) is
  ``|d score_target / d x|``, maximised over the colour channels: how much the
  unnormalised class score (the logit) reacts to a small change of each pixel.

Both take normalised images, as the model does, and leave the model as they
found it: they run it in evaluation mode, restore every module's previous
mode afterwards and never write ``param.grad``. ``tests/test_saliency.py``
checks both against Captum's ``Occlusion`` and ``Saliency``.

Occlusion needs one forward pass per patch position. For the course CNN it
recomputes only the part of every feature map that a patch can change (its
receptive field) and reuses the activations of the unoccluded image elsewhere;
for any other model it runs the whole model on batches of occluded copies.
Both strategies give the same maps to float precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

Target = int | Sequence[int] | torch.Tensor | None

# Layers that act on every position separately (batch norm is per-channel affine
# in evaluation mode), so an unchanged input position gives an unchanged output.
_POINTWISE = (
    nn.BatchNorm2d,
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
)


# ------------------------------------------------------------------ public API
def patch_positions(size: int, patch_size: int, stride: int) -> list[int]:
    """Top (or left) offsets of the patches along one side of ``size`` pixels.

    Every ``stride`` pixels from 0; when the last patch stops short of the edge
    one more patch is placed flush with it, so every pixel is covered and every
    patch has the full ``patch_size``.
    """
    positions = list(range(0, size - patch_size + 1, stride))
    if positions[-1] != size - patch_size:
        positions.append(size - patch_size)
    return positions


def occlusion_map(
    model: nn.Module,
    images: torch.Tensor,
    target: Target = None,
    *,
    patch_size: int = 8,
    stride: int | None = None,
    fill: float | torch.Tensor = 0.0,
    batch_size: int = 128,
    strategy: str = "auto",
) -> torch.Tensor:
    """How much the target class probability drops when each region is hidden.

    images: normalised float images, shape (C, H, W) or (N, C, H, W).
    target: class index per image (int, or N of them); None: the predicted class.
    patch_size: side of the square patch, in pixels (at most min(H, W)).
    stride: pixels between neighbouring patches, 1 to ``patch_size``
        (default: half the patch, so patches overlap).
    fill: value the patch is filled with, in normalised units: a number, or one
        value per channel, shape (C,). 0 is the mean colour of the training set.
    batch_size: occluded copies evaluated per forward pass.
    strategy: "full" runs the whole model on every occluded copy; "local"
        recomputes only the receptive field of the patch (the course CNN
        only); "auto" picks "local" when the model allows it.

    Returns the probability drop p(target | image) - p(target | occluded),
    float32 of shape (H, W) or (N, H, W), on the device of ``images``: each
    pixel holds the mean drop over all patches that cover it. Positive means
    hiding the region lowers the probability.
    """
    batch, single = _as_batch(images)
    _check_image_model(model, batch)
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
    height, width = batch.shape[-2:]
    if patch_size > min(height, width):
        raise ValueError(
            f"patch_size {patch_size} is larger than the image ({height}x{width}); "
            "use a patch no larger than the image"
        )
    stride = max(1, patch_size // 2) if stride is None else stride
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    if stride > patch_size:
        raise ValueError(
            f"stride {stride} is larger than patch_size {patch_size}: pixels "
            "between patches would never be hidden; use stride <= patch_size"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if strategy not in ("auto", "full", "local"):
        raise ValueError(
            f"strategy must be 'auto', 'full' or 'local', not {strategy!r}"
        )

    device = _model_device(model)
    channels = batch.shape[1]
    fill = torch.as_tensor(fill, dtype=batch.dtype).detach().to(device)
    if fill.dim() == 0:
        fill = fill.expand(channels)
    if fill.shape != (channels,):
        raise ValueError(
            f"fill must be a number or one value per channel, shape ({channels},); "
            f"got shape {tuple(fill.shape)}"
        )
    tops = patch_positions(height, patch_size, stride)
    lefts = patch_positions(width, patch_size, stride)
    local = strategy != "full" and _supports_local(model, (height, width))
    if strategy == "local" and not local:
        raise ValueError(
            "strategy='local' needs the course CNN (a Sequential of 'same' "
            "convolutions with stride 1, point-wise layers and pooling whose "
            "window equals its stride, dividing the feature map); use 'full'"
        )

    batch = batch.detach().to(device)
    maps = []
    with _evaluation_mode(model), torch.no_grad():
        targets = _targets(model, batch, target)
        for image, label in zip(batch, targets.tolist(), strict=True):
            drops = _patch_drops(
                model, image, label, tops, lefts, patch_size, fill, batch_size, local
            )
            maps.append(_average_over_patches(drops, tops, lefts, patch_size, image))
    result = torch.stack(maps).to(images.device)
    return result[0] if single else result


def gradient_saliency(
    model: nn.Module, images: torch.Tensor, target: Target = None
) -> torch.Tensor:
    """Absolute gradient of the target class score, maximised over channels.

    images: normalised float images, shape (C, H, W) or (N, C, H, W); the
        gradient is taken with respect to these normalised pixels, the
        model's input.
    target: class index per image (int, or N of them); None: the predicted class.

    Returns ``|d logit_target / d x|`` maximised over the C channels, float32
    of shape (H, W) or (N, H, W), on the device of ``images``: how strongly a
    small change of each pixel would move the unnormalised class score.
    ``images`` may be any tensor (a leaf or not, requiring gradients or not);
    neither it nor the model's parameters receive a ``.grad``.
    """
    batch, single = _as_batch(images)
    _check_image_model(model, batch)

    with _evaluation_mode(model), torch.enable_grad():
        inputs = batch.detach().to(_model_device(model)).requires_grad_(True)
        scores = model(inputs)
        targets = _targets(model, inputs, target, scores=scores.detach())
        chosen = scores.gather(1, targets[:, None].to(scores.device)).sum()
        (gradient,) = torch.autograd.grad(chosen, inputs)

    saliency = gradient.abs().amax(dim=1).to(images.device)
    return saliency[0] if single else saliency


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Spearman rank correlation of two maps of the same shape (ties share ranks).

    1: the same ordering of pixels, 0: unrelated, -1: reversed.
    """
    if first.shape != second.shape:
        raise ValueError(
            f"maps must have the same shape, got {tuple(first.shape)} and "
            f"{tuple(second.shape)}"
        )
    first, second = (
        _ranks(m.detach().flatten().double().cpu()) for m in (first, second)
    )
    first, second = first - first.mean(), second - second.mean()
    denominator = (first.square().sum() * second.square().sum()).sqrt()
    return float((first * second).sum() / denominator) if denominator > 0 else 0.0


# ------------------------------------------------------------- shared helpers
def _as_batch(images: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(C, H, W) or (N, C, H, W) float images as a batch, and whether it was one."""
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else images
        raise ValueError(
            f"images must be a tensor of shape (C, H, W) or (N, C, H, W), got {shape!r}"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images must be normalised float images, got dtype {images.dtype}; "
            "normalise them first (data.normalize)"
        )
    if images.dim() == 3:
        return images[None], True
    if len(images) == 0:
        raise ValueError("images is an empty batch (N = 0)")
    return images, False


def _check_image_model(model: nn.Module, batch: torch.Tensor) -> None:
    expected = getattr(model, "in_channels", None)
    if expected is not None and batch.shape[1] != expected:
        raise ValueError(
            f"the model expects {expected} channels, got images of shape "
            f"{tuple(batch.shape)}"
        )


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextlib.contextmanager
def _evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode inside, then every module's own previous mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _targets(
    model: nn.Module,
    batch: torch.Tensor,
    target: Target,
    scores: torch.Tensor | None = None,
) -> torch.Tensor:
    """One class index per image, checked against the number of classes."""
    if scores is None:
        scores = model(batch)
    count, classes = scores.shape
    if target is None:
        return scores.argmax(dim=1)
    try:
        targets = torch.as_tensor(target, device=scores.device)
    except (TypeError, ValueError, RuntimeError):
        targets = None
    if (
        targets is None
        or targets.is_floating_point()
        or targets.is_complex()
        or targets.dtype == torch.bool
        or targets.dim() > 1
    ):
        raise ValueError(f"target must hold integer class indices, got {target!r}")
    targets = targets.long().expand(count) if targets.dim() == 0 else targets.long()
    if len(targets) != count:
        raise ValueError(f"got {len(targets)} targets for {count} images")
    if targets.min() < 0 or targets.max() >= classes:
        raise ValueError(
            f"target class out of range: the model has {classes} classes "
            f"(0 to {classes - 1}), got {targets.tolist()}"
        )
    return targets


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor; tied values get the mean of their ranks."""
    order = values.argsort()
    sorted_values = values[order]
    starts = torch.ones_like(sorted_values, dtype=torch.bool)
    starts[1:] = sorted_values[1:] != sorted_values[:-1]
    group = starts.cumsum(0) - 1
    positions = torch.arange(len(values), dtype=torch.float64)
    sums = torch.zeros(int(group[-1]) + 1, dtype=torch.float64).index_add_(
        0, group, positions
    )
    sizes = torch.bincount(group).double()
    ranks = torch.empty_like(positions)
    ranks[order] = (sums / sizes)[group]
    return ranks


# ------------------------------------------------------------------- occlusion
def _patch_drops(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    tops: list[int],
    lefts: list[int],
    patch_size: int,
    fill: torch.Tensor,
    batch_size: int,
    local: bool,
) -> torch.Tensor:
    """Probability drop for every patch position, shape (len(tops), len(lefts))."""
    positions = torch.tensor(
        [(top, left) for top in tops for left in lefts], device=image.device
    )
    evaluate = _LocalEvaluator(model, image) if local else None
    clean_scores = evaluate.clean_scores if local else model(image[None])[0]
    clean = torch.softmax(clean_scores, dim=0)[label]
    occluded = []
    for chunk in positions.split(batch_size):
        if evaluate is not None:
            scores = evaluate(chunk, patch_size, fill)
        else:
            copies = image.expand(len(chunk), *image.shape).clone()
            for copy, (top, left) in zip(copies, chunk.tolist(), strict=True):
                copy[:, top : top + patch_size, left : left + patch_size] = fill[
                    :, None, None
                ]
            scores = model(_channels_last(copies))
        occluded.append(torch.softmax(scores, dim=1)[:, label])
    return (clean - torch.cat(occluded)).view(len(tops), len(lefts))


def _average_over_patches(
    drops: torch.Tensor,
    tops: list[int],
    lefts: list[int],
    patch_size: int,
    image: torch.Tensor,
) -> torch.Tensor:
    """Per pixel, the mean drop of the patches covering it: (rows, cols) -> (H, W).

    covers_row[y, i] is 1 when patch row i covers pixel row y (likewise for
    columns), so covers_row @ drops @ covers_column.T sums, at every pixel, the
    drops of the patches covering it, and the same product of ones counts them.
    """
    height, width = image.shape[-2:]
    covers_row = _coverage(height, tops, patch_size, drops)
    covers_column = _coverage(width, lefts, patch_size, drops)
    total = covers_row @ drops @ covers_column.T
    count = covers_row @ torch.ones_like(drops) @ covers_column.T
    return total / count


def _coverage(
    size: int, starts: list[int], patch_size: int, like: torch.Tensor
) -> torch.Tensor:
    """(size, len(starts)) matrix: 1 where the patch starting at starts[i] covers y."""
    pixels = torch.arange(size, device=like.device)[:, None]
    starts = torch.tensor(starts, device=like.device)[None]
    return ((pixels >= starts) & (pixels < starts + patch_size)).to(like.dtype)


def _supports_local(model: nn.Module, size: tuple[int, int] | None = None) -> bool:
    """True for the course CNN, whose layers the local strategy knows how to crop."""
    from .models import CourseCNN

    if not isinstance(model, CourseCNN) or type(model).forward is not CourseCNN.forward:
        return False
    height, width = size if size is not None else (None, None)
    for layer in model.features:
        if isinstance(layer, nn.Conv2d):
            kernel = layer.kernel_size
            if (
                layer.stride != (1, 1)
                or layer.dilation != (1, 1)
                or layer.padding_mode != "zeros"
                or any(k % 2 == 0 for k in kernel)
                or layer.padding != (kernel[0] // 2, kernel[1] // 2)
            ):
                return False
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            window = _pool_window(layer)
            if window is None:
                return False
            if height is not None:
                if height % window or width % window:
                    return False
                height, width = height // window, width // window
        elif not isinstance(layer, _POINTWISE):
            return False
        if isinstance(layer, nn.BatchNorm2d) and layer.running_var is None:
            return False  # normalises with the statistics of each batch
    return True


def _pool_window(layer: nn.Module) -> int | None:
    """The window of a pooling layer whose window equals its stride, else None."""
    kernel, stride = layer.kernel_size, layer.stride
    if isinstance(kernel, tuple):
        if len(set(kernel)) != 1:
            return None
        kernel = kernel[0]
    if isinstance(stride, tuple):
        if len(set(stride)) != 1:
            return None
        stride = stride[0]
    padding = layer.padding if isinstance(layer.padding, int) else max(layer.padding)
    dilation = getattr(layer, "dilation", 1)
    if kernel != stride or padding != 0 or dilation not in (1, (1, 1)):
        return None
    if getattr(layer, "return_indices", False):
        return None
    return kernel


class _Step:
    """One step of the local plan: a 'same' convolution, a pooling, or point-wise."""

    def __init__(self, kind: str, **details) -> None:
        self.kind = kind
        self.__dict__.update(details)


def _local_plan(model: nn.Module) -> list[_Step]:
    """The feature stack as steps that the local evaluator can run on windows.

    Two exact rewrites make the steps cheaper: a batch norm right after a
    convolution is folded into its weights (in evaluation mode it is a
    per-channel affine map), and a max pool moves in front of a ReLU just
    before it (max(relu(a), relu(b)) = relu(max(a, b))), so the ReLU touches a
    quarter of the values.
    """
    steps: list[_Step] = []
    for layer in model.features:
        if isinstance(layer, nn.Conv2d):
            bias = layer.bias if layer.bias is not None else None
            steps.append(_Step("conv", weight=layer.weight, bias=bias, conv=layer))
        elif isinstance(layer, nn.BatchNorm2d) and steps and steps[-1].kind == "conv":
            conv = steps[-1]
            scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            conv.weight = conv.weight * scale[:, None, None, None]
            conv.bias = (bias - layer.running_mean) * scale + layer.bias
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            size = _pool_window(layer)
            step = _Step("pool", size=size, maximum=isinstance(layer, nn.MaxPool2d))
            position = len(steps)
            while (
                step.maximum
                and position > 0
                and steps[position - 1].kind == "pointwise"
                and isinstance(steps[position - 1].layer, nn.ReLU | nn.Identity)
            ):
                position -= 1
            steps.insert(position, step)
        else:
            steps.append(_Step("pointwise", layer=layer))
    return steps


def _run_step(step: _Step, x: torch.Tensor) -> torch.Tensor:
    """One step on a batch x (N, C, H, W); convolutions get no padding here."""
    if step.kind == "conv":
        conv = step.conv
        return nn.functional.conv2d(x, step.weight, step.bias, groups=conv.groups)
    if step.kind == "pool":
        pool = nn.functional.max_pool2d if step.maximum else nn.functional.avg_pool2d
        return pool(x, step.size)
    return step.layer(x)


class _LocalEvaluator:
    """Class scores of occluded copies of one image, recomputing only what changes.

    A patch changes a conv output only within the kernel's reach around it, and
    a pooled output only where its window meets the changed region. So every
    layer is run on a window around the changed region, cut from the
    activations of the unoccluded image with the new values pasted in. Windows
    have one size per layer (the largest any patch in the batch needs), so a
    whole batch of patches is one call per layer. Pooling windows stay aligned
    with the pooling grid, and convolution windows read the zero padding that
    the full image has at its border. Activations are kept channels-last
    (H, W, C): cutting and pasting then move whole channel vectors, and the
    convolution and pooling kernels run fastest on that layout.
    """

    def __init__(self, model: nn.Module, image: torch.Tensor) -> None:
        self.head = model.classifier
        self.steps = _local_plan(model)
        # The clean input of every step, (H, W, C); zero-padded for convolutions.
        self.inputs = []
        activation = _channels_last(image[None])
        for step in self.steps:
            if step.kind == "conv":
                reach_y, reach_x = step.conv.padding
                padding = (reach_x, reach_x, reach_y, reach_y)
                activation = _channels_last(nn.functional.pad(activation, padding))
            self.inputs.append(activation[0].permute(1, 2, 0))
            activation = _run_step(step, activation)
        self.features = activation[0].permute(1, 2, 0)
        self.clean_scores = self.head(activation)[0]

    def __call__(
        self, positions: torch.Tensor, patch_size: int, fill: torch.Tensor
    ) -> torch.Tensor:
        """positions: (B, 2) patch top-left corners -> class scores (B, classes)."""
        count = len(positions)
        values = fill.expand(count, patch_size, patch_size, len(fill))  # (B, h, w, C)
        top, left = positions[:, 0], positions[:, 1]
        for step, clean in zip(self.steps, self.inputs, strict=True):
            height, width = clean.shape[:2]
            if step.kind == "conv":
                reach_y, reach_x = step.conv.padding
                height, width = height - 2 * reach_y, width - 2 * reach_x
                size_y = min(values.shape[1] + 2 * reach_y, height)
                size_x = min(values.shape[2] + 2 * reach_x, width)
                new_top = (top - reach_y).clamp(0, height - size_y)
                new_left = (left - reach_x).clamp(0, width - size_x)
                window = _cut(
                    clean,
                    new_top,
                    new_left,
                    size_y + 2 * reach_y,
                    size_x + 2 * reach_x,
                )
                _paste(
                    window, values, top - new_top + reach_y, left - new_left + reach_x
                )
            elif step.kind == "pool":
                size = step.size
                new_top, size_y = _pooled_span(top, values.shape[1], size, height)
                new_left, size_x = _pooled_span(left, values.shape[2], size, width)
                window = _cut(
                    clean, size * new_top, size * new_left, size * size_y, size * size_x
                )
                _paste(window, values, top - size * new_top, left - size * new_left)
            else:
                values = _run_step(step, values.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
                continue
            values = _run_step(step, window.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            top, left = new_top, new_left

        features = self.features.expand(count, *self.features.shape).clone()
        _paste(features, values, top, left)
        return self.head(features.permute(0, 3, 1, 2))


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _pooled_span(
    start: torch.Tensor, size: int, step: int, extent: int
) -> tuple[torch.Tensor, int]:
    """Pooled-grid window covering input rows [start, start + size) of every patch."""
    first = torch.div(start, step, rounding_mode="floor")
    last = torch.div(start + size + step - 1, step, rounding_mode="floor")
    length = min(int((last - first).max()), extent // step)
    return first.clamp(max=extent // step - length), length


def _cut(
    source: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Windows of ``source`` (H, W, C) at per-patch corners -> (B, height, width, C)."""
    rows = top[:, None] + torch.arange(height, device=top.device)
    columns = left[:, None] + torch.arange(width, device=left.device)
    return source[rows[:, :, None], columns[:, None, :]]


def _paste(
    target: torch.Tensor, values: torch.Tensor, top: torch.Tensor, left: torch.Tensor
) -> None:
    """Write ``values`` (B, h, w, C) into ``target`` (B, H, W, C) at given corners."""
    count, height, width = values.shape[:3]
    rows = top[:, None] + torch.arange(height, device=top.device)
    columns = left[:, None] + torch.arange(width, device=left.device)
    batch = torch.arange(count, device=top.device)[:, None, None]
    target[batch, rows[:, :, None], columns[:, None, :]] = values
