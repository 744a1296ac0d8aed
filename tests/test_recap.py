"""The recap and optimizer lessons' helpers: perceptron, maxout, figures, explorer.

The perceptron must learn the linearly separable AND and OR and must fail on
XOR; maxout must be the largest of its linear pieces; every figure must render
headless with the content it promises; the optimizer explorer must redraw when
a control's value is set from Python, as a student's slider would.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import models, optim, plots, widgets

INPUTS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TRUTH_TABLES = {
    "AND": torch.tensor([0, 0, 0, 1]),
    "OR": torch.tensor([0, 1, 1, 1]),
    "XOR": torch.tensor([0, 1, 1, 0]),
}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------- perceptron
@pytest.mark.parametrize("gate", ["AND", "OR"])
def test_perceptron_learns_linearly_separable_gates(gate):
    targets = TRUTH_TABLES[gate]
    perceptron = models.Perceptron(2)
    mistakes = perceptron.fit(INPUTS, targets, epochs=50)
    assert mistakes[-1] == 0
    assert len(mistakes) < 50  # stopped early: an epoch without mistakes
    assert perceptron(INPUTS).tolist() == targets.tolist()
    assert models.perceptron_loss(perceptron.score(INPUTS), targets).item() == 0


def test_perceptron_cannot_learn_xor():
    targets = TRUTH_TABLES["XOR"]
    perceptron = models.Perceptron(2)
    mistakes = perceptron.fit(INPUTS, targets, epochs=100)
    assert len(mistakes) == 100
    assert min(mistakes) > 0
    assert perceptron(INPUTS).tolist() != targets.tolist()


def test_perceptron_loss_gradient_is_rosenblatts_rule():
    weight = torch.tensor([0.5, -1.0], requires_grad=True)
    bias = torch.tensor(0.25, requires_grad=True)
    targets = TRUTH_TABLES["OR"]
    scores = INPUTS @ weight + bias
    loss = models.perceptron_loss(scores, targets)
    loss.backward()

    predictions = (scores > 0).float()
    errors = predictions - targets.float()
    assert torch.allclose(weight.grad, (errors[:, None] * INPUTS).sum(0))
    assert torch.allclose(bias.grad, errors.sum())
    misclassified = errors != 0
    assert torch.isclose(loss, scores[misclassified].abs().sum())


def test_perceptron_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        models.Perceptron(2).score(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="same shape"):
        models.perceptron_loss(torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match="epochs"):
        models.Perceptron(2).fit(INPUTS, TRUTH_TABLES["AND"], epochs=0)


# -------------------------------------------------------------------- maxout
@pytest.mark.parametrize("pieces", [1, 2, 5])
def test_maxout_shapes(pieces):
    layer = models.Maxout(6, 4, pieces=pieces)
    assert layer(torch.randn(3, 6)).shape == (3, 4)
    assert layer(torch.randn(2, 7, 6)).shape == (2, 7, 4)
    assert models.count_parameters(layer) == (6 + 1) * 4 * pieces


def test_maxout_is_the_largest_linear_piece():
    torch.manual_seed(0)
    layer = models.Maxout(3, 2, pieces=4)
    x = torch.randn(5, 3)
    weight = layer.linear.weight.view(2, 4, 3)
    bias = layer.linear.bias.view(2, 4)
    lines = torch.einsum("ni,jpi->njp", x, weight) + bias
    assert torch.allclose(layer(x), lines.max(dim=-1).values, atol=1e-6)


def test_maxout_with_two_pieces_can_be_relu():
    layer = models.Maxout(1, 1, pieces=2)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0], [0.0]]))
        layer.linear.bias.zero_()
    x = torch.linspace(-3, 3, 13)[:, None]
    assert torch.equal(layer(x), torch.relu(x))


def test_maxout_rejects_bad_sizes():
    with pytest.raises(ValueError, match="pieces"):
        models.Maxout(3, 2, pieces=0)


# ------------------------------------------------------------------- figures
def test_activation_functions_draw_function_and_autograd_derivative():
    figure = plots.activation_functions(
        {"ReLU": torch.relu, "tanh": torch.tanh}, x_range=(-2, 2), columns=3
    )
    relu_axis = figure.axes[0]
    assert relu_axis.get_title() == "ReLU"
    x, slope = relu_axis.lines[1].get_data()
    assert np.all(slope[x < -0.01] == 0) and np.all(slope[x > 0.01] == 1)
    assert not figure.axes[2].axison  # the unused third panel is hidden
    _png(figure)


def test_decision_boundaries_count_mistakes():
    def constant_one(points):
        return torch.ones(len(points), dtype=torch.long)

    panels = {
        gate: (constant_one, INPUTS, targets) for gate, targets in TRUTH_TABLES.items()
    }
    figure = plots.decision_boundaries(panels)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["AND: 3 wrong", "OR: 1 wrong", "XOR: 2 wrong"]
    _png(figure)


def test_train_test_errors_marks_lowest_test_error():
    figure = plots.train_test_errors([1, 2, 3, 4], [4, 2, 1, 0.5], [5, 3, 2.5, 4])
    axis = figure.axes[0]
    assert [list(line.get_ydata()) for line in axis.lines[:2]] == [
        [4, 2, 1, 0.5],
        [5, 3, 2.5, 4],
    ]
    assert "capacity 3" in axis.texts[0].get_text()
    _png(figure)


def test_curve_panels_pair_training_and_validation_lines():
    figure = plots.curve_panels(
        {
            "a": {"x": [3, 2, 1], "x (validation)": [3, 3, 3], "y": [1, 1, 1]},
            "b": {"z": [1, 2]},
        },
        columns=2,
    )
    lines = figure.axes[0].lines
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert list(lines[0].get_xdata()) == [1, 2, 3]
    _png(figure)


def test_fitted_functions_and_histograms_render():
    x_grid = torch.linspace(-1, 1, 50)
    figure = plots.fitted_functions(
        torch.tensor([-0.5, 0.5]),
        torch.tensor([1.0, 2.0]),
        x_grid,
        {"small": x_grid, "large": 2 * x_grid},
        truth=x_grid**2,
    )
    assert [axis.get_title() for axis in figure.axes] == ["small", "large"]
    _png(figure)
    figure = plots.histograms({"a": torch.randn(100), "b": torch.randn(50)})
    assert len(figure.axes[0].patches) == 2
    _png(figure)


def test_optimizer_trajectories_draw_every_path():
    surface = widgets.SURFACES["saddle"]
    paths = {
        name: widgets.trajectory(widgets.OPTIMIZERS[name], surface, 5, lr=0.1)
        for name in ("SGD", "Adam")
    }
    figure = plots.optimizer_trajectories(
        {"saddle": (surface.loss, surface.extent)}, {"saddle": paths}, highlight="Adam"
    )
    labelled = [line for line in figure.axes[0].lines if line.get_label() in paths]
    assert [line.get_label() for line in labelled] == ["SGD", "Adam"]
    assert labelled[0].get_alpha() < labelled[1].get_alpha()
    _png(figure)


# ---------------------------------------------------------- optimizer explorer
def test_trajectory_starts_at_the_start_and_goes_downhill():
    surface = widgets.SURFACES["ill-conditioned valley"]
    for name, settings in widgets.REFERENCE_SETTINGS.items():
        path = widgets.trajectory(widgets.OPTIMIZERS[name], surface, 40, **settings)
        assert path.shape == (41, 2)
        assert tuple(path[0]) == surface.start
        losses = surface.loss(torch.from_numpy(path))
        assert losses[-1] < losses[0] / 2, name


def test_trajectory_stops_when_the_optimizer_diverges():
    surface = widgets.SURFACES["ill-conditioned valley"]
    path = widgets.trajectory(optim.SGD, surface, 2000, lr=5.0)
    assert len(path) < 2001
    assert np.isfinite(path).all()


def test_explorer_settings_map_momentum_to_each_optimizer():
    assert widgets.explorer_settings("Adam", 0.1, 0.8) == {
        "lr": 0.1,
        "betas": (0.8, 0.999),
    }
    assert widgets.explorer_settings("Momentum", 0.1, 0.8) == {
        "lr": 0.1,
        "momentum": 0.8,
    }
    assert widgets.explorer_settings("SGD", 0.1, 0.8) == {"lr": 0.1}
    with pytest.raises(ValueError, match="unknown optimizer"):
        widgets.explorer_settings("LBFGS", 0.1, 0.8)


@pytest.fixture(scope="module")
def explorer():
    return widgets.OptimizerExplorer(steps=20)


def test_explorer_redraws_when_the_learning_rate_changes(explorer):
    explorer.optimizer.value = "Momentum"
    before_path, before_picture = explorer.path.copy(), bytes(explorer.picture.value)
    assert before_picture.startswith(b"\x89PNG")

    explorer.lr.value = 0.2
    assert "lr=0.2" in explorer.status.value
    assert not np.allclose(explorer.path, before_path)
    assert bytes(explorer.picture.value) != before_picture


def test_explorer_redraws_when_momentum_or_surface_changes(explorer):
    explorer.optimizer.value = "Momentum"
    before_path, before_picture = explorer.path.copy(), bytes(explorer.picture.value)
    explorer.momentum.value = 0.5
    assert "momentum=0.5" in explorer.status.value
    assert not np.allclose(explorer.path, before_path)
    assert bytes(explorer.picture.value) != before_picture

    before_picture = bytes(explorer.picture.value)
    explorer.surface.value = "saddle"
    assert tuple(explorer.path[0]) == widgets.SURFACES["saddle"].start
    assert bytes(explorer.picture.value) != before_picture
    explorer.surface.value = "ill-conditioned valley"


def test_explorer_resets_sliders_to_the_chosen_optimizers_reference(explorer):
    explorer.optimizer.value = "Adam"
    assert explorer.lr.value == pytest.approx(widgets.REFERENCE_SETTINGS["Adam"]["lr"])
    assert "Adam(lr=0.1, betas=(0.9, 0.999))" in explorer.status.value
    assert len(explorer.path) == explorer.steps.value + 1

    explorer.steps.value = 30
    assert len(explorer.path) == 31
    explorer.steps.value = 20


def test_explorer_shows_invalid_settings_as_a_value_error(explorer):
    explorer.optimizer.value = "Momentum"
    picture = bytes(explorer.picture.value)
    explorer.momentum.value = 0.0
    assert explorer.status.value.startswith("<b>ValueError:</b> Invalid momentum")
    assert explorer.path is None
    assert bytes(explorer.picture.value) == picture  # the last valid drawing stays
    explorer.momentum.value = 0.9
    assert explorer.path is not None
