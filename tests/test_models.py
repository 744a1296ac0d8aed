"""The course models: shapes, parameter counts, probabilities, clear errors."""

from __future__ import annotations

import pytest
import torch

from course_utils import models


def test_cnn_gives_one_score_per_class():
    model = models.CourseCNN(width=8)
    assert model(torch.randn(5, 3, 64, 64)).shape == (5, 10)


def test_cnn_parameter_count_follows_from_its_layers():
    width = 16
    channels = [3, width, 2 * width, 4 * width, 8 * width]
    convolutions = sum(9 * a * b for a, b in zip(channels, channels[1:], strict=False))
    batch_norms = sum(2 * c for c in channels[1:])
    linear = 8 * width * 10 + 10
    expected = convolutions + batch_norms + linear
    assert models.count_parameters(models.CourseCNN(width=width)) == expected == 98_970


def test_mlp_parameter_count_follows_from_its_layers():
    model = models.MLP(hidden=64, depth=2)
    expected = (3 * 64 * 64 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10)
    assert models.count_parameters(model) == expected


def test_predict_proba_is_a_distribution_and_restores_mode():
    model = models.CourseCNN(width=8, dropout=0.5)
    model.train()
    probabilities = model.predict_proba(torch.randn(4, 3, 64, 64))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(4))
    assert (probabilities >= 0).all() and model.training
    assert not probabilities.requires_grad


def test_dropout_changes_training_output_only():
    torch.manual_seed(0)
    model = models.CourseCNN(width=8, dropout=0.5)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    ("model", "shape", "expected"),
    [
        (models.CourseCNN(), (2, 1, 64, 64), r"\(N, 3, H, W\).*\(2, 1, 64, 64\)"),
        (models.CourseCNN(), (3, 64, 64), r"\(3, 64, 64\)"),
        (models.MLP(), (2, 3, 32, 32), r"12288 values per example.*\(2, 3, 32, 32\)"),
    ],
)
def test_wrong_input_shape_is_named(model, shape, expected):
    with pytest.raises(ValueError, match=expected):
        model(torch.randn(*shape))


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: models.CourseCNN(width=0), "width"),
        (lambda: models.CourseCNN(dropout=1.0), "dropout"),
        (lambda: models.MLP(hidden=-4), "hidden"),
        (lambda: models.MLP(dropout=-0.1), "dropout"),
    ],
)
def test_invalid_hyperparameters_are_refused(build, name):
    with pytest.raises(ValueError, match=name):
        build()
