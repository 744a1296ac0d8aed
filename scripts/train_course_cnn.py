"""Train the course CNN that the lessons ship, and write its model card.

    python scripts/train_course_cnn.py            # the shipped model (long on a CPU)
    python scripts/train_course_cnn.py --epochs 1 --out /tmp/try.pt   # a quick try

It uses the same ``course_utils`` data split, model and training loop as the
notebooks. Output: ``course_utils/weights/course_cnn.pt`` (weights and metadata,
loadable with ``torch.load(weights_only=True)``) and ``MODEL_CARD.md`` beside it.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import torch

from course_utils import data, models, runtime, tracking, training

WEIGHTS = Path(__file__).resolve().parent.parent / "course_utils" / "weights"


def hardware() -> str:
    """A one-line description of where the training ran."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"CPU only: {os.cpu_count()} cores ({cpu}), {threads} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", default=None, help="data folder (default: COURSE_DATA_DIR or data/)"
    )
    parser.add_argument("--out", type=Path, default=WEIGHTS / "course_cnn.pt")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--fast", action="store_true", help="a small subset, to try the script"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    runtime.seed_everything(args.seed)
    device = runtime.pick_device()
    splits = data.eurosat_splits(
        args.data, fast=args.fast, augment=data.satellite_augmentation()
    )
    train_loader = data.make_loader(
        splits.train, args.batch_size, shuffle=True, seed=args.seed
    )
    val_loader = data.make_loader(splits.val, 256)
    test_loader = data.make_loader(splits.test, 256)

    config = {"width": args.width, "dropout": args.dropout}
    model = models.CourseCNN(**config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    run = tracking.start_run(
        name="course-cnn",
        group="shipped-model",
        job_type="train",
        config={
            **config,
            **{k: v for k, v in vars(args).items() if k not in ("out", "data")},
        },
    )

    started = time.perf_counter()
    history = training.fit(
        model,
        train_loader,
        val_loader,
        epochs=args.epochs,
        optimizer=optimizer,
        scheduler=scheduler,
        device=device,
        run=run,
        progress=not args.no_progress,
        checkpoint_path=args.out.with_suffix(".partial-run.pt"),
    )
    seconds = time.perf_counter() - started
    test = training.evaluate(model, test_loader, device=device)
    tracking.finish_run(run, summary={"test_accuracy": test["accuracy"]})

    metadata = {
        "model": {"class": "CourseCNN", **config},
        "parameters": models.count_parameters(model),
        "split": {
            "seed": data.SPLIT_SEED,
            "fractions": list(data.SPLIT_FRACTIONS),
            "sizes": {k: len(v) for k, v in splits.indices.items()},
        },
        "normalization": {"mean": splits.mean.tolist(), "std": splits.std.tolist()},
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW(lr={args.lr}, weight_decay={args.weight_decay})",
            "schedule": "cosine annealing per epoch",
            "augmentation": "random horizontal/vertical flips and quarter turns",
            "seed": args.seed,
            "seconds": round(seconds),
            "hardware": hardware(),
            "torch": str(torch.__version__),
        },
        "val_accuracy": history.last["val_accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "history": history.to_dict(),
    }
    training.save_checkpoint(args.out, model, metadata)
    args.out.with_suffix(".partial-run.pt").unlink(missing_ok=True)
    card = args.out.with_name("MODEL_CARD.md")
    if args.out.parent == WEIGHTS:
        card.write_text(model_card(metadata))
    print(
        f"test accuracy {test['accuracy']:.4f} after {args.epochs} epochs, "
        f"{seconds / 60:.1f} min"
    )


def model_card(meta: dict) -> str:
    split = meta["split"]
    train = meta["training"]
    rows = "\n".join(
        f"| {r['epoch']} | {r['train_loss']:.3f} | {r['train_accuracy']:.4f} | "
        f"{r['val_loss']:.3f} | {r['val_accuracy']:.4f} | {r['seconds']:.0f} |"
        for r in meta["history"]["records"]
    )
    return f"""# Model card: the course CNN (`course_cnn.pt`)

A small convolutional network that classifies 64x64 EuroSAT RGB satellite
images into 10 land-cover classes. The convolution and saliency lessons use it,
and the classification lesson offers it instead of waiting for training.

| | |
|---|---|
| Architecture | `CourseCNN(width={meta["model"]["width"]}, dropout={meta["model"]["dropout"]})`: 4 x (conv 3x3, batch norm, ReLU, max pool 2), global average pool, dropout, linear |
| Parameters | {meta["parameters"]:,} |
| Data | EuroSAT RGB, all 27,000 images |
| Split | stratified by class, SHA-256 order with seed {split["seed"]}: train {split["sizes"]["train"]:,} / validation {split["sizes"]["val"]:,} / test {split["sizes"]["test"]:,} |
| Normalisation | mean {[round(x, 4) for x in meta["normalization"]["mean"]]}, std {[round(x, 4) for x in meta["normalization"]["std"]]} (training split only) |
| Training | {train["epochs"]} epochs, batch {train["batch_size"]}, {train["optimizer"]}, {train["schedule"]}, seed {train["seed"]} |
| Augmentation | {train["augmentation"]} |
| Training time | {train["seconds"] / 60:.0f} minutes |
| Hardware | {train["hardware"]}, torch {train["torch"]} |
| Validation accuracy | {meta["val_accuracy"]:.2%} |
| **Test accuracy** | **{meta["test_accuracy"]:.2%}** (2,700 held-out images, never used for training or model choice) |

Made by one command, from the repository root:

```
python scripts/train_course_cnn.py
```

`tests/test_shipped_model.py` loads the file and confirms the test accuracy
above on the real test split.

## Per-epoch history

| epoch | train loss | train acc | val loss | val acc | seconds |
|---:|---:|---:|---:|---:|---:|
{rows}

## Limits

- Trained and tested on EuroSAT only: 64x64 Sentinel-2 RGB patches of Europe.
  Other sensors, resolutions or regions are out of its range.
- The classes that share texture (Highway, River; PermanentCrop,
  HerbaceousVegetation, Pasture) account for most of its errors; see the
  confusion matrix in `notebooks/05_classification.ipynb`.
"""


if __name__ == "__main__":
    main()
