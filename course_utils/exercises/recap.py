"""Checks for the exercises of 01_recap: inverted dropout and the ELU activation."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import as_tensor, call, close, fail, passed


def dropout(student: Callable) -> None:
    """Check ``dropout(x, p, training) -> tensor`` against ``F.dropout``.

    The random masks of two implementations cannot agree element by element,
    so the check compares what must hold for every mask, on 200,000 units:
    each output is 0 or x / (1 - p), the fraction of zeros is p (within
    0.01, about 4 standard deviations), zeros fall independently (not the
    same for all units), and in evaluation mode or with p = 0 the input comes
    back unchanged. ``F.dropout`` is checked on the same statistics first, so
    the test is the library's behaviour, not a guess.
    """
    with torch.random.fork_rng(devices=[]):  # the notebook's random state stays
        _dropout_cases(student)
    passed(
        "drops each unit with probability p and scales the rest by 1/(1-p), "
        "like F.dropout; nothing changes at test time."
    )


def _dropout_cases(student: Callable) -> None:
    name = "dropout"
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(200_000, generator=generator) + 0.5  # no zeros in the input
    for p in (0.2, 0.7):
        torch.manual_seed(0)
        for label, function in (("F.dropout", None), (f"`{name}`", student)):
            if function is None:
                out = F.dropout(x, p, training=True)
            else:
                out = as_tensor(call(function, name, x.clone(), p, True), name, x)
            zeros = out == 0
            kept = ~zeros
            if zeros.all() or not zeros.any():
                fail(
                    f"with p={p} in training, {label} dropped "
                    f"{'every' if zeros.all() else 'no'} unit.",
                    "draw one random number per unit (torch.rand_like(x)) and drop "
                    "the unit when it is below p.",
                )
            fraction = zeros.float().mean().item()
            if abs(fraction - p) > 0.01:
                hint = (
                    "you dropped with probability 1 - p: a unit is dropped when "
                    "its random number is below p."
                    if abs(fraction - (1 - p)) <= 0.01
                    else "each unit must be dropped with probability p."
                )
                fail(
                    f"with p={p}, {label} dropped {fraction:.1%} of the units, "
                    f"expected {p:.0%}.",
                    hint,
                )
            if close(out[kept], x[kept]):
                fail(
                    f"with p={p}, the kept units come out unchanged.",
                    "inverted dropout scales the kept units up by 1 / (1 - p), so "
                    "that the expected output equals the input.",
                )
            if not close(out[kept], x[kept] / (1 - p)):
                hint = (
                    "divide by the keep probability 1 - p, not by p."
                    if close(out[kept], x[kept] / p)
                    else "the kept units must equal x / (1 - p)."
                )
                fail(f"with p={p}, the kept units have the wrong size.", hint)
    for p, training in ((0.5, False), (0.0, True)):
        out = as_tensor(call(student, name, x.clone(), p, training), name, x)
        if not torch.equal(out, x):
            mode = "in evaluation mode" if not training else "with p=0"
            fail(
                f"{mode} the output must be the input unchanged.",
                "at test time (training=False) nothing is dropped or scaled.",
            )


def elu(student: Callable) -> None:
    """Check ``elu(x, alpha) -> tensor`` against ``F.elu``.

    Inputs from -100 to 100 with alpha 1.0 and 0.5. exp(100) overflows
    float32 to inf, so a version that multiplies exp(x) by a 0/1 mask
    instead of choosing with ``torch.where`` returns nan there.
    """
    name = "elu"
    x = torch.cat([torch.linspace(-100, 100, 401), torch.tensor([0.0, -1e-4, 1e-4])])
    for alpha in (1.0, 0.5):
        out = as_tensor(call(student, name, x.clone(), alpha), name, x)
        expected = F.elu(x, alpha=alpha)
        if torch.isnan(out).any() or torch.isinf(out).any():
            fail(
                f"with alpha={alpha}, `{name}` returned inf or nan for some inputs.",
                "exp(100) is inf in float32, and inf * 0 is nan: choose between "
                "the two branches with torch.where instead of multiplying by a mask.",
            )
        if close(out, expected):
            continue
        negative = x <= 0  # ELU(0) = 0 on both branches
        if close(out[~negative], expected[~negative]):
            if close(out[negative], alpha * torch.exp(x[negative])):
                hint = "for x < 0 it is alpha * (exp(x) - 1): the -1 is missing."
            elif close(out[negative], torch.exp(x[negative]) - 1):
                hint = "multiply the negative branch, exp(x) - 1, by alpha."
            else:
                hint = "for x < 0, ELU is alpha * (exp(x) - 1)."
            fail(f"with alpha={alpha}, negative inputs come out wrong.", hint)
        fail(
            f"with alpha={alpha}, positive inputs come out wrong.",
            "for x > 0, ELU is x itself.",
        )
    passed("equals F.elu for inputs from -100 to 100, with alpha 1.0 and 0.5.")
