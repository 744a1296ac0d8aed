"""fit / evaluate / predict / checkpoints on a small slice of the real data."""

from __future__ import annotations

import os

import pytest
import torch

from course_utils import data, models, training


@pytest.fixture(scope="module")
def small(eurosat):
    fast = data.eurosat_splits(dataset=eurosat, fast=True)
    train = data.make_loader(fast.train, 50, shuffle=True, seed=0)
    val = data.make_loader(fast.val, 100)
    return fast, train, val


def test_fit_learns_and_records_history(small):
    _, train, val = small
    torch.manual_seed(0)
    model = models.CourseCNN(width=8)
    history = training.fit(
        model, train, val, epochs=3, lr=3e-3, device="cpu", progress=False
    )
    assert len(history) == 3
    assert history["epoch"] == [1, 2, 3]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["val_accuracy"] > 0.3  # chance is 0.1
    assert all(0 <= a <= 1 for a in history["val_accuracy"])
    assert not model.training


def test_evaluate_matches_a_direct_computation_and_keeps_mode(small):
    fast, _, val = small
    model = models.CourseCNN(width=8, dropout=0.3)
    model.train()
    result = training.evaluate(model, val, device="cpu")
    assert model.training

    model.eval()
    images = torch.stack([fast.val[i][0] for i in range(len(fast.val))])
    labels = torch.tensor([fast.val[i][1] for i in range(len(fast.val))])
    with torch.no_grad():
        logits = model(images)
    expected_loss = torch.nn.functional.cross_entropy(logits, labels).item()
    expected_accuracy = (logits.argmax(1) == labels).float().mean().item()
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert result["accuracy"] == pytest.approx(expected_accuracy)


def test_predict_returns_probabilities_in_loader_order(small):
    fast, _, val = small
    probabilities, labels = training.predict(models.CourseCNN(width=8), val)
    assert probabilities.shape == (300, 10)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(300))
    assert torch.equal(labels, fast.val.labels)


def test_checkpoint_round_trip_with_weights_only(small, tmp_path):
    _, train, _ = small
    model = models.CourseCNN(width=8)
    path = tmp_path / "nested" / "model.pt"
    history = training.fit(
        model, train, epochs=1, device="cpu", progress=False, checkpoint_path=path
    )
    raw = torch.load(path, weights_only=True)  # the promise: no pickled code
    assert raw["metadata"]["history"] == history.to_dict()

    fresh = models.CourseCNN(width=8)
    metadata = training.load_checkpoint(path, fresh)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name
    assert training.History.from_dict(metadata["history"]).records == history.records
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no leftovers


def test_interrupted_save_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    training.save_checkpoint(path, models.CourseCNN(width=8), {"version": 1})

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        training.save_checkpoint(path, models.CourseCNN(width=8), {"version": 2})
    assert torch.load(path, weights_only=True)["metadata"] == {"version": 1}
    assert os.listdir(tmp_path) == ["model.pt"]


def test_metadata_that_weights_only_cannot_load_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"metadata\['torch'\] is a TorchVersion"):
        training.save_checkpoint(
            tmp_path / "m.pt", models.CourseCNN(width=8), {"torch": torch.__version__}
        )


def test_checkpoint_for_another_model_says_so(tmp_path):
    path = training.save_checkpoint(
        tmp_path / "m.pt", models.CourseCNN(width=8), {"model": {"width": 8}}
    )
    with pytest.raises(ValueError, match="width"):
        training.load_checkpoint(path, models.CourseCNN(width=16))


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="Train the model first"):
        training.load_checkpoint(tmp_path / "absent.pt")


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True])
def test_invalid_epochs_are_refused(small, epochs):
    _, train, _ = small
    with pytest.raises(ValueError, match="epochs"):
        training.fit(models.CourseCNN(width=8), train, epochs=epochs, progress=False)


def test_negative_learning_rate_is_refused(small):
    _, train, _ = small
    with pytest.raises(ValueError, match="learning rate"):
        training.fit(
            models.CourseCNN(width=8), train, epochs=1, lr=-0.1, progress=False
        )


def test_empty_loader_is_reported(small):
    empty = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(
            torch.zeros(0, 3, 64, 64), torch.zeros(0, dtype=torch.int64)
        )
    )
    with pytest.raises(ValueError, match="no batches"):
        training.fit(models.CourseCNN(width=8), empty, epochs=1, progress=False)


def test_a_failing_tracker_never_stops_training(small, caplog):
    _, train, _ = small

    class BrokenRun:
        def log(self, *args, **kwargs):
            raise ConnectionError("service went away")

    history = training.fit(
        models.CourseCNN(width=8),
        train,
        epochs=2,
        run=BrokenRun(),
        device="cpu",
        progress=False,
    )
    assert len(history) == 2
    assert "training continues" in caplog.text
