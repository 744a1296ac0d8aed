"""The from-scratch optimizers compute the same numbers as torch.optim.

Every case trains two copies of a tiny MLP side by side in float64, one with
our optimizer and one with its torch.optim counterpart, and compares every
parameter after every step to 1e-12. The cases use settings chosen to expose
a wrong implementation (large eps, betas far from the defaults, dampening,
Nesterov, weight decay, lr != 1 for Adadelta), and the "mutant" tests show
that the comparison does fail for a deliberately wrong update.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.optim import (
    SGD,
    TORCH_EQUIVALENTS,
    Adadelta,
    Adagrad,
    Adam,
    Momentum,
    RMSprop,
)
from course_utils.training import fit

STEPS = 25
TOLERANCE = {"rtol": 0.0, "atol": 1e-12}

# (optimizer class, hyperparameters); each id says what the case would expose.
CASES = [
    pytest.param(SGD, {"lr": 0.1}, id="sgd"),
    pytest.param(SGD, {"lr": 0.05, "weight_decay": 0.1}, id="sgd-weight-decay"),
    pytest.param(Momentum, {"lr": 0.05}, id="momentum-default-0.9"),
    pytest.param(
        Momentum,
        {"lr": 0.05, "momentum": 0.5, "dampening": 0.3},
        id="momentum-dampening",
    ),
    pytest.param(
        Momentum,
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
        id="momentum-nesterov",
    ),
    pytest.param(
        Momentum,
        {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.1, "nesterov": True},
        id="momentum-nesterov-weight-decay",
    ),
    pytest.param(Adagrad, {}, id="adagrad-default"),
    pytest.param(Adagrad, {"lr": 0.1, "eps": 1.0}, id="adagrad-large-eps"),
    pytest.param(
        Adagrad,
        {
            "lr": 0.1,
            "lr_decay": 0.2,
            "initial_accumulator_value": 0.5,
            "weight_decay": 0.1,
        },
        id="adagrad-lr-decay-initial-accumulator-weight-decay",
    ),
    pytest.param(RMSprop, {}, id="rmsprop-default"),
    pytest.param(
        RMSprop, {"lr": 0.01, "alpha": 0.5, "eps": 1.0}, id="rmsprop-large-eps"
    ),
    pytest.param(RMSprop, {"lr": 0.01, "momentum": 0.8}, id="rmsprop-momentum"),
    pytest.param(
        RMSprop, {"lr": 0.01, "centered": True, "eps": 0.1}, id="rmsprop-centered"
    ),
    pytest.param(
        RMSprop,
        {
            "lr": 0.01,
            "alpha": 0.7,
            "momentum": 0.5,
            "centered": True,
            "weight_decay": 0.1,
        },
        id="rmsprop-centered-momentum-weight-decay",
    ),
    pytest.param(Adadelta, {}, id="adadelta-default"),
    pytest.param(Adadelta, {"lr": 0.5, "eps": 1.0}, id="adadelta-lr-large-eps"),
    pytest.param(
        Adadelta,
        {"lr": 2.0, "rho": 0.5, "weight_decay": 0.1},
        id="adadelta-rho-weight-decay",
    ),
    pytest.param(Adam, {}, id="adam-default"),
    pytest.param(Adam, {"lr": 0.01, "betas": (0.5, 0.6)}, id="adam-far-betas"),
    pytest.param(
        Adam,
        {"lr": 0.01, "betas": (0.0, 0.3), "eps": 1.0},
        id="adam-beta1-zero-large-eps",
    ),
    pytest.param(
        Adam,
        {"lr": 0.01, "betas": (0.95, 0.5), "weight_decay": 0.1},
        id="adam-weight-decay",
    ),
]


def _tiny_mlp() -> nn.Module:
    """A float64 MLP 4 -> 8 -> 3 with fixed initial weights."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def _batches(count: int = 5) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """count batches of (x float64 (16, 4), labels int64 (16,)), fixed seed."""
    generator = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(16, 4, generator=generator, dtype=torch.float64),
            torch.randint(0, 3, (16,), generator=generator),
        )
        for _ in range(count)
    ]


def _train_side_by_side(make_ours, make_theirs, steps: int = STEPS) -> None:
    """Train two copies of one model; assert equal parameters after every step.

    make_ours, make_theirs: callables params -> optimizer.
    Raises AssertionError (from assert_close) at the first differing step.
    """
    ours_model = _tiny_mlp()
    theirs_model = copy.deepcopy(ours_model)
    ours = make_ours(ours_model.parameters())
    theirs = make_theirs(theirs_model.parameters())
    batches = _batches()
    loss_fn = nn.CrossEntropyLoss()

    for step in range(steps):
        x, labels = batches[step % len(batches)]
        for model, optimizer in [(ours_model, ours), (theirs_model, theirs)]:
            optimizer.zero_grad()
            loss_fn(model(x), labels).backward()
            optimizer.step()

        for (name, mine), reference in zip(
            ours_model.named_parameters(), theirs_model.parameters(), strict=True
        ):
            torch.testing.assert_close(
                mine,
                reference,
                **TOLERANCE,
                msg=lambda detail, name=name, step=step: (
                    f"{name} differs after step {step + 1}: {detail}"
                ),
            )


@pytest.mark.parametrize(("optimizer_class", "hyperparameters"), CASES)
def test_matches_torch_step_by_step(optimizer_class, hyperparameters):
    torch_equivalent = TORCH_EQUIVALENTS[optimizer_class]
    _train_side_by_side(
        lambda params: optimizer_class(params, **hyperparameters),
        lambda params: torch_equivalent(params, **hyperparameters),
    )


def test_every_case_moves_the_parameters():
    """Guard against a vacuous comparison: after training, weights have changed."""
    model = _tiny_mlp()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = Adadelta(model.parameters())  # the slowest to move at its defaults
    x, labels = _batches(1)[0]
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
    changes = [
        (after - start).abs().max().item()
        for after, start in zip(model.parameters(), before, strict=True)
    ]
    change = max(changes)
    assert change > 1e-4


@pytest.mark.parametrize("optimizer_class", list(TORCH_EQUIVALENTS))
def test_defaults_match_the_torch_equivalent(optimizer_class):
    """With no hyperparameters given, both sides use the same settings."""
    model = _tiny_mlp()
    ours = optimizer_class(model.parameters()).defaults
    theirs = TORCH_EQUIVALENTS[optimizer_class](model.parameters()).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


def test_torch_equivalents_cover_every_optimizer():
    assert set(TORCH_EQUIVALENTS) == {SGD, Momentum, Adagrad, RMSprop, Adadelta, Adam}


# --- The comparison can fail: deliberately wrong updates are caught -----------


class _AdagradEpsInsideSqrt(torch.optim.Optimizer):
    """Wrong on purpose: w = w - lr * g / sqrt(v + eps) (PyTorch: sqrt(v) + eps)."""

    def __init__(self, params, lr: float, eps: float) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for w in group["params"]:
                state = self.state[w]
                state["v"] = state.get("v", torch.zeros_like(w)) + w.grad**2
                w.sub_(group["lr"] * w.grad / (state["v"] + group["eps"]).sqrt())


class _AdamWithoutBiasCorrection(torch.optim.Optimizer):
    """Wrong on purpose: w = w - lr * m / (sqrt(v) + eps), no m_hat or v_hat."""

    def __init__(self, params, lr: float, betas: tuple[float, float]) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": 1e-8})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for w in group["params"]:
                state, g = self.state[w], w.grad
                m = state.get("m", torch.zeros_like(w))
                v = state.get("v", torch.zeros_like(w))
                state["m"] = m = beta1 * m + (1 - beta1) * g
                state["v"] = v = beta2 * v + (1 - beta2) * g**2
                w.sub_(group["lr"] * m / (v.sqrt() + group["eps"]))


def test_eps_placement_difference_exceeds_tolerance():
    """With eps = 1, g / (sqrt(v) + eps) and g / sqrt(v + eps) differ visibly."""
    g = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    v, eps = g**2, 1.0
    outside = g / (v.sqrt() + eps)
    inside = g / (v + eps).sqrt()
    assert (outside - inside).abs().max() > 1e3 * TOLERANCE["atol"]


def test_wrong_eps_placement_is_caught():
    with pytest.raises(AssertionError, match="differs after step 1"):
        _train_side_by_side(
            lambda params: _AdagradEpsInsideSqrt(params, lr=0.1, eps=1.0),
            lambda params: torch.optim.Adagrad(params, lr=0.1, eps=1.0),
        )


def test_missing_bias_correction_is_caught():
    with pytest.raises(AssertionError, match="differs after step 1"):
        _train_side_by_side(
            lambda params: _AdamWithoutBiasCorrection(params, 0.01, (0.5, 0.6)),
            lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.5, 0.6)),
        )


def test_adadelta_lr_is_not_ignored():
    """PyTorch's Adadelta scales the step by lr; lr = 1 would not match lr = 0.5."""
    with pytest.raises(AssertionError):
        _train_side_by_side(
            lambda params: Adadelta(params, lr=1.0),
            lambda params: torch.optim.Adadelta(params, lr=0.5),
        )


def test_lecture_velocity_form_equals_torch_form_only_for_constant_lr():
    """v = mu * v - lr * g; w = w + v  versus  buf = mu * buf + g; w = w - lr * buf.

    Both are run on a fixed sequence of gradients. With a constant lr the
    weights agree; once lr changes half way through, they do not.
    """
    generator = torch.Generator().manual_seed(2)
    gradients = [
        torch.randn(5, generator=generator, dtype=torch.float64) for _ in range(10)
    ]
    mu = 0.9

    def run(learning_rates):
        w_lecture = torch.zeros(5, dtype=torch.float64)
        w_torch = w_lecture.clone()
        v = torch.zeros_like(w_lecture)
        buf = None
        for g, lr in zip(gradients, learning_rates, strict=True):
            v = mu * v - lr * g
            w_lecture = w_lecture + v
            buf = g.clone() if buf is None else mu * buf + g
            w_torch = w_torch - lr * buf
        return w_lecture, w_torch

    w_lecture, w_torch = run([0.1] * 10)
    torch.testing.assert_close(w_lecture, w_torch, **TOLERANCE)

    w_lecture, w_torch = run([0.1] * 5 + [0.01] * 5)
    assert (w_lecture - w_torch).abs().max() > 1e-3


# --- Invalid hyperparameters ---------------------------------------------------

INVALID = [
    pytest.param(SGD, {"lr": -0.1}, "lr", id="sgd-lr"),
    pytest.param(SGD, {"weight_decay": -1e-4}, "weight_decay", id="sgd-weight-decay"),
    pytest.param(Momentum, {"lr": -1.0}, "lr", id="momentum-lr"),
    pytest.param(Momentum, {"momentum": -0.9}, "momentum", id="momentum-negative"),
    pytest.param(Momentum, {"momentum": 0.0}, "momentum", id="momentum-zero"),
    pytest.param(Momentum, {"dampening": 1.5}, "dampening", id="momentum-dampening"),
    pytest.param(
        Momentum,
        {"nesterov": True, "dampening": 0.1},
        "dampening",
        id="momentum-nesterov-with-dampening",
    ),
    pytest.param(
        Momentum, {"weight_decay": -1.0}, "weight_decay", id="momentum-weight-decay"
    ),
    pytest.param(Adagrad, {"lr": -0.01}, "lr", id="adagrad-lr"),
    pytest.param(Adagrad, {"eps": -1e-10}, "eps", id="adagrad-eps"),
    pytest.param(Adagrad, {"lr_decay": -0.1}, "lr_decay", id="adagrad-lr-decay"),
    pytest.param(
        Adagrad,
        {"initial_accumulator_value": -1.0},
        "initial_accumulator_value",
        id="adagrad-initial-accumulator",
    ),
    pytest.param(
        Adagrad, {"weight_decay": -1.0}, "weight_decay", id="adagrad-weight-decay"
    ),
    pytest.param(RMSprop, {"lr": -0.01}, "lr", id="rmsprop-lr"),
    pytest.param(RMSprop, {"alpha": 1.5}, "alpha", id="rmsprop-alpha-above-one"),
    pytest.param(RMSprop, {"alpha": -0.1}, "alpha", id="rmsprop-alpha-negative"),
    pytest.param(RMSprop, {"eps": -1e-8}, "eps", id="rmsprop-eps"),
    pytest.param(RMSprop, {"momentum": -0.5}, "momentum", id="rmsprop-momentum"),
    pytest.param(
        RMSprop, {"weight_decay": -1.0}, "weight_decay", id="rmsprop-weight-decay"
    ),
    pytest.param(Adadelta, {"lr": -1.0}, "lr", id="adadelta-lr"),
    pytest.param(Adadelta, {"rho": 1.1}, "rho", id="adadelta-rho-above-one"),
    pytest.param(Adadelta, {"rho": -0.1}, "rho", id="adadelta-rho-negative"),
    pytest.param(Adadelta, {"eps": -1e-6}, "eps", id="adadelta-eps"),
    pytest.param(
        Adadelta, {"weight_decay": -1.0}, "weight_decay", id="adadelta-weight-decay"
    ),
    pytest.param(Adam, {"lr": -1e-3}, "lr", id="adam-lr"),
    pytest.param(Adam, {"betas": (1.0, 0.999)}, "beta1", id="adam-beta1-one"),
    pytest.param(Adam, {"betas": (-0.1, 0.999)}, "beta1", id="adam-beta1-negative"),
    pytest.param(Adam, {"betas": (0.9, 1.0)}, "beta2", id="adam-beta2-one"),
    pytest.param(Adam, {"betas": (0.9, -0.5)}, "beta2", id="adam-beta2-negative"),
    pytest.param(Adam, {"betas": (0.9,)}, "betas", id="adam-betas-length"),
    pytest.param(Adam, {"eps": -1e-8}, "eps", id="adam-eps"),
    pytest.param(Adam, {"weight_decay": -1.0}, "weight_decay", id="adam-weight-decay"),
    pytest.param(Adam, {"lr": float("nan")}, "lr", id="adam-lr-nan"),
]


def _offending_value(hyperparameters: dict, name: str):
    """The value the error message should quote: betas[0] for beta1, and so on."""
    if name in ("beta1", "beta2"):
        return hyperparameters["betas"][int(name[-1]) - 1]
    return hyperparameters[name]


@pytest.mark.parametrize(("optimizer_class", "hyperparameters", "name"), INVALID)
def test_invalid_hyperparameter_is_named(optimizer_class, hyperparameters, name):
    """The message names the parameter, quotes the value and says what is allowed."""
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match=rf"^Invalid [^:]*\b{name}\b") as error:
        optimizer_class(params, **hyperparameters)

    message = str(error.value)
    assert repr(_offending_value(hyperparameters, name)) in message
    assert "must be" in message or "needs" in message


# --- Inside the course training loop -------------------------------------------

FIT_SETTINGS = [
    pytest.param(SGD, {"lr": 0.5}, id="sgd"),
    pytest.param(Momentum, {"lr": 0.1}, id="momentum"),
    pytest.param(Adagrad, {"lr": 0.3}, id="adagrad"),
    pytest.param(RMSprop, {"lr": 0.01}, id="rmsprop"),
    pytest.param(Adadelta, {"lr": 1.0}, id="adadelta"),
    pytest.param(Adam, {"lr": 0.03}, id="adam"),
]


@pytest.mark.parametrize(("optimizer_class", "hyperparameters"), FIT_SETTINGS)
def test_works_inside_fit(optimizer_class, hyperparameters):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(128, 6, generator=generator)
    labels = (x[:, 0] + x[:, 1] > 0).long()  # a linearly separable task
    train_loader = DataLoader(TensorDataset(x, labels), batch_size=16)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))

    optimizer = optimizer_class(model.parameters(), **hyperparameters)
    history = fit(
        model,
        train_loader,
        epochs=2,
        optimizer=optimizer,
        device="cpu",
        progress=False,
    )

    train_loss = history["train_loss"]
    assert len(train_loss) == 2
    assert train_loss[1] < train_loss[0]
