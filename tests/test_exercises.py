"""The exercise checks of 01_recap and 02_optimizers, and the shared feedback.

Every check must pass the right answer, say "not written yet" for the
untouched student stub, name each common mistake it knows, and fail any
other wrong answer.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from course_utils.exercises import ExerciseFailed, call
from course_utils.exercises import optimizers as optimizer_checks
from course_utils.exercises import recap as recap_checks


def _stub(*args, **kwargs):
    raise NotImplementedError("write your code here")


def _fails(check, student) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        check(student)
    return str(failure.value)


# ------------------------------------------------------------------ shared parts
def test_feedback_renders_without_a_traceback():
    error = ExerciseFailed("`f` is wrong.\nHint: try again.")
    lines = error._render_traceback_()
    assert "Not yet:" in lines[0] and "`f` is wrong." in lines[0]
    assert lines[1:] == ["Hint: try again."]


def test_call_reports_the_students_own_exception():
    def broken(x):
        return x.no_such_method()

    with pytest.raises(ExerciseFailed, match="raised AttributeError"):
        call(broken, "broken", torch.zeros(1))
    with pytest.raises(ExerciseFailed, match="expected the function `f`"):
        call(None, "f")


# ------------------------------------------------------------------ 01 recap
def _dropout(x, p, training):
    if not training:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def _elu(x, alpha):
    return torch.where(x > 0, x, alpha * torch.expm1(x))


def test_dropout_check(capsys):
    recap_checks.dropout(_dropout)
    assert "Correct" in capsys.readouterr().out
    assert "not written yet" in _fails(recap_checks.dropout, _stub)
    mistakes = {
        "scales the kept units up": lambda x, p, t: x * (torch.rand_like(x) >= p),
        "probability 1 - p": lambda x, p, t: _dropout(x, 1 - p, t),
        "not by p": lambda x, p, t: x * (torch.rand_like(x) >= p) / p if t else x,
        "at test time": lambda x, p, t: _dropout(x, p, True),
        "one random number per unit": lambda x, p, t: x,
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(recap_checks.dropout, wrong), hint
    assert "shape" in _fails(recap_checks.dropout, lambda x, p, t: x[:10])
    pair = _fails(recap_checks.dropout, lambda x, p, t: x[:, None].max(dim=1))
    assert "take its .values" in pair


def test_elu_check(capsys):
    recap_checks.elu(_elu)
    assert "Correct" in capsys.readouterr().out
    assert "not written yet" in _fails(recap_checks.elu, _stub)
    mistakes = {
        "the -1 is missing": lambda x, a: torch.where(x > 0, x, a * torch.exp(x)),
        "by alpha": lambda x, a: torch.where(x > 0, x, torch.expm1(x)),
        "torch.where": lambda x, a: x * (x > 0) + a * torch.expm1(x) * (x <= 0),
        "ELU is x itself": lambda x, a: torch.where(x > 0, 2 * x, a * torch.expm1(x)),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(recap_checks.elu, wrong), hint
    assert "negative inputs" in _fails(recap_checks.elu, lambda x, a: torch.relu(x))


# ------------------------------------------------------------------ 02 optimizers
def _momentum(w, g, buf, lr, mu):
    buf = mu * buf + g
    return w - lr * buf, buf


def _adam(w, g, m, v, t, lr, beta1, beta2, eps, *, correct=True, inside=False):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t) if correct else m
    v_hat = v / (1 - beta2**t) if correct else v
    root = torch.sqrt(v_hat + eps) if inside else torch.sqrt(v_hat) + eps
    return w - lr * m_hat / root, m, v


def test_momentum_check(capsys):
    optimizer_checks.momentum_step(_momentum)
    assert "Correct" in capsys.readouterr().out

    def velocity_form(w, g, v, lr, mu):  # the lecture's form is the same method
        v = mu * v - lr * g
        return w + v, v

    optimizer_checks.momentum_step(velocity_form)
    assert "not written yet" in _fails(optimizer_checks.momentum_step, _stub)
    mistakes = {
        "up the gradient": lambda w, g, b, lr, mu: (w + lr * (mu * b + g), mu * b + g),
        "does not remember": lambda w, g, b, lr, mu: (w - lr * g, g),
        "not the old one": lambda w, g, b, lr, mu: (w - lr * b, mu * b + g),
    }
    for hint, wrong in mistakes.items():
        assert hint in _fails(optimizer_checks.momentum_step, wrong), hint
    other = _fails(optimizer_checks.momentum_step, lambda w, g, b, lr, mu: (w, b))
    assert "first differ" in other and "step 1" in other
    not_a_tuple = _fails(optimizer_checks.momentum_step, lambda w, g, b, lr, mu: w)
    assert "tuple of 2" in not_a_tuple


def test_adam_check(capsys):
    optimizer_checks.adam_step(_adam)
    assert "Correct" in capsys.readouterr().out
    assert "not written yet" in _fails(optimizer_checks.adam_step, _stub)
    no_correction = _fails(optimizer_checks.adam_step, partial(_adam, correct=False))
    assert "bias correction is missing" in no_correction
    eps_inside = _fails(optimizer_checks.adam_step, partial(_adam, inside=True))
    assert "outside the square root" in eps_inside

    def plain_sgd(w, g, m, v, t, lr, beta1, beta2, eps):
        return w - lr * g, m, v

    def step_counted_from_2(w, g, m, v, t, **settings):
        return _adam(w, g, m, v, t + 1, **settings)

    def returns_corrected(w, g, m, v, t, lr, beta1, beta2, eps):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m, v = m / (1 - beta1**t), v / (1 - beta2**t)
        return w - lr * m / (torch.sqrt(v) + eps), m, v

    assert "before the bias correction" in _fails(
        optimizer_checks.adam_step, returns_corrected
    )
    for wrong in (plain_sgd, step_counted_from_2):
        assert "first differ from torch.optim.Adam" in _fails(
            optimizer_checks.adam_step, wrong
        )
