"""Checks for the exercises of 04_pooling: max pooling and L2 pooling of one map.

Both take a 2-D feature map and a window size, use non-overlapping windows
(stride = window size) and drop the rows and columns left over at the bottom
and right, as ``torch.nn.functional.max_pool2d`` and ``lp_pool2d`` do by
default. They are compared with those functions on maps that have negative
values, odd sizes and different heights and widths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import as_tensor, call, fail, passed


def _cases() -> list[tuple[str, torch.Tensor, int]]:
    """(description, feature map (H, W), window size)."""
    generator = torch.Generator().manual_seed(4)
    lecture = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    return [
        ("the lecture's 4x4 map, window 2", lecture, 2),
        ("a random 6x9 map, window 3", torch.randn(6, 9, generator=generator), 3),
        ("a random 7x10 map, window 2", torch.randn(7, 10, generator=generator), 2),
        ("a random 9x8 map, window 4", torch.randn(9, 8, generator=generator), 4),
    ]


def _windows(feature_map: torch.Tensor, size: int) -> torch.Tensor:
    """(H // size, W // size, size, size): the non-overlapping windows."""
    return feature_map.unfold(0, size, size).unfold(1, size, size)


def _same(value: torch.Tensor, expected: torch.Tensor) -> bool:
    """Equal to float precision; NaN equals NaN (a mistake may give NaN)."""
    if value.shape != expected.shape:
        return False
    return bool(
        torch.allclose(
            value.detach().to(expected.dtype), expected, 1e-5, 1e-5, equal_nan=True
        )
    )


def _scrambled_windows(feature_map: torch.Tensor, size: int) -> torch.Tensor:
    """What ``reshape(H // size, W // size, size, size)`` gives: not the windows."""
    rows, cols = feature_map.shape[0] // size, feature_map.shape[1] // size
    cropped = feature_map[: rows * size, : cols * size]
    return cropped.reshape(rows, cols, size, size)


def _check_shape(
    value: torch.Tensor, name: str, feature_map: torch.Tensor, size: int, like
) -> torch.Tensor:
    """Name the shape mistakes (overlapping windows, kept remainder, one axis)."""
    height, width = feature_map.shape
    if isinstance(value, torch.Tensor) and value.shape != like.shape:
        got = tuple(value.shape)
        problem = (
            f"on a {height}x{width} map with window {size}, `{name}` returned shape "
            f"{got}; expected {tuple(like.shape)}."
        )
        if got == (height - size + 1, width - size + 1):
            fail(problem, "the windows overlap: move them by `size` (stride = size).")
        if got == (-(-height // size), -(-width // size)):
            fail(
                problem,
                "drop the rows and columns that do not fill a whole window "
                "(floor, as F.max_pool2d does by default).",
            )
        if got == tuple(like.shape)[::-1]:
            fail(
                problem,
                "rows and columns are swapped: output (i, j) summarises the "
                "window in rows i * size ... and columns j * size ....",
            )
        if got[:2] == tuple(like.shape) and len(got) == 3:
            fail(problem, "reduce over both window dimensions (rows and columns).")
        fail(problem)
    return as_tensor(value, name, like)


def _pooling_check(
    student: Callable,
    name: str,
    reference_name: str,
    reference: Callable[[torch.Tensor, int], torch.Tensor],
    mistakes: dict[str, Callable[[torch.Tensor, int], torch.Tensor]],
    general_hint: str,
) -> int:
    """Run every case; fail naming the case and, if recognised, the mistake.

    A mistake is named only when it explains the student's result on every
    case, so that a coincidence on one map does not give the wrong hint.
    """
    cases = _cases()
    values = []
    for _, feature_map, size in cases:
        expected = reference(feature_map, size)
        value = call(student, name, feature_map.clone(), size)
        values.append(_check_shape(value, name, feature_map, size, expected))
    for (description, feature_map, size), value in zip(cases, values, strict=True):
        expected = reference(feature_map, size)
        if _same(value, expected):
            continue
        problem = (
            f"on {description}, `{name}` gives\n{value}\n"
            f"but {reference_name} gives\n{expected}"
        )
        for hint, mistake in mistakes.items():
            if all(
                _same(found, mistake(x, k))
                for (_, x, k), found in zip(cases, values, strict=True)
            ):
                fail(problem, hint)
        if torch.isnan(value).any():
            fail(problem, "NaN: the square root of a negative number?")
        fail(problem, general_hint)
    return len(cases)


def max_pool(student: Callable) -> None:
    """Check ``max_pool(feature_map, size) -> (H // size, W // size)``.

    Compared with ``F.max_pool2d(feature_map[None, None], size)[0, 0]``.
    """
    cases = _pooling_check(
        student,
        "max_pool",
        "F.max_pool2d",
        lambda x, size: F.max_pool2d(x[None, None], size)[0, 0],
        {
            "reshape(H // size, W // size, size, size) does not cut the map into "
            "windows (it takes `size` consecutive values of a row). Use "
            "unfold, or reshape(H // size, size, W // size, size) and reduce "
            "dims 1 and 3.": lambda x, size: _scrambled_windows(x, size).amax(
                dim=(-2, -1)
            ),
            "that is the minimum of each window; max pooling keeps the largest "
            "value.": lambda x, size: _windows(x, size).amin(dim=(-2, -1)),
            "that is average pooling (the mean); max pooling keeps the largest "
            "value.": lambda x, size: _windows(x, size).mean(dim=(-2, -1)),
        },
        "cut the map into size x size windows (unfold on dim 0, then dim 1, "
        "with step = size) and take the largest value of each.",
    )
    passed(f"matches F.max_pool2d on {cases} maps.")


def l2_pool(student: Callable) -> None:
    """Check ``l2_pool(feature_map, size) -> (H // size, W // size)``.

    Compared with ``F.lp_pool2d(feature_map[None, None], 2, size)[0, 0]``,
    the square root of the sum of squares of each window.
    """
    cases = _pooling_check(
        student,
        "l2_pool",
        "F.lp_pool2d",
        lambda x, size: F.lp_pool2d(x[None, None], 2, size)[0, 0],
        {
            "the square root is missing: the L2 norm is sqrt(sum of x^2).": (
                lambda x, size: _windows(x, size).square().sum(dim=(-2, -1))
            ),
            "that is the root of the *mean* square; the L2 norm sums the squares "
            "(no division by the window's size).": lambda x, size: (
                _windows(x, size).square().mean(dim=(-2, -1)).sqrt()
            ),
            "square each value before adding: sqrt(sum of x^2), not "
            "sqrt(sum of x).": lambda x, size: (
                _windows(x, size).sum(dim=(-2, -1)).sqrt()
            ),
            "that is |sum of x|; square each value before adding: "
            "sqrt(sum of x^2).": lambda x, size: (
                _windows(x, size).sum(dim=(-2, -1)).abs()
            ),
            "that is the sum of absolute values (the L1 norm); L2 pooling is "
            "sqrt(sum of x^2).": lambda x, size: (
                _windows(x, size).abs().sum(dim=(-2, -1))
            ),
            "that is max pooling; L2 pooling is sqrt(sum of x^2) over each "
            "window.": lambda x, size: _windows(x, size).amax(dim=(-2, -1)),
            "reshape(H // size, W // size, size, size) does not cut the map into "
            "windows. Use unfold, or reshape(H // size, size, W // size, size) "
            "and reduce dims 1 and 3.": lambda x, size: (
                _scrambled_windows(x, size).square().sum(dim=(-2, -1)).sqrt()
            ),
        },
        "cut the map into size x size windows (as for max pooling), then take "
        "the square root of the sum of the squares of each window.",
    )
    passed(f"matches F.lp_pool2d(norm_type=2) on {cases} maps.")
