"""Throughput of ``training.fit`` against a minimal hand-written PyTorch loop.

    python benchmarks/bench_fit.py [--images 3000] [--repeats 3]

Same model (CourseCNN, width 16), same real EuroSAT images, same batch size,
same optimizer. The two loops alternate, one epoch each, ``--repeats`` times;
the medians give the ratio (fit throughput / hand-loop throughput), measured in
this one run so that machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from course_utils import data, models, training


def hand_written_epoch(model, loader, optimizer) -> None:
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    splits = data.eurosat_splits(fast=False, progress=False)
    subset = torch.utils.data.Subset(
        splits.train, range(0, 21600, 21600 // args.images)
    )
    loader = data.make_loader(subset, args.batch_size, shuffle=True, seed=0)
    print(
        f"{len(subset)} images, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    torch.manual_seed(0)
    model = models.CourseCNN(width=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    hand_written_epoch(model, loader, optimizer)  # warm-up: allocator, kernels

    timings = {
        "hand-written loop": [],
        "fit (progress bars)": [],
        "fit (no progress)": [],
    }
    for _ in range(args.repeats):
        for name in timings:
            started = time.perf_counter()
            if name == "hand-written loop":
                hand_written_epoch(model, loader, optimizer)
            else:
                training.fit(
                    model,
                    loader,
                    epochs=1,
                    optimizer=optimizer,
                    device="cpu",
                    progress=name == "fit (progress bars)",
                )
            timings[name].append(time.perf_counter() - started)

    baseline = statistics.median(timings["hand-written loop"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"{name:>22}: median {median:6.2f} s/epoch "
            f"({len(subset) / median:6.0f} images/s), throughput ratio "
            f"{baseline / median:.3f}  [runs: {', '.join(f'{v:.2f}' for v in values)}]"
        )


if __name__ == "__main__":
    main()
