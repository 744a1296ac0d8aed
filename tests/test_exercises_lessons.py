"""The exercise checks of lessons 03-06: convolution, pooling, classification, saliency.

The right answer is each notebook's own solution cell, run as it stands; the
untouched student stub is that cell with its solution replaced by a
``NotImplementedError`` line, as nbgrader does. Every check must pass the
first, say "not written yet" for the second, name each common mistake it
knows, and fail any other wrong answer.
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler

from course_utils.exercises import ExerciseFailed
from course_utils.exercises import classification as classification_checks
from course_utils.exercises import convolution as convolution_checks
from course_utils.exercises import pooling as pooling_checks
from course_utils.exercises import saliency as saliency_checks

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISES = {  # grade_id: (notebook, function name, check module)
    "03_conv_at": ("03_convolution", "conv_at", convolution_checks),
    "03_output_size": ("03_convolution", "output_size", convolution_checks),
    "04_max_pool": ("04_pooling", "max_pool", pooling_checks),
    "04_l2_pool": ("04_pooling", "l2_pool", pooling_checks),
    "05_make_train_loader": (
        "05_classification",
        "make_train_loader",
        classification_checks,
    ),
    "05_softmax": ("05_classification", "softmax", classification_checks),
    "06_occlusion_drops": ("06_saliency", "occlusion_drops", saliency_checks),
    "06_gradient_map": ("06_saliency", "gradient_map", saliency_checks),
}


def _cells(notebook: str) -> list:
    return nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _source(grade_id: str) -> str:
    notebook = EXERCISES[grade_id][0]
    (cell,) = [c for c in _cells(notebook) if _grade_id(c) == grade_id]
    return cell.source


def _stubbed(source: str) -> str:
    """The cell as the student gets it: the solution lines replaced by a raise."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [
                f"{indent}# YOUR CODE HERE",
                f"{indent}raise NotImplementedError()",
            ]
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def _define(source: str, name: str):
    """Run an exercise cell with the notebooks' imports; return its function."""
    namespace = {"torch": torch, "F": F, "DataLoader": DataLoader}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _solution(grade_id: str):
    return _define(_source(grade_id), EXERCISES[grade_id][1])


def _fails(check, student) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        check(student)
    return str(failure.value)


# ------------------------------------------------------------------ the cells
@pytest.mark.parametrize("grade_id", EXERCISES)
def test_solution_passes_and_the_stub_is_not_written_yet(grade_id, capsys):
    notebook, name, module = EXERCISES[grade_id]
    check = getattr(module, name)

    check(_solution(grade_id))
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("\u2713 Correct:"), printed

    stub = _define(_stubbed(_source(grade_id)), name)
    assert "not written yet" in _fails(check, stub)


@pytest.mark.parametrize("grade_id", EXERCISES)
def test_the_notebook_calls_the_check_under_the_exercise(grade_id):
    notebook, name, module = EXERCISES[grade_id]
    cells = _cells(notebook)
    (index,) = [i for i, c in enumerate(cells) if _grade_id(c) == grade_id]
    check_cell = cells[index + 1]
    assert _grade_id(check_cell) == f"{grade_id}_check"
    assert check_cell.source == f"check.{name}({name})"
    # the lesson's setup: the first code cell after the Colab setup cell
    setup = [c for c in cells if c.cell_type == "code"][1].source
    assert f"from course_utils.exercises import {module.__name__.split('.')[-1]}" in (
        setup
    )
    assert cells[index - 1].cell_type == "markdown"
    assert cells[index - 1].source.startswith("### Exercise ")
    # the executed notebook shows exactly the one confirmation line
    printed = [o.text for o in check_cell.get("outputs", [])]
    assert len(printed) == 1 and printed[0].startswith("\u2713 Correct:"), printed


@pytest.mark.parametrize("grade_id", EXERCISES)
def test_no_later_cell_uses_the_exercise_function(grade_id):
    notebook, name, _ = EXERCISES[grade_id]
    cells = _cells(notebook)
    (index,) = [i for i, c in enumerate(cells) if _grade_id(c) == grade_id]
    for cell in cells[index + 2 :]:
        if cell.cell_type == "code":
            assert f"{name}(" not in cell.source.replace(f".{name}(", ""), cell.id


# ------------------------------------------------------------------ 03
def _conv(image, kernel, row, col):
    k = kernel.shape[0]
    return (image[row : row + k, col : col + k] * kernel).sum()


def test_conv_at_names_the_common_mistakes():
    check = convolution_checks.conv_at

    def window(image, kernel, row, col):
        k = kernel.shape[0]
        return image[row : row + k, col : col + k]

    mistakes = {
        "flipped the kernel": lambda i, k, r, c: (
            window(i, k, r, c) * k.flip(0, 1)
        ).sum(),
        "rows and columns are swapped": lambda i, k, r, c: _conv(i, k, c, r),
        "matrix product": lambda i, k, r, c: (window(i, k, r, c) @ k).sum(),
        "not a fixed 3": lambda i, k, r, c: (i[r : r + 3, c : c + 3] * k).sum(),
        "top-left corner": lambda i, k, r, c: (
            i[r - 1 : r + 2, c - 1 : c + 2] * k
        ).sum(),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "torch.Tensor" in _fails(check, lambda i, k, r, c: float(_conv(i, k, r, c)))
    assert "F.conv2d gives" in _fails(check, lambda i, k, r, c: _conv(i, k, r, c) + 1)


def test_output_size_names_the_common_mistakes():
    check = convolution_checks.output_size

    def size(n, k, s, p, d, numerator_shift=-1, plus=1, pads=2):
        return (n + pads * p - d * (k - 1) + numerator_shift) // s + plus

    mistakes = {
        "+ 1 is missing": lambda n, k, stride, padding, dilation: size(
            n, k, stride, padding, dilation, plus=0
        ),
        "round down": lambda n, k, stride, padding, dilation: (
            math.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1
        ),
        "2 * padding": lambda n, k, stride, padding, dilation: size(
            n, k, stride, padding, dilation, pads=1
        ),
        "dilation is ignored": lambda n, k, stride, padding, dilation: (
            (n + 2 * padding - k) // stride + 1
        ),
        "stride is ignored": lambda n, k, stride, padding, dilation: size(
            n, k, 1, padding, dilation
        ),
        "- 1 belongs inside": lambda n, k, stride, padding, dilation: size(
            n, k, stride, padding, dilation, numerator_shift=0
        ),
        "floor division": lambda n, k, stride, padding, dilation: (
            (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1
        ),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "F.conv2d gives" in _fails(check, lambda n, k, **settings: n - k + 1)
    assert "should return an int" in _fails(check, lambda n, k, **settings: "5")


# ------------------------------------------------------------------ 04
def _windows(feature_map, size):
    return feature_map.unfold(0, size, size).unfold(1, size, size)


def _scrambled(feature_map, size):
    rows, cols = feature_map.shape[0] // size, feature_map.shape[1] // size
    return feature_map[: rows * size, : cols * size].reshape(rows, cols, size, size)


def test_max_pool_names_the_common_mistakes():
    check = pooling_checks.max_pool
    mistakes = {
        "does not cut the map": lambda x, k: _scrambled(x, k).amax(dim=(2, 3)),
        "minimum": lambda x, k: _windows(x, k).amin(dim=(2, 3)),
        "average pooling": lambda x, k: _windows(x, k).mean(dim=(2, 3)),
        "rows and columns are swapped": lambda x, k: _windows(x, k).amax((2, 3)).T,
        "windows overlap": lambda x, k: x.unfold(0, k, 1).unfold(1, k, 1).amax((2, 3)),
        "both window dimensions": lambda x, k: _windows(x, k).amax(dim=3),
        "drop the rows and columns": lambda x, k: F.max_pool2d(
            x[None, None], k, ceil_mode=True
        )[0, 0],
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "F.max_pool2d gives" in _fails(
        check, lambda x, k: _windows(x, k).amax(dim=(2, 3)) + 1
    )


def test_l2_pool_names_the_common_mistakes():
    check = pooling_checks.l2_pool
    mistakes = {
        "square root is missing": lambda x, k: _windows(x, k).square().sum((2, 3)),
        "*mean* square": lambda x, k: _windows(x, k).square().mean((2, 3)).sqrt(),
        "not sqrt(sum of x)": lambda x, k: _windows(x, k).sum((2, 3)).sqrt(),
        "that is |sum of x|": lambda x, k: _windows(x, k).sum((2, 3)).abs(),
        "L1 norm": lambda x, k: _windows(x, k).abs().sum((2, 3)),
        "that is max pooling": lambda x, k: _windows(x, k).amax((2, 3)),
        "does not cut the map": lambda x, k: (
            _scrambled(x, k).square().sum((2, 3)).sqrt()
        ),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "F.lp_pool2d gives" in _fails(
        check, lambda x, k: 1.1 * _windows(x, k).square().sum((2, 3)).sqrt()
    )


# ------------------------------------------------------------------ 05
def _loader(dataset, batch_size, seed, **settings):
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size, generator=generator, **settings)


def _reseeds_globally(dataset, batch_size, seed):
    torch.manual_seed(seed)
    return DataLoader(dataset, batch_size, shuffle=True)


class _ShuffledOnce:
    """Shuffles the data once, then serves the same order every epoch."""

    def __init__(self, dataset, batch_size, seed):
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
        self.loader = DataLoader(
            torch.utils.data.Subset(dataset, order.tolist()), batch_size
        )

    def __iter__(self):
        return iter(self.loader)


def test_make_train_loader_names_the_common_mistakes():
    check = classification_checks.make_train_loader
    state = torch.random.get_rng_state()
    mistakes = {
        "pass shuffle=True": lambda d, b, s: DataLoader(d, b),
        "the default is 1": lambda d, b, s: _loader(d, 1, s, shuffle=True),
        "no drop_last=True": lambda d, b, s: _loader(
            d, b, s, shuffle=True, drop_last=True
        ),
        "the function's batch_size": lambda d, b, s: _loader(d, 64, s, shuffle=True),
        "generator=torch.Generator().manual_seed(seed)": lambda d, b, s: DataLoader(
            d, b, shuffle=True
        ),
        "not a fixed number": lambda d, b, s: _loader(d, b, 0, shuffle=True),
        "global random state": _reseeds_globally,
        "shuffle every epoch": _ShuffledOnce,
        "no sampling with replacement": lambda d, b, s: DataLoader(
            d,
            b,
            sampler=RandomSampler(
                d, replacement=True, generator=torch.Generator().manual_seed(s)
            ),
        ),
        "should return a DataLoader": lambda d, b, s: 3,
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    torch.random.set_rng_state(state)
    assert "pair (images, labels)" in _fails(check, lambda d, b, s: [1, 2, 3])


def _stable(x):
    return x - x.amax(dim=1, keepdim=True)


def test_softmax_names_the_common_mistakes():
    check = classification_checks.softmax
    mistakes = {
        "subtract each row's maximum first": lambda x: (
            x.exp() / x.exp().sum(dim=1, keepdim=True)
        ),
        "each row's own maximum": lambda x: (
            (x - x.max()).exp() / (x - x.max()).exp().sum(dim=1, keepdim=True)
        ),
        "the sum needs keepdim=True": lambda x: (
            _stable(x).exp() / _stable(x).exp().sum(dim=1)
        ),
        "the row maximum needs keepdim=True": lambda x: (
            (x - x.amax(dim=1)).exp()
            / (x - x.amax(dim=1)).exp().sum(dim=1, keepdim=True)
        ),
        "you normalised each column": lambda x: x.exp() / x.exp().sum(dim=0),
        "not by the sum over the whole batch": lambda x: (
            (x - x.max()).exp() / (x - x.max()).exp().sum()
        ),
        "not normalised": lambda x: _stable(x).exp(),
        "that is log_softmax": lambda x: torch.log_softmax(x, dim=1),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "torch.softmax gives" in _fails(check, lambda x: torch.softmax(x, 1) + 0.01)
    assert "shape" in _fails(check, lambda x: torch.softmax(x, 1).argmax(dim=1))


# ------------------------------------------------------------------ 06
def _occlusion(hide=None, record="drop", softmax_dim=1):
    """An occlusion_drops that hides with ``hide`` and records ``record``."""

    def right(image, top, left, size, i, j):
        hidden = image.clone()
        hidden[:, top : top + size, left : left + size] = 0.0
        return hidden

    hide = hide or right

    def occlusion_drops(model, image, label, patch_size):
        rows, cols = image.shape[1] // patch_size, image.shape[2] // patch_size
        drops = torch.zeros(rows, cols)
        with torch.no_grad():
            scores = model(image[None])[0]
            p_image = torch.softmax(scores, dim=0)[label]
            for i in range(rows):
                for j in range(cols):
                    top, left = i * patch_size, j * patch_size
                    hidden = model(hide(image, top, left, patch_size, i, j)[None])
                    p_hidden = torch.softmax(hidden, dim=softmax_dim)[0, label]
                    drops[i, j] = {
                        "drop": p_image - p_hidden,
                        "rise": p_hidden - p_image,
                        "probability": p_hidden,
                        "score": scores[label] - hidden[0, label],
                    }[record]
        return drops

    return occlusion_drops


def _zeroed(image, rows, cols):
    hidden = image.clone()
    hidden[:, rows, cols] = 0.0
    return hidden


def _no_channel_axis(image, top, left, size, i, j):
    hidden = image.clone()
    hidden[top : top + size, left : left + size] = 0.0
    return hidden


def _in_place(image, top, left, size, i, j):
    image[:, top : top + size, left : left + size] = 0.0
    return image


def test_occlusion_drops_names_the_common_mistakes():
    check = saliency_checks.occlusion_drops
    mistakes = {
        "p(image) - p(hidden)": _occlusion(record="rise"),
        "not the probability of the hidden": _occlusion(record="probability"),
        "not the raw scores": _occlusion(record="score"),
        "with dim=0": _occlusion(softmax_dim=0),
        "rows and columns are swapped": _occlusion(
            lambda image, t, left, s, i, j: _zeroed(
                image, slice(left, left + s), slice(t, t + s)
            )
        ),
        "the channel axis is missing": _occlusion(_no_channel_axis),
        "you hid whole rows": _occlusion(
            lambda image, t, left, s, i, j: _zeroed(image, slice(t, t + s), slice(None))
        ),
        "must end at top + patch_size": _occlusion(
            lambda image, t, left, s, i, j: _zeroed(image, slice(t, s), slice(left, s))
        ),
        "instead of (top, left)": _occlusion(
            lambda image, t, left, s, i, j: _zeroed(
                image, slice(i, i + s), slice(j, j + s)
            )
        ),
        "changed the image": _occlusion(_in_place),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint

    def doubled(model, image, label, patch_size):
        return 2 * _occlusion()(model, image, label, patch_size)

    assert "differ from saliency.occlusion_map" in _fails(check, doubled)


def _gradient(evaluate=True, fresh=True, target="score", reduce=None):
    reduce = reduce or (lambda gradient: gradient.abs().amax(dim=0))

    def gradient_map(model, image, label):
        if evaluate:
            model.eval()
        pixels = image.detach().clone() if fresh else image
        pixels.requires_grad_(True)
        scores = model(pixels[None])[0]
        chosen = {
            "score": scores[label],
            "probability": torch.softmax(scores, dim=0)[label],
            "loss": F.cross_entropy(scores[None], torch.tensor([label])),
        }[target]
        chosen.backward()
        return reduce(pixels.grad)

    return gradient_map


def test_gradient_map_names_the_common_mistakes():
    check = saliency_checks.gradient_map
    mistakes = {
        "call model.eval() first": _gradient(evaluate=False),
        "gradients add up in .grad": _gradient(fresh=False),
        "absolute value before the maximum": _gradient(reduce=lambda g: g.amax(0)),
        "not the sum": _gradient(reduce=lambda g: g.abs().sum(0)),
        "not the mean": _gradient(reduce=lambda g: g.abs().mean(0)),
        "not |sum over channels|": _gradient(reduce=lambda g: g.sum(0).abs()),
        "not its softmax probability": _gradient(target="probability"),
        "not a loss": _gradient(target="loss"),
        "maximum over the 3 colour channels": _gradient(reduce=lambda g: g.abs()),
        "dim=0 of (3, H, W)": _gradient(reduce=lambda g: g.abs().amax(1)),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(check, wrong), hint
    assert "differs from saliency.gradient_saliency" in _fails(
        check, _gradient(reduce=lambda g: 2 * g.abs().amax(0))
    )
