"""The course's models: an MLP on flattened pixels, and the CNN.

Every model returns unnormalised class scores (logits) from ``forward``: the
loss applies softmax during training, and ``predict_proba`` applies it at
evaluation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "course_cnn.pt"


class Classifier(nn.Module):
    """Adds ``predict_proba``: softmax over the class scores, without gradients."""

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """x: normalised images (N, 3, H, W). Returns probabilities (N, classes)."""
        was_training = self.training
        self.eval()
        try:
            return torch.softmax(self(x), dim=1)
        finally:
            self.train(was_training)


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_dropout(dropout: float) -> None:
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")


class MLP(Classifier):
    """Fully connected network on flattened pixels: it cannot see spatial layout.

    x: (N, C, H, W) normalised images -> logits (N, num_classes).
    """

    def __init__(
        self,
        in_features: int = 3 * 64 * 64,
        hidden: int = 256,
        num_classes: int = 10,
        dropout: float = 0.0,
        depth: int = 2,
    ) -> None:
        super().__init__()
        for name, value in [
            ("in_features", in_features),
            ("hidden", hidden),
            ("num_classes", num_classes),
            ("depth", depth),
        ]:
            _check_positive(name, value)
        _check_dropout(dropout)
        self.in_features = in_features

        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x[0].numel() if x.dim() > 1 else x.numel()
        if features != self.in_features:
            raise ValueError(
                f"MLP expects {self.in_features} values per example, got input of "
                f"shape {tuple(x.shape)} ({features} per example)"
            )
        return self.layers(x)


class CourseCNN(Classifier):
    """The course CNN: four blocks of conv 3x3 -> batch norm -> ReLU -> max pool.

    Channels grow width, 2 width, 4 width, 8 width while each pool halves the
    image (64 -> 32 -> 16 -> 8 -> 4); global average pooling, dropout and one
    fully connected layer give the class scores.

    x: (N, 3, H, W) normalised images, H and W multiples of 16 -> logits (N, classes).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 32,
        dropout: float = 0.0,
        in_channels: int = 3,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        for name, value in [
            ("num_classes", num_classes),
            ("width", width),
            ("in_channels", in_channels),
        ]:
            _check_positive(name, value)
        _check_dropout(dropout)
        self.in_channels = in_channels

        blocks: list[nn.Module] = []
        channels = in_channels
        for multiplier in (1, 2, 4, 8):
            out = width * multiplier
            blocks += [
                nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=not batch_norm),
                nn.BatchNorm2d(out) if batch_norm else nn.Identity(),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < 16:
            raise ValueError(
                f"CourseCNN expects images of shape (N, {self.in_channels}, H, W) with "
                f"H, W >= 16, got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_course_cnn(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> tuple[CourseCNN, dict]:
    """The trained course CNN shipped with the package, in evaluation mode.

    Returns (model, metadata). ``metadata["normalization"]`` holds the mean and
    std its inputs must be normalised with; ``metadata["test_accuracy"]`` its
    accuracy on the test split. See ``course_utils/weights/MODEL_CARD.md``.
    """
    from .training import load_checkpoint

    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(
            f"No trained course CNN at {path}. Reinstall course_utils from the "
            "repository, or train it with `python scripts/train_course_cnn.py`."
        )
    raw = torch.load(path, map_location="cpu", weights_only=True)
    settings = raw["metadata"].get("model", {"width": 32, "dropout": 0.2})
    model = CourseCNN(width=settings["width"], dropout=settings["dropout"])
    metadata = load_checkpoint(path, model)
    return model.to(device).eval(), metadata


# ------------------------------------------------------------ perceptron, maxout
def perceptron_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The perceptron criterion: sum over examples of (y_hat - y) * s.

    scores s: float (N,) weighted sums w.x + b; targets y: (N,) of 0 or 1; the
    prediction y_hat = 1 if s > 0 else 0 is held fixed (no gradient flows
    through the threshold). A correctly classified example adds 0, a
    misclassified one adds |s|, so the loss is 0 exactly when every example is
    right. Its gradient with respect to w is (y_hat - y) * x: Rosenblatt's rule.
    """
    if scores.shape != targets.shape:
        raise ValueError(
            f"scores and targets must have the same shape, got {tuple(scores.shape)} "
            f"and {tuple(targets.shape)}"
        )
    predictions = (scores > 0).to(scores.dtype).detach()
    return ((predictions - targets.to(scores.dtype)) * scores).sum()


class Perceptron(nn.Module):
    """Rosenblatt's perceptron: threshold logic on a weighted sum of the inputs.

    score s = x @ weight + bias, prediction y_hat = 1 if s > 0 else 0.
    x: float (N, in_features) -> predictions int64 (N,) of 0 or 1. The weights
    start at zero, so training is deterministic.
    """

    def __init__(self, in_features: int = 2) -> None:
        super().__init__()
        _check_positive("in_features", in_features)
        self.weight = nn.Parameter(torch.zeros(in_features))
        self.bias = nn.Parameter(torch.zeros(()))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted sum s = x @ weight + bias: float (N,)."""
        if x.dim() != 2 or x.shape[1] != len(self.weight):
            raise ValueError(
                f"Perceptron expects inputs of shape (N, {len(self.weight)}), got "
                f"{tuple(x.shape)}"
            )
        return x @ self.weight + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Threshold logic: 1 where the score is positive, else 0; int64 (N,)."""
        return (self.score(x) > 0).long()

    def fit(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        epochs: int = 20,
        lr: float = 1.0,
    ) -> list[int]:
        """Perceptron learning: one gradient step on ``perceptron_loss`` per example.

        inputs: float (N, in_features); targets: (N,) of 0 or 1. Stops early after
        an epoch without mistakes. Returns the number of mistakes in each epoch
        (counted before each example's step), so 0 last means it learned the set.
        """
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        inputs = inputs.to(self.weight.dtype)
        mistakes_per_epoch = []
        for _ in range(epochs):
            mistakes = 0
            for x, y in zip(inputs, targets, strict=True):
                score = self.score(x[None])
                mistakes += int((score > 0).long().item() != int(y))

                loss = perceptron_loss(score, y[None])
                self.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for parameter in (self.weight, self.bias):
                        parameter -= lr * parameter.grad
            mistakes_per_epoch.append(mistakes)
            if mistakes == 0:
                break
        return mistakes_per_epoch


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al., 2013): each unit is the largest of k lines.

    out[:, j] = max over p of (x @ W[j, p] + b[j, p]), p = 1..pieces. With two
    pieces it can learn ReLU (max(x, 0)), leaky ReLU or |x|; with more it
    approximates any convex function of its input.
    x: (N, in_features) -> (N, out_features).
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2) -> None:
        super().__init__()
        for name, value in [
            ("in_features", in_features),
            ("out_features", out_features),
            ("pieces", pieces),
        ]:
            _check_positive(name, value)
        self.out_features = out_features
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lines = self.linear(x).unflatten(-1, (self.out_features, self.pieces))
        return lines.max(dim=-1).values
