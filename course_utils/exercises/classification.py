"""Checks for the exercises of 05_classification: the training loader, softmax.

``make_train_loader`` is run for two epochs on a small ``TensorDataset`` and compared
with ``torch.utils.data.DataLoader(..., shuffle=True)``: the same batch shapes,
every image exactly once per epoch, a new order every epoch, the same order
for the same seed. ``softmax`` is compared with ``torch.softmax`` on ordinary,
very large and very small logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

from . import as_tensor, call, close, fail, passed

ITEMS, BATCH_SIZE = 10, 4


def _dataset(items: int = ITEMS) -> TensorDataset:
    """``items`` tiny 3x8x8 "images" whose label is their index, so order shows."""
    images = torch.arange(items, dtype=torch.float32).view(items, 1, 1, 1)
    return TensorDataset(images.expand(items, 3, 8, 8).clone(), torch.arange(items))


def _epoch(loader, name: str) -> tuple[list[tuple[int, ...]], list[int]]:
    """One pass over ``loader``: the shape of every image batch, the label order."""
    try:
        batches = list(loader)
    except TypeError:
        fail(
            f"`{name}` should return a DataLoader, got {type(loader).__name__}.",
            "return DataLoader(dataset, batch_size=..., shuffle=..., generator=...).",
        )
    except Exception as error:  # the loader the student built raised
        fail(f"iterating over the loader raised {type(error).__name__}: {error}")
    shapes, order = [], []
    for batch in batches:
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            fail(
                "each batch should be a pair (images, labels), as a DataLoader "
                "over the dataset gives.",
                "pass the dataset itself to DataLoader.",
            )
        images, labels = batch
        shapes.append(tuple(images.shape))
        order += [int(label) for label in labels]
    return shapes, order


def _reference(dataset, batch_size: int, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def make_train_loader(student: Callable) -> None:
    """Check ``make_train_loader(dataset, batch_size, seed) -> DataLoader``.

    On a TensorDataset of 10 images with batch size 4 (batches of 4, 4 and 2)
    and with batch size 3: the batch shapes of ``DataLoader(dataset,
    batch_size, shuffle=True)``; every image once per epoch; a different order
    in the second epoch; the same order from two loaders with the same seed
    and a different one for another seed.
    """
    name = "make_train_loader"
    dataset = _dataset()
    for batch_size in (BATCH_SIZE, 3):
        global_state = torch.random.get_rng_state()
        loader = call(student, name, dataset, batch_size, 0)
        if not torch.equal(torch.random.get_rng_state(), global_state):
            fail(
                f"`{name}` changed torch's global random state (torch.manual_seed?).",
                "leave the global generator alone (it also drives weight "
                "initialisation and dropout); give the DataLoader its own: "
                "generator=torch.Generator().manual_seed(seed).",
            )
        expected_shapes, _ = _epoch(_reference(dataset, batch_size, 0), "reference")
        shapes, first = _epoch(loader, name)
        sizes = [shape[0] for shape in shapes]
        expected_sizes = [shape[0] for shape in expected_shapes]
        if sizes != expected_sizes:
            problem = (
                f"with {ITEMS} images and batch_size={batch_size} the batches hold "
                f"{sizes} images; DataLoader gives {expected_sizes}."
            )
            if sizes and all(size == 1 for size in sizes):
                fail(problem, "pass batch_size=batch_size (the default is 1).")
            if sizes == expected_sizes[:-1]:
                fail(problem, "keep the last, smaller batch: no drop_last=True.")
            fail(problem, "pass the function's batch_size argument to DataLoader.")
        if shapes != expected_shapes:
            fail(f"the image batches have shapes {shapes}; expected {expected_shapes}.")
        if sorted(first) != list(range(ITEMS)):
            fail(
                f"one epoch gave the images {first}; every image should come "
                "exactly once per epoch.",
                "use shuffle=True, which permutes the images (no sampling with "
                "replacement).",
            )

        _, second = _epoch(loader, name)
        if second == first:
            if first == list(range(ITEMS)):
                fail(
                    f"the images come in their stored order {first}, every epoch.",
                    "pass shuffle=True: the loader then draws a new order each epoch.",
                )
            fail(
                f"both epochs give the same order {first}.",
                "shuffle every epoch with shuffle=True, instead of shuffling the "
                "data once.",
            )

        _, again = _epoch(call(student, name, dataset, batch_size, 0), name)
        if again != first:
            fail(
                "two loaders made with the same seed give different orders "
                f"({first} and {again}).",
                "pass generator=torch.Generator().manual_seed(seed), so that the "
                "order depends only on the seed.",
            )
        _, other = _epoch(call(student, name, dataset, batch_size, 1), name)
        if other == first:
            fail(
                f"seeds 0 and 1 give the same order {first}.",
                "seed the generator with the `seed` argument, not a fixed number.",
            )
    passed(
        "the batches of DataLoader(shuffle=True), every image once per epoch, a "
        "new order each epoch, reproducible from the seed."
    )


def _logit_cases() -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    mixed = torch.randn(3, 10, generator=generator)
    mixed[0] += 800.0  # one very confident row next to ordinary ones
    return [
        (
            "ordinary logits, 10 images x 10 classes",
            torch.randn(10, 10, generator=generator),
        ),
        (
            "ordinary logits, 4 images x 10 classes",
            3 * torch.randn(4, 10, generator=generator),
        ),
        (
            "large logits [[1000, 990, 0], [-5, 1000, 1000]]",
            torch.tensor([[1000.0, 990, 0], [-5, 1000, 1000]]),
        ),
        (
            "very negative logits [[-1000, -1001, -1010]]",
            torch.tensor([[-1000.0, -1001, -1010]]),
        ),
        ("rows of very different size: one row + 800", mixed),
    ]


def _softmax_mistakes() -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """(hint, what the mistake computes); a hint may cover several variants."""

    def rows(x: torch.Tensor) -> torch.Tensor:
        return (x - x.amax(dim=1, keepdim=True)).exp()

    unnormalised = (
        "the exponentials are not normalised: divide by their sum over the classes."
    )
    mistakes = {
        "normalise over the classes, dim=1, so that each row (one image) sums "
        "to 1; you normalised each column.": lambda x: (
            (x - x.amax(dim=0, keepdim=True)).exp()
            / (x - x.amax(dim=0, keepdim=True)).exp().sum(dim=0, keepdim=True)
        ),
        "the sum needs keepdim=True: without it, shape (N,) is divided into "
        "the columns instead of the rows.": lambda x: rows(x) / rows(x).sum(dim=1),
        "the row maximum needs keepdim=True: logits.amax(dim=1) has shape (N,) "
        "and is subtracted along the columns; with keepdim=True it has shape "
        "(N, 1) and each row loses its own maximum.": lambda x: (
            (x - x.amax(dim=1)).exp()
            / (x - x.amax(dim=1)).exp().sum(dim=1, keepdim=True)
        ),
        "subtract each row's own maximum, logits.amax(dim=1, keepdim=True), not "
        "the largest logit of the whole batch: the other rows underflow to "
        "0 / 0.": lambda x: (
            (x - x.max()).exp() / (x - x.max()).exp().sum(dim=1, keepdim=True)
        ),
        "each row must be normalised on its own (sum over dim=1), not by the "
        "sum over the whole batch.": lambda x: (
            (x - x.max()).exp() / (x - x.max()).exp().sum()
        ),
        unnormalised: rows,
        "that is log_softmax; softmax is exp(x - max) / sum(exp(x - max)).": (
            lambda x: torch.log_softmax(x, dim=1)
        ),
    }
    return [*mistakes.items(), (unnormalised, torch.exp)]


def _rounded(row: torch.Tensor) -> list[float]:
    return [round(number, 4) for number in row.detach().tolist()]


def softmax(student: Callable) -> None:
    """Check ``softmax(logits) -> probabilities``, both (N, K), against torch.

    Cases: two batches of ordinary logits, large logits (exp overflows to
    inf), very negative ones (exp underflows to 0), and rows of very
    different size (a single max over the whole batch underflows).
    """
    name = "softmax"
    for description, logits in _logit_cases():
        expected = torch.softmax(logits, dim=1)
        value = as_tensor(call(student, name, logits.clone()), name, expected)
        if close(value, expected, rtol=1e-5, atol=1e-6):
            continue
        row = next(
            index
            for index in range(len(logits))
            if not close(value[index], expected[index], rtol=1e-5, atol=1e-6)
        )
        problem = (
            f"on {description}, row {row}: `{name}` gives "
            f"{_rounded(value[row])}; torch.softmax gives {_rounded(expected[row])}."
        )
        for hint, mistake in _softmax_mistakes():
            try:
                wrong = mistake(logits)
            except RuntimeError:  # this mistake cannot run on these shapes
                continue
            if wrong.shape == expected.shape and torch.allclose(
                value.detach(), wrong, rtol=1e-5, atol=1e-6, equal_nan=True
            ):
                fail(problem, hint)
        if not torch.isfinite(value).all():
            fail(
                problem,
                "exp of a large logit overflows to inf (and of a very negative "
                "one underflows to 0): subtract each row's maximum first, "
                "logits - logits.amax(dim=1, keepdim=True); it cancels out.",
            )
        fail(problem, "exp(x - row max), divided by its sum over the row (dim=1).")
    passed("matches torch.softmax, also on very large and very small logits.")
