"""Checks for the exercises of 02_optimizers: one momentum step, one Adam step.

Both are compared with ``torch.optim`` over several steps, in float64, with the
student's returned state fed back into the next step, exactly as an optimizer
would keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from . import as_tensor, call, close, fail, passed

STEPS = 6


def _gradients(seed: int, shape: tuple[int, ...] = (4, 3)) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=generator, dtype=torch.float64)
        for _ in range(STEPS)
    ]


def _torch_path(make: Callable, w0: torch.Tensor, grads) -> list[torch.Tensor]:
    """The weights after each step of a torch.optim optimizer on ``grads``."""
    w = w0.clone().requires_grad_(True)
    optimizer = make([w])
    path = []
    for g in grads:
        w.grad = g.clone()
        optimizer.step()
        path.append(w.detach().clone())
    return path


def _student_path(step: Callable, name: str, w0, grads, state):
    """Run the student's step function, feeding its state back in."""
    w, path = w0.clone(), []
    for t, g in enumerate(grads, start=1):
        result = call(step, name, w.clone(), g.clone(), *state, t)
        if not isinstance(result, tuple) or len(result) != 1 + len(state):
            fail(
                f"`{name}` should return a tuple of {1 + len(state)} tensors, "
                f"got {type(result).__name__}.",
                "end the function with the `return` line that is already there.",
            )
        w = as_tensor(result[0], "the new w", w0)
        state = [
            as_tensor(value, f"returned state {index}", w0)
            for index, value in enumerate(result[1:], start=1)
        ]
        path.append(w.detach().clone())
    return path


def _first_difference(path, reference) -> int | None:
    for t, (ours, theirs) in enumerate(zip(path, reference, strict=True), start=1):
        if not close(ours, theirs, rtol=1e-9, atol=1e-12):
            return t
    return None


def momentum_step(student: Callable) -> None:
    """Check ``momentum_step(w, g, buf, lr, mu) -> (w, buf)`` against torch.

    Cases: lr 0.1 with mu 0.9, and lr 0.05 with mu 0.5; the buffer starts at
    zeros, as torch's does in effect.
    """
    for lr, mu, seed in [(0.1, 0.9, 1), (0.05, 0.5, 2)]:
        _momentum_case(student, lr, mu, _gradients(seed))
    passed(f"matches torch.optim.SGD(momentum=...) over {STEPS} steps, 2 settings.")


def _momentum_case(student: Callable, lr: float, mu: float, grads) -> None:
    name = "momentum_step"
    w0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)

    def run(step: Callable) -> list[torch.Tensor]:
        return _student_path(
            lambda w, g, buf, t: step(w, g, buf, lr=lr, mu=mu),
            name,
            w0,
            grads,
            [torch.zeros_like(w0)],
        )

    path = run(student)
    reference = _torch_path(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu), w0, grads)
    bad = _first_difference(path, reference)
    if bad is None:
        return
    mistakes = {
        "you moved w up the gradient: the step is w - lr * buf.": (
            lambda w, g, b, lr, mu: (w + lr * (mu * b + g), mu * b + g)
        ),
        "the buffer does not remember anything: it must be mu * buf + g.": (
            lambda w, g, b, lr, mu: (w - lr * g, g)
        ),
        "w must move with the new buffer (after adding g), not the old one.": (
            lambda w, g, b, lr, mu: (w - lr * b, mu * b + g)
        ),
    }
    for hint, wrong in mistakes.items():
        if _first_difference(path, run(wrong)) is None:
            fail(f"with lr={lr}, mu={mu} the weights differ from torch's.", hint)
    fail(
        f"with lr={lr}, mu={mu}, the weights first differ from "
        f"torch.optim.SGD(momentum={mu}) at step {bad}.",
        "two lines: buf = mu * buf + g, then w = w - lr * buf.",
    )


def _adam_variant(
    w, g, m, v, t, lr, beta1, beta2, eps, *, correct, eps_inside, return_corrected=False
):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t) if correct else m
    v_hat = v / (1 - beta2**t) if correct else v
    root = torch.sqrt(v_hat + eps) if eps_inside else torch.sqrt(v_hat) + eps
    if return_corrected:
        return w - lr * m_hat / root, m_hat, v_hat
    return w - lr * m_hat / root, m, v


def adam_step(student: Callable) -> None:
    """Check ``adam_step(w, g, m, v, t, lr, beta1, beta2, eps) -> (w, m, v)``.

    Compared with ``torch.optim.Adam`` over six steps (t = 1, 2, ...), once
    with the defaults and once with betas (0.5, 0.9) and eps 0.1, where a
    misplaced epsilon or a missing bias correction shows clearly.
    """
    settings_list = [
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8),
        dict(lr=0.1, beta1=0.5, beta2=0.9, eps=0.1),
    ]
    for seed, settings in enumerate(settings_list, start=3):
        _adam_case(student, settings, _gradients(seed))
    passed(f"matches torch.optim.Adam over {STEPS} steps, 2 settings.")


def _adam_case(student: Callable, settings: dict, grads) -> None:
    name = "adam_step"
    w0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)

    def run(step: Callable) -> list[torch.Tensor]:
        zeros = [torch.zeros_like(w0), torch.zeros_like(w0)]
        return _student_path(
            lambda w, g, m, v, t: step(w, g, m, v, t, **settings),
            name,
            w0,
            grads,
            zeros,
        )

    path = run(student)
    lr, b1, b2, eps = (settings[k] for k in ("lr", "beta1", "beta2", "eps"))
    reference = _torch_path(
        lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, b2), eps=eps), w0, grads
    )
    bad = _first_difference(path, reference)
    if bad is None:
        return
    mistakes = {
        "the bias correction is missing: divide m by (1 - beta1**t) and v by "
        "(1 - beta2**t) before the update (keep m and v themselves "
        "uncorrected).": dict(correct=False, eps_inside=False),
        "eps goes outside the square root, as in torch: sqrt(v_hat) + eps.": dict(
            correct=True, eps_inside=True
        ),
        "return m and v as they are, before the bias correction: the next step "
        "builds on the uncorrected averages.": dict(
            correct=True, eps_inside=False, return_corrected=True
        ),
    }
    for hint, variant in mistakes.items():
        wrong = partial(_adam_variant, **variant)
        if _first_difference(path, run(wrong)) is None:
            fail(f"with {settings} the weights differ from torch's.", hint)
    fail(
        f"with {settings}, the weights first differ from torch.optim.Adam "
        f"at step {bad}.",
        "update m and v as running averages, correct both for bias with "
        "t, then w = w - lr * m_hat / (sqrt(v_hat) + eps).",
    )
