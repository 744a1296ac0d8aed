"""The lecture's optimizers, written from their update equations.

Each class is a ``torch.optim.Optimizer``, so it plugs into
``course_utils.training.fit(model, train_loader, optimizer=...)``. Each
``step`` is a short loop over the parameters whose body is the update
equation; the class docstring states that equation with the code's variable
names:

    w       a parameter tensor (updated in place)
    g       its gradient, plus ``weight_decay * w`` when weight decay is on
            (L2 regularisation added to the gradient, as PyTorch does)
    lr      learning rate
    t       step counter, 1 on the first step
    m, v    running averages of g and g**2 (kept in ``optimizer.state[w]``)

Where the lecture's notation differs from PyTorch's, the code follows
PyTorch, so that every class produces the same numbers as its ``torch.optim``
counterpart (``tests/test_optim.py`` checks this to 1e-12 in float64), and the
docstring explains the difference. ``TORCH_EQUIVALENTS`` builds that
counterpart with the same hyperparameters.

Not supported, to keep the code short: sparse gradients, ``maximize``, Adam's
``amsgrad`` and decoupled weight decay (that is ``torch.optim.AdamW``). The
state uses the lecture's names (``v``, ``m``...), not PyTorch's (``exp_avg``...),
so a ``state_dict`` cannot be moved between the two families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

# What torch.optim.Optimizer accepts: tensors, or dicts of per-group settings.
ParamsT = Iterable[torch.Tensor] | Iterable[dict]

__all__ = [
    "SGD",
    "Momentum",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "TORCH_EQUIVALENTS",
]


def _check_at_least(name: str, value: float, low: float = 0.0) -> None:
    """Raise a ValueError naming ``name`` unless ``value >= low`` (NaN fails)."""
    if not value >= low:
        raise ValueError(f"Invalid {name}: {value!r}; {name} must be >= {low:g}")


def _check_unit_interval(name: str, value: float, *, include_one: bool) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is in [0, 1] or [0, 1)."""
    inside = 0.0 <= value <= 1.0 if include_one else 0.0 <= value < 1.0
    if not inside:
        interval = "[0, 1]" if include_one else "[0, 1)"
        raise ValueError(f"Invalid {name}: {value!r}; {name} must be in {interval}")


class _EquationOptimizer(torch.optim.Optimizer):
    """Shared plumbing: the closure, the parameter loop and weight decay."""

    def _evaluate(self, closure: Callable[[], float] | None) -> float | None:
        """Recompute the loss with ``closure`` (as ``Optimizer.step`` allows)."""
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def _gradients(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict, dict]]:
        """Yield (w, g, state, group) for every parameter that has a gradient.

        g = w.grad + weight_decay * w: L2 regularisation added to the gradient.
        """
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                if w.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients; "
                        "use the torch.optim optimizer for sparse embeddings"
                    )
                g = w.grad
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * w
                yield w, g, self.state[w], group


class SGD(_EquationOptimizer):
    """Plain stochastic gradient descent.

    w = w - lr * g

    Same numbers as ``torch.optim.SGD(params, lr, weight_decay=...)``.
    """

    def __init__(
        self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.0
    ) -> None:
        _check_at_least("lr", lr)
        _check_at_least("weight_decay", weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """w = w - lr * g, for every parameter w with a gradient g."""
        loss = self._evaluate(closure)
        for w, g, _, group in self._gradients():
            w.sub_(group["lr"] * g)
        return loss


class Momentum(_EquationOptimizer):
    """SGD with momentum, in PyTorch's form (optionally dampened or Nesterov).

    buf = g                                    on the first step
    buf = momentum * buf + (1 - dampening) * g on later steps
    w   = w - lr * buf                         (classical momentum)
    w   = w - lr * (g + momentum * buf)        (nesterov=True)

    The lecture writes the velocity form: v = momentum * v - lr * g; w = w + v.
    With a constant lr the two are the same method, v = -lr * buf. They differ
    when lr changes during training (a scheduler): the velocity v keeps the old
    lr inside it, while buf holds gradients only and is rescaled by the new lr
    at once. PyTorch's Nesterov step is the usual rewrite of "take the gradient
    at the look-ahead point w + momentum * v" that needs only the gradient at w.
    Dampening (default 0) scales the new gradient's share; PyTorch does not
    apply it on the first step. Same numbers as ``torch.optim.SGD`` with these
    arguments.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        _check_at_least("lr", lr)
        if not momentum > 0:
            raise ValueError(
                f"Invalid momentum: {momentum!r}; momentum must be > 0 "
                "(for momentum = 0 use SGD)"
            )
        _check_unit_interval("dampening", dampening, include_one=True)
        _check_at_least("weight_decay", weight_decay)
        if nesterov and dampening != 0:
            raise ValueError(
                f"Invalid dampening: {dampening!r}; nesterov=True needs dampening = 0"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One momentum step for every parameter with a gradient."""
        loss = self._evaluate(closure)
        for w, g, state, group in self._gradients():
            lr, momentum = group["lr"], group["momentum"]

            if "buf" not in state:
                state["buf"] = g.clone()
            else:
                state["buf"] = momentum * state["buf"] + (1 - group["dampening"]) * g
            buf = state["buf"]

            if group["nesterov"]:
                w.sub_(lr * (g + momentum * buf))
            else:
                w.sub_(lr * buf)
        return loss


class Adagrad(_EquationOptimizer):
    """Adagrad: each weight's step shrinks with the sum of its squared gradients.

    v   = v + g**2                     (v starts at initial_accumulator_value)
    lr_t = lr / (1 + (t - 1) * lr_decay)
    w   = w - lr_t * g / (sqrt(v) + eps)

    eps sits outside the square root, as in PyTorch. lr_decay (default 0, the
    lecture's Adagrad) is PyTorch's optional extra decay of the learning rate.
    Same numbers as ``torch.optim.Adagrad`` with these arguments.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        _check_at_least("lr", lr)
        _check_at_least("lr_decay", lr_decay)
        _check_at_least("weight_decay", weight_decay)
        _check_at_least("initial_accumulator_value", initial_accumulator_value)
        _check_at_least("eps", eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Adagrad step for every parameter with a gradient."""
        loss = self._evaluate(closure)
        for w, g, state, group in self._gradients():
            if not state:
                state["t"] = 0
                state["v"] = torch.full_like(w, group["initial_accumulator_value"])
            state["t"] += 1
            t, eps = state["t"], group["eps"]

            state["v"] = state["v"] + g**2
            lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])
            w.sub_(lr_t * g / (state["v"].sqrt() + eps))
        return loss


class RMSprop(_EquationOptimizer):
    """RMSprop: divide by a running root-mean-square of recent gradients.

    v = alpha * v + (1 - alpha) * g**2
    s = sqrt(v) + eps                         (centered=False)
    s = sqrt(v - g_avg**2) + eps              (centered=True, with
        g_avg = alpha * g_avg + (1 - alpha) * g, so v - g_avg**2 is a variance)
    w = w - lr * g / s                        (momentum = 0)
    buf = momentum * buf + g / s; w = w - lr * buf    (momentum > 0)

    The lecture calls the decay rate rho or beta; PyTorch (and this class) call
    it alpha. eps sits outside the square root, as in PyTorch. Same numbers as
    ``torch.optim.RMSprop`` with these arguments.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        _check_at_least("lr", lr)
        _check_unit_interval("alpha", alpha, include_one=True)
        _check_at_least("eps", eps)
        _check_at_least("weight_decay", weight_decay)
        _check_at_least("momentum", momentum)
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One RMSprop step for every parameter with a gradient."""
        loss = self._evaluate(closure)
        for w, g, state, group in self._gradients():
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            if not state:
                state["v"] = torch.zeros_like(w)
                if group["centered"]:
                    state["g_avg"] = torch.zeros_like(w)
                if group["momentum"] > 0:
                    state["buf"] = torch.zeros_like(w)

            state["v"] = alpha * state["v"] + (1 - alpha) * g**2
            if group["centered"]:
                state["g_avg"] = alpha * state["g_avg"] + (1 - alpha) * g
                s = (state["v"] - state["g_avg"] ** 2).sqrt() + eps
            else:
                s = state["v"].sqrt() + eps

            if group["momentum"] > 0:
                state["buf"] = group["momentum"] * state["buf"] + g / s
                w.sub_(lr * state["buf"])
            else:
                w.sub_(lr * g / s)
        return loss


class Adadelta(_EquationOptimizer):
    """Adadelta: step sizes from running averages of g**2 and of past steps.

    v     = rho * v + (1 - rho) * g**2
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u     = rho * u + (1 - rho) * delta**2
    w     = w - lr * delta

    v and u start at zero. Here, unlike in Adagrad, RMSprop and Adam, eps sits
    inside the square roots, as in the paper and in PyTorch. The paper has no
    learning rate (the ratio of RMS values sets the step); PyTorch multiplies
    the step by lr, and lr = 1.0 (the default) is the paper's method. Same
    numbers as ``torch.optim.Adadelta`` with these arguments.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        _check_at_least("lr", lr)
        _check_unit_interval("rho", rho, include_one=True)
        _check_at_least("eps", eps)
        _check_at_least("weight_decay", weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Adadelta step for every parameter with a gradient."""
        loss = self._evaluate(closure)
        for w, g, state, group in self._gradients():
            rho, eps = group["rho"], group["eps"]
            if not state:
                state["v"] = torch.zeros_like(w)
                state["u"] = torch.zeros_like(w)

            state["v"] = rho * state["v"] + (1 - rho) * g**2
            delta = (state["u"] + eps).sqrt() / (state["v"] + eps).sqrt() * g
            state["u"] = rho * state["u"] + (1 - rho) * delta**2
            w.sub_(group["lr"] * delta)
        return loss


class Adam(_EquationOptimizer):
    """Adam: momentum on g, RMSprop scaling by g**2, both bias-corrected.

    m     = beta1 * m + (1 - beta1) * g
    v     = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    w     = w - lr * m_hat / (sqrt(v_hat) + eps)

    m and v start at zero, so early on they are too small; dividing by
    1 - beta**t (the bias correction) undoes that. eps sits outside the square
    root, as in the paper and PyTorch. Same numbers as ``torch.optim.Adam`` with
    these arguments (betas = (beta1, beta2)).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        _check_at_least("lr", lr)
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r}; betas must be (beta1, beta2)")
        _check_unit_interval("betas[0] (beta1)", betas[0], include_one=False)
        _check_unit_interval("betas[1] (beta2)", betas[1], include_one=False)
        _check_at_least("eps", eps)
        _check_at_least("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Adam step for every parameter with a gradient."""
        loss = self._evaluate(closure)
        for w, g, state, group in self._gradients():
            beta1, beta2 = group["betas"]
            if not state:
                state["t"] = 0
                state["m"] = torch.zeros_like(w)
                state["v"] = torch.zeros_like(w)
            state["t"] += 1
            t = state["t"]

            state["m"] = beta1 * state["m"] + (1 - beta1) * g
            state["v"] = beta2 * state["v"] + (1 - beta2) * g**2
            m_hat = state["m"] / (1 - beta1**t)
            v_hat = state["v"] / (1 - beta2**t)
            w.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        return loss


def _torch_momentum(
    params: ParamsT, momentum: float = 0.9, **hyperparameters
) -> torch.optim.SGD:
    """torch.optim.SGD with Momentum's default momentum (torch's default is 0)."""
    return torch.optim.SGD(params, momentum=momentum, foreach=False, **hyperparameters)


# Each entry builds the torch.optim optimizer that computes the same numbers as
# the class, from the same hyperparameters: TORCH_EQUIVALENTS[Adam](params,
# lr=1e-3). foreach=False picks PyTorch's per-parameter loop on every device.
TORCH_EQUIVALENTS: dict[type, Callable[..., torch.optim.Optimizer]] = {
    SGD: lambda params, **kw: torch.optim.SGD(params, foreach=False, **kw),
    Momentum: _torch_momentum,
    Adagrad: lambda params, **kw: torch.optim.Adagrad(params, foreach=False, **kw),
    RMSprop: lambda params, **kw: torch.optim.RMSprop(params, foreach=False, **kw),
    Adadelta: lambda params, **kw: torch.optim.Adadelta(params, foreach=False, **kw),
    Adam: lambda params, **kw: torch.optim.Adam(params, foreach=False, **kw),
}
