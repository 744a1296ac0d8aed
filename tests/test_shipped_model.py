"""The shipped course CNN: loads safely and has the test accuracy its card states."""

from __future__ import annotations

import re

import pytest
import torch

from course_utils import data, models, training

CARD = models.SHIPPED_WEIGHTS.with_name("MODEL_CARD.md")


@pytest.fixture(scope="module")
def shipped():
    return models.load_course_cnn()


def test_checkpoint_loads_with_weights_only():
    raw = torch.load(models.SHIPPED_WEIGHTS, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "metadata"}
    assert models.SHIPPED_WEIGHTS.stat().st_size < 5_000_000  # small enough for git


def test_stated_test_accuracy_holds_on_the_real_test_split(shipped, eurosat):
    model, metadata = shipped
    splits = data.eurosat_splits(
        dataset=eurosat, fast=False, normalization=metadata["normalization"]
    )
    assert len(splits.test) == metadata["split"]["sizes"]["test"] == 2700
    result = training.evaluate(model, data.make_loader(splits.test, 256))
    # Another BLAS may flip an image whose top two scores tie to ~1e-6: allow 2.
    assert abs(result["accuracy"] - metadata["test_accuracy"]) <= 2 / 2700
    assert result["accuracy"] >= 0.95


def test_normalisation_is_that_of_the_full_training_split(shipped, splits):
    _, metadata = shipped
    mean, std = metadata["normalization"]["mean"], metadata["normalization"]["std"]
    torch.testing.assert_close(torch.tensor(mean), splits.mean)
    torch.testing.assert_close(torch.tensor(std), splits.std)


def test_model_card_states_what_the_checkpoint_holds(shipped):
    _, metadata = shipped
    card = CARD.read_text()
    stated = re.search(r"\*\*Test accuracy\*\* \| \*\*([\d.]+)%\*\*", card)
    assert stated, "the model card must state the test accuracy"
    percent = 100 * metadata["test_accuracy"]
    assert float(stated.group(1)) == pytest.approx(percent, abs=0.006)
    assert f"{metadata['parameters']:,}" in card
    assert f"{metadata['training']['epochs']} epochs" in card
    assert "scripts/train_course_cnn.py" in card
