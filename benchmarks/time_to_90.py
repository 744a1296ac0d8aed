"""Time to 90% test accuracy for the classification lesson's CNN, full data.

    python benchmarks/time_to_90.py [--max-epochs 10]

The lesson's settings: CourseCNN(width=16), Adam lr 1e-3, batch 64, all 21,600
training images, no augmentation. After every epoch the test accuracy is
measured (here only, to time the run; the lesson itself looks at the test set
once). Prints the elapsed training time when 90% is first reached.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_utils import data, models, runtime, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.90)
    args = parser.parse_args()

    runtime.seed_everything(0)
    device = runtime.pick_device()
    splits = data.eurosat_splits(fast=False, progress=False)
    train_loader = data.make_loader(splits.train, 64, shuffle=True, seed=0)
    test_loader = data.make_loader(splits.test, 256)
    model = models.CourseCNN(width=16).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"device {device}, {torch.get_num_threads()} threads")

    training_seconds = 0.0
    for epoch in range(1, args.max_epochs + 1):
        started = time.perf_counter()
        training.fit(
            model,
            train_loader,
            epochs=1,
            optimizer=optimizer,
            device=device,
            progress=False,
        )
        training_seconds += time.perf_counter() - started
        accuracy = training.evaluate(model, test_loader)["accuracy"]
        print(
            f"epoch {epoch}: test accuracy {accuracy:.2%}, "
            f"training time so far {training_seconds / 60:.1f} min",
            flush=True,
        )
        if accuracy >= args.target:
            print(
                f"reached {args.target:.0%} after {epoch} epochs, "
                f"{training_seconds / 60:.1f} min of training"
            )
            return
    print(f"did not reach {args.target:.0%} in {args.max_epochs} epochs")


if __name__ == "__main__":
    main()
