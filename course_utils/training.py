"""One training loop for every notebook: progress bars, history, W&B, checkpoints."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .runtime import pick_device

logger = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch metrics of one ``fit`` call.

    Each record holds epoch (1-based), train_loss, train_accuracy, and, when a
    validation loader was given, val_loss and val_accuracy; plus seconds.
    Accuracies are fractions in [0, 1]; losses are mean cross-entropy per example.
    """

    records: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        """One metric over the epochs, e.g. ``history["val_accuracy"]``."""
        if not self.records or key not in self.records[0]:
            known = sorted(self.records[0]) if self.records else []
            raise KeyError(f"no metric {key!r} in this history (has {known})")
        return [record[key] for record in self.records]

    @property
    def last(self) -> dict:
        return self.records[-1]

    def to_dict(self) -> dict:
        return {"records": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls([dict(record) for record in data["records"]])


def _show(progress: bool) -> bool:
    """Progress bars unless turned off here or by tqdm's own ``TQDM_DISABLE=1``."""
    return progress and os.environ.get("TQDM_DISABLE", "").lower() not in {"1", "true"}


def _check_epochs(epochs: int) -> None:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")


def _run_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None,
    description: str,
    progress: bool,
) -> tuple[float, float]:
    """One pass over ``loader``, training when ``optimizer`` is given.

    Returns (mean loss, accuracy).
    """
    training = optimizer is not None
    model.train(training)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0

    bar = tqdm(
        loader, desc=description, leave=False, disable=not progress, unit="batch"
    )
    with torch.set_grad_enabled(training):
        for images, labels in bar:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)

            logits = model(images)
            loss = loss_fn(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            loss_sum += loss.detach() * len(labels)
            correct += (logits.detach().argmax(dim=1) == labels).sum()
            seen += len(labels)
    bar.close()

    if seen == 0:
        raise ValueError(
            f"the {description} loader yielded no batches; is its dataset empty?"
        )
    return loss_sum.item() / seen, correct.item() / seen


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device | str | None = None,
    loss_fn: nn.Module | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, in evaluation mode.

    Returns {"loss": mean cross-entropy, "accuracy": fraction correct}. The
    model's train/eval mode is restored afterwards.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    try:
        loss, accuracy = _run_epoch(
            model, loader, loss_fn, device, None, "evaluate", progress
        )
    finally:
        model.train(was_training)
    return {"loss": loss, "accuracy": accuracy}


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, *, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and true labels for every example in ``loader``.

    Returns (probabilities float32 (N, classes), labels int64 (N,)), on the CPU.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    probabilities, labels = [], []
    try:
        for images, batch_labels in loader:
            probabilities.append(torch.softmax(model(images.to(device)), dim=1).cpu())
            labels.append(batch_labels)
    finally:
        model.train(was_training)
    return torch.cat(probabilities), torch.cat(labels)


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    loss_fn: nn.Module | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    run=None,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    optimizer: defaults to Adam(lr, weight_decay) over the model's parameters.
    scheduler: stepped once at the end of every epoch.
    run: a W&B run (see ``course_utils.tracking``); each epoch's metrics are
        logged to it. Logging problems are reported and training goes on.
    checkpoint_path: written atomically after every epoch; read it back with
        ``load_checkpoint`` (it loads with ``torch.load(weights_only=True)``).
    Returns the ``History`` of per-epoch train and validation loss and accuracy.
    """
    _check_epochs(epochs)
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(
        model.parameters(), lr=lr, weight_decay=weight_decay
    )
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history = History()

    epoch_bar = tqdm(
        range(1, epochs + 1), desc="epochs", unit="epoch", disable=not progress
    )
    for epoch in epoch_bar:
        started = time.perf_counter()
        record = {"epoch": epoch}
        record["train_loss"], record["train_accuracy"] = _run_epoch(
            model, train_loader, loss_fn, device, optimizer, f"train {epoch}", progress
        )
        if val_loader is not None:
            record["val_loss"], record["val_accuracy"] = _run_epoch(
                model, val_loader, loss_fn, device, None, f"val {epoch}", progress
            )
        record["lr"] = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        record["seconds"] = time.perf_counter() - started
        history.records.append(record)

        metrics = {
            k: f"{v:.3f}" for k, v in record.items() if k.endswith(("loss", "accuracy"))
        }
        epoch_bar.set_postfix(metrics)
        logger.info(
            "epoch %d/%d (%.0f s): %s", epoch, epochs, record["seconds"], metrics
        )
        if run is not None:
            _log_safely(run, record)
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, {"history": history.to_dict()})
    epoch_bar.close()
    model.eval()
    return history


def _log_safely(run, record: dict) -> None:
    try:
        run.log(
            {key: value for key, value in record.items() if key != "epoch"},
            step=record["epoch"],
        )
    except Exception as error:  # tracking must never stop training
        logger.warning("W&B logging failed (%s); training continues without it.", error)


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, metadata: dict | None = None
) -> Path:
    """Write the model's weights and plain metadata to ``path`` atomically.

    The file is first written beside ``path`` and then renamed over it, so an
    interrupted save never leaves a half-written checkpoint. Metadata must be
    plain Python values (numbers, strings, lists, dicts) so that the file loads
    with ``torch.load(weights_only=True)``.
    """
    metadata = metadata or {}
    _check_plain(metadata, "metadata")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        torch.save({"state_dict": state, "metadata": metadata}, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _check_plain(value, where: str) -> None:
    """Refuse values that ``torch.load(weights_only=True)`` could not read back."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, where)
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif type(value) not in (str, int, float, bool, type(None)):
        raise TypeError(
            f"{where} is a {type(value).__name__}; checkpoint metadata must be plain "
            "str, int, float, bool, None, list or dict (convert it, e.g. with str())"
        )


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module | None = None, map_location: str = "cpu"
) -> dict:
    """Read a checkpoint written by ``save_checkpoint``; load weights into ``model``.

    Returns the metadata dict. Loading uses ``weights_only=True``: no code in
    the file is ever executed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No checkpoint at {path}. Train the model first or check the path."
        )
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if model is not None:
        try:
            model.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as error:
            raise ValueError(
                f"The checkpoint {path.name} does not fit this model "
                f"({type(model).__name__}); build the model with the settings "
                f"stored in its metadata: {checkpoint['metadata'].get('model', {})}"
            ) from error
    return checkpoint["metadata"]
