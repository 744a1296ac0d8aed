"""Time occlusion maps: ours against a one-patch-at-a-time loop and Captum.

    python benchmarks/bench_occlusion.py               # about a minute on 2 cores
    python benchmarks/bench_occlusion.py --repeats 9 --threads 1

One real EuroSAT test image (64x64), an 8x8 patch at strides 8 and 4 (64 and
225 patch positions), on the shipped course CNN. Contestants:

* loop: the plain definition, one occluded copy per forward pass;
* ours, full: ``occlusion_map(strategy="full")``, many occluded copies per
  forward pass (batching alone);
* ours, local: ``occlusion_map(strategy="local")``, the default for the course
  CNN: each layer recomputes only the window a patch can change and reuses the
  unoccluded image's activations elsewhere;
* Captum: ``Occlusion`` on the model followed by softmax (so it measures the
  same probability drop) with the same patch, stride and fill, at several
  ``perturbations_per_eval``; the best one is compared.

Every map is checked against the loop before anything is timed. Repeats are
interleaved (one call of each contestant per round) so that a machine busy
with something else slows all of them alike; medians are reported. All
numbers printed are measured in this run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from captum.attr import Occlusion
from torch import nn

from course_utils import data, models, runtime, saliency

PATCH_SIZE = 8
FILL = 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strides", type=int, nargs="+", default=[8, 4])
    parser.add_argument(
        "--per-eval",
        type=int,
        nargs="+",
        default=[4, 16, 64, 256],
        help="Captum perturbations_per_eval values to try",
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--image", type=int, default=0, help="index in the test split")
    return parser.parse_args()


def loop_map(model: nn.Module, image: torch.Tensor, label: int, stride: int):
    """The plain definition: one forward pass per patch position."""
    size = image.shape[-1]
    total, count = torch.zeros(size, size), torch.zeros(size, size)
    with torch.no_grad():
        clean = torch.softmax(model(image[None]), dim=1)[0, label]
        for top in saliency.patch_positions(size, PATCH_SIZE, stride):
            for left in saliency.patch_positions(size, PATCH_SIZE, stride):
                copy = image.clone()
                copy[:, top : top + PATCH_SIZE, left : left + PATCH_SIZE] = FILL
                drop = clean - torch.softmax(model(copy[None]), dim=1)[0, label]
                total[top : top + PATCH_SIZE, left : left + PATCH_SIZE] += drop
                count[top : top + PATCH_SIZE, left : left + PATCH_SIZE] += 1
    return total / count


def contestants(
    model: nn.Module, image: torch.Tensor, label: int, stride: int, per_eval: list[int]
) -> dict[str, Callable[[], torch.Tensor]]:
    occlusion = Occlusion(nn.Sequential(model, nn.Softmax(dim=1)))

    def captum(perturbations: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.no_grad():
                return occlusion.attribute(
                    image[None],
                    sliding_window_shapes=(3, PATCH_SIZE, PATCH_SIZE),
                    strides=(3, stride, stride),
                    baselines=FILL,
                    target=label,
                    perturbations_per_eval=perturbations,
                )[0, 0]

        return run

    def ours(strategy: str) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            return saliency.occlusion_map(
                model,
                image,
                label,
                patch_size=PATCH_SIZE,
                stride=stride,
                fill=FILL,
                strategy=strategy,
            )

        return run

    functions = {
        "loop (one patch per pass)": lambda: loop_map(model, image, label, stride),
        "ours, full (batched)": ours("full"),
        "ours, local (receptive field)": ours("local"),
    }
    for perturbations in per_eval:
        functions[f"Captum, perturbations_per_eval={perturbations}"] = captum(
            perturbations
        )
    return functions


def measure(functions: dict[str, Callable], repeats: int) -> dict[str, float]:
    """Median seconds per call; rounds interleave the contestants."""
    for function in functions.values():  # warm-up
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime.seed_everything(0)
    model, metadata = models.load_course_cnn()
    splits = data.eurosat_splits(
        fast=True, normalization=metadata["normalization"], progress=False
    )
    image, label = splits.test[args.image]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"{PATCH_SIZE}x{PATCH_SIZE} patch on a {image.shape[-1]}x{image.shape[-1]} "
        f"image, {args.repeats} interleaved rounds, medians"
    )

    for stride in args.strides:
        functions = contestants(model, image, label, stride, args.per_eval)
        reference = functions["loop (one patch per pass)"]()
        for name, function in functions.items():
            difference = (function() - reference).abs().max().item()
            if difference > 1e-5:
                raise SystemExit(f"{name} differs from the loop by {difference:.1e}")

        medians = measure(functions, args.repeats)
        positions = len(saliency.patch_positions(image.shape[-1], PATCH_SIZE, stride))
        print(f"\nstride {stride}: {positions**2} patch positions")
        for name, seconds in medians.items():
            print(f"  {name:<42} {seconds * 1e3:>9.1f} ms")
        captum = {k: v for k, v in medians.items() if k.startswith("Captum")}
        best_captum = min(captum, key=captum.get)
        loop = medians["loop (one patch per pass)"]
        batched = medians["ours, full (batched)"]
        local = medians["ours, local (receptive field)"]
        print(f"  best Captum: {best_captum.split(', ')[1]}")
        print(
            f"  ours (local) is {loop / local:.1f}x faster than the loop and "
            f"{captum[best_captum] / local:.1f}x faster than the best Captum"
        )
        print(
            f"  (batching alone: {loop / batched:.1f}x the loop, "
            f"{captum[best_captum] / batched:.2f}x the best Captum)"
        )


if __name__ == "__main__":
    main()
