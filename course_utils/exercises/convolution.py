"""Checks for the exercises of 03_convolution: one convolution sum, the output size.

``conv_at`` is compared with ``torch.nn.functional.conv2d`` at every output
position of a few images and kernels (asymmetric ones, so that a flipped kernel
or swapped row and column shows); ``output_size`` with the shape that
``F.conv2d`` actually produces, for a few hundred settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import ExerciseFailed, as_tensor, call, close, fail, passed


def _conv_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(description, image (H, W), kernel (k, k)): asymmetric, non-square cases."""
    generator = torch.Generator().manual_seed(3)
    lecture_image = torch.tensor(
        [
            [1.0, 1, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 1, 1],
            [0, 0, 1, 1, 0],
            [0, 1, 1, 0, 0],
        ]
    )
    return [
        (
            "the lecture's 5x5 image with the kernel [[1, 2, 0], [0, 1, 0], [0, 0, 3]]",
            lecture_image,
            torch.tensor([[1.0, 2, 0], [0, 1, 0], [0, 0, 3]]),
        ),
        (
            "a random 6x9 image with a random 3x3 kernel",
            torch.randn(6, 9, generator=generator),
            torch.randn(3, 3, generator=generator),
        ),
        (
            "a random 7x5 image with a random 2x2 kernel",
            torch.randn(7, 5, generator=generator),
            torch.randn(2, 2, generator=generator),
        ),
        (
            "a random 8x8 image with a random 5x5 kernel",
            torch.randn(8, 8, generator=generator),
            torch.randn(5, 5, generator=generator),
        ),
    ]


def _window(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return image[top : top + size, left : left + size]


def _conv_mistakes(
    image: torch.Tensor, kernel: torch.Tensor, row: int, col: int
) -> dict[str, torch.Tensor | None]:
    """What the common mistakes compute at (row, col); None where they fail."""
    k = kernel.shape[0]
    mistakes: dict[str, Callable[[], torch.Tensor]] = {
        "you flipped the kernel. That is the mathematicians' convolution; "
        "F.conv2d (a cross-correlation) uses the kernel as it is, unflipped.": (
            lambda: (_window(image, row, col, k) * kernel.flip(0, 1)).sum()
        ),
        "rows and columns are swapped: `row` picks the rows of the image "
        "(first index), `col` the columns (second index).": (
            lambda: (_window(image, col, row, k) * kernel).sum()
        ),
        "that is a matrix product (@). Multiply the window and the kernel "
        "pointwise (*), then add up all k * k products.": (
            lambda: (_window(image, row, col, k) @ kernel).sum()
        ),
    }
    results: dict[str, torch.Tensor | None] = {}
    for hint, mistake in mistakes.items():
        try:
            results[hint] = mistake()
        except RuntimeError:  # a window that does not fit: not this mistake here
            results[hint] = None
    return results


def _student_value(
    student: Callable, image: torch.Tensor, kernel: torch.Tensor, row: int, col: int
) -> torch.Tensor:
    """The student's conv_at at (row, col), as a 0-d tensor; errors get a hint."""
    name = "conv_at"
    try:
        value = call(student, name, image.clone(), kernel.clone(), row, col)
    except ExerciseFailed as error:
        first_line = str(error).splitlines()[0]
        if "raised" not in first_line:  # not written yet, or not a function
            raise
        k = kernel.shape[0]
        fail(
            f"{first_line} (at row={row}, col={col}, image "
            f"{tuple(image.shape)}, kernel {k}x{k}).",
            "output (row, col) reads the k x k window whose top-left corner is "
            "image[row, col], with k = kernel.shape[0] (not a fixed 3).",
        )
    return as_tensor(value, f"conv_at(image, kernel, {row}, {col})", torch.tensor(0.0))


def conv_at(student: Callable) -> None:
    """Check ``conv_at(image, kernel, row, col) -> 0-d tensor`` against F.conv2d.

    Every output position of four cases: the lecture's 5x5 image with an
    asymmetric kernel, and random non-square images with 3x3, 2x2 and 5x5
    kernels.
    """
    positions = 0
    for description, image, kernel in _conv_cases():
        reference = F.conv2d(image[None, None], kernel[None, None])[0, 0]
        rows, cols = reference.shape
        grid = [(row, col) for row in range(rows) for col in range(cols)]
        values = [_student_value(student, image, kernel, *at) for at in grid]
        positions += len(grid)
        wrong = [
            at
            for at, value in zip(grid, values, strict=True)
            if not close(value, reference[at], rtol=1e-5, atol=1e-5)
        ]
        if not wrong:
            continue
        row, col = wrong[0]
        value = values[grid.index((row, col))]
        problem = (
            f"on {description}, conv_at(image, kernel, {row}, {col}) returned "
            f"{value.item():.4f}; F.conv2d gives {reference[row, col].item():.4f}."
        )
        mistakes = [_conv_mistakes(image, kernel, *at) for at in grid]
        for hint in mistakes[0]:
            if all(
                found[hint] is None or close(value, found[hint], 1e-5, 1e-5)
                for value, found in zip(values, mistakes, strict=True)
            ):
                fail(problem, hint)
        fail(
            problem,
            "take the k x k window image[row : row + k, col : col + k] "
            "(k = kernel.shape[0]), multiply it pointwise by the kernel and add "
            "up the products.",
        )
    passed(f"matches F.conv2d at all {positions} output positions of 4 cases.")


def _settings() -> list[tuple[int, int, int, int, int]]:
    """(n, k, stride, padding, dilation) combinations that give an output."""
    combos = []
    for k in (3, 5, 2, 1):  # the usual kernel first: it names a failure best
        for n in (7, 8, 5, 13, 28):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    for dilation in (1, 2):
                        if n + 2 * padding >= dilation * (k - 1) + 1:
                            combos.append((n, k, stride, padding, dilation))
    return combos


def _size_mistakes(n: int, k: int, s: int, p: int, d: int) -> dict[str, int]:
    span = d * (k - 1) + 1  # pixels the dilated kernel covers
    return {
        "the + 1 is missing: (n + 2p - d(k - 1) - 1) // s counts the steps the "
        "window takes after its first position; add 1 for that first position.": (
            (n + 2 * p - span) // s
        ),
        "the division must round down (floor division //): a window that "
        "does not fit completely is not used.": math.ceil((n + 2 * p - span) / s) + 1,
        "padding adds p pixels on both sides: 2 * padding, not padding.": (
            (n + p - span) // s + 1
        ),
        "dilation is ignored: a kernel of size k with dilation d spans "
        "d * (k - 1) + 1 pixels.": (n + 2 * p - k) // s + 1,
        "the stride is ignored: divide by it (floor division) before adding 1.": (
            n + 2 * p - span + 1
        ),
        "the - 1 belongs inside the bracket, before dividing by the stride: "
        "(n + 2p - d(k - 1) - 1) // s + 1.": (n + 2 * p - d * (k - 1)) // s + 1,
    }


def output_size(student: Callable) -> None:
    """Check ``output_size(n, k, stride, padding, dilation) -> int``.

    Compared with the size of the output that ``F.conv2d`` produces for
    every combination of k in (1, 2, 3, 5), n in (5, 7, 8, 13, 28), stride 1-3,
    padding 0-2 and dilation 1-2 (those that give an output at all).
    """
    name = "output_size"
    combos = _settings()
    values = []
    for n, k, s, p, d in combos:
        value = call(student, name, n, k, stride=s, padding=p, dilation=d)
        setting = f"n={n}, k={k}, stride={s}, padding={p}, dilation={d}"
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float):
            fail(
                f"for {setting} `{name}` returned the float {value}.",
                "use floor division (//): it rounds down, as the formula's "
                "floor does, and keeps the result an int.",
            )
        if not isinstance(value, int) or isinstance(value, bool):
            fail(
                f"`{name}` should return an int, got {type(value).__name__}.",
                "compute it with +, -, * and // from the int arguments.",
            )
        values.append(value)

    for (n, k, s, p, d), value in zip(combos, values, strict=True):
        actual = F.conv2d(
            torch.zeros(1, 1, n, n),
            torch.zeros(1, 1, k, k),
            stride=s,
            padding=p,
            dilation=d,
        ).shape[-1]
        if value == actual:
            continue
        problem = (
            f"for n={n}, k={k}, stride={s}, padding={p}, dilation={d} `{name}` "
            f"returned {value}; F.conv2d gives {actual}."
        )
        for hint in _size_mistakes(n, k, s, p, d):
            if all(
                found == _size_mistakes(*combo)[hint]
                for combo, found in zip(combos, values, strict=True)
            ):
                fail(problem, hint)
        fail(problem, "the formula is (n + 2p - d(k - 1) - 1) // s + 1.")
    passed(f"matches the output size of F.conv2d for all {len(combos)} settings.")
