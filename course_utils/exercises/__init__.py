"""Instant checks for the exercises in the lessons.

Each lesson has a module here (``recap``, ``optimizers``, ``convolution``,
``pooling``, ``classification``, ``saliency``) with one check function per
exercise. A notebook imports its module as ``check``; the check cell under
an exercise calls, for example, ``check.momentum_step(momentum_step)``.

A check compares the student's function with the library that does the same
thing for real (``torch.optim``, ``torch.nn.functional``, ...) on a few
cases. It prints a short confirmation when every case agrees. Otherwise it
raises ``ExerciseFailed``, whose message names the case that went wrong and
gives a hint; common mistakes (a wrong sign, a missing bias correction, ...)
are recognised and named. Jupyter shows only that message, not a traceback
into this package.

The notebooks in ``notebooks/`` hold the solutions; ``python
scripts/make_student_notebooks.py`` turns them into the student versions in
``student/`` with nbgrader, which replaces each solution with a
``NotImplementedError`` line and locks the check cells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class ExerciseFailed(AssertionError):
    """An exercise check that did not pass; the message says why and what to try."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing the traceback: the student
        # needs the hint, not the frames inside course_utils.
        red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
        lines = str(self).splitlines() or [""]
        return [f"{red}{bold}Not yet:{reset}{red} {lines[0]}{reset}", *lines[1:]]


def passed(what: str) -> None:
    """Print the confirmation a check shows when every case agreed."""
    print(f"\u2713 Correct: {what}")


def fail(problem: str, hint: str | None = None) -> None:
    """Raise ``ExerciseFailed`` with the problem and, when given, a hint."""
    message = problem if hint is None else f"{problem}\nHint: {hint}"
    raise ExerciseFailed(message)


def call(function: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``function``; turn its exceptions into feedback.

    A ``NotImplementedError`` means the exercise has not been written yet;
    any other exception is reported with its type and message, since the
    student's own code raised it.
    """
    if not callable(function):
        fail(
            f"expected the function `{name}`, got {type(function).__name__}.",
            f"run the cell that defines `{name}` first, then this check.",
        )
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        fail(
            f"`{name}` is not written yet.",
            "replace the `raise NotImplementedError(...)` line in the exercise "
            "cell with your code, run that cell, then run this check again.",
        )
    except ExerciseFailed:
        raise
    except Exception as error:  # the student's code raised: show what it said
        fail(f"`{name}` raised {type(error).__name__}: {error}")


def as_tensor(value: Any, name: str, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor shaped like ``like``; else ``ExerciseFailed``."""
    if not isinstance(value, torch.Tensor):
        if isinstance(getattr(value, "values", None), torch.Tensor):
            # torch.max(x, dim=...) and friends return (values, indices)
            fail(
                f"`{name}` is a pair (values, indices), not a tensor.",
                "x.max(dim=...) returns both the largest values and where they "
                "are: take its .values (or use x.amax(dim=...)).",
            )
        fail(
            f"`{name}` should be a torch.Tensor, got {type(value).__name__}.",
            "build the result from torch operations on the tensors you were given.",
        )
    if value.shape != like.shape:
        fail(f"`{name}` has shape {tuple(value.shape)}, expected {tuple(like.shape)}.")
    return value


def close(
    value: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6
) -> bool:
    """True when ``value`` equals ``expected`` to the tolerances (NaN never)."""
    value = value.detach().to(expected.dtype)
    return bool(torch.allclose(value, expected.detach(), rtol=rtol, atol=atol))
