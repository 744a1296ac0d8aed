"""Time course_utils.ops against torch: loop form, vectorised form, F.conv2d.

    python benchmarks/bench_ops.py                 # about 30 s on one CPU thread
    python benchmarks/bench_ops.py --threads 4 --batch 32

The loop form visits every output value in Python, so it is timed on a smaller
batch (``--loop-batch``) and scaled up to the full batch: its cost grows in
proportion to the batch size. Every result is checked against torch before it
is timed. All numbers printed are measured in this run.
"""

from __future__ import annotations

import argparse
import os
import platform
import timeit
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from course_utils import ops


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="images per batch")
    parser.add_argument("--size", type=int, default=64, help="image height = width")
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--out-channels", type=int, default=16)
    parser.add_argument("--kernel", type=int, default=3, help="conv kernel size")
    parser.add_argument(
        "--loop-batch", type=int, default=1, help="batch the loop form is timed on"
    )
    parser.add_argument(
        "--loop-repeats", type=int, default=3, help="timed runs of the loop form"
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=1.0,
        help="seconds spent timing each fast function",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def time_fast(
    function: Callable, inputs: tuple, kwargs: dict, threads: int, min_run_time: float
) -> float:
    """Median seconds per call, from torch.utils.benchmark (with warm-up)."""
    timer = benchmark.Timer(
        stmt="function(*inputs, **kwargs)",
        globals={"function": function, "inputs": inputs, "kwargs": kwargs},
        num_threads=threads,
    )
    return timer.blocked_autorange(min_run_time=min_run_time).median


def time_slow(function: Callable, inputs: tuple, kwargs: dict, repeats: int) -> float:
    """Median seconds per call over ``repeats`` single calls (no warm-up needed)."""
    times = timeit.repeat(lambda: function(*inputs, **kwargs), number=1, repeat=repeats)
    return sorted(times)[len(times) // 2]


def check_close(ours: torch.Tensor, reference: torch.Tensor, name: str) -> float:
    """Largest absolute difference; stop if ours is wrong (timing it is pointless)."""
    difference = (ours - reference).abs().max().item()
    if difference > 1e-4:
        raise SystemExit(f"{name} differs from torch by {difference:.2e}; not timing")
    return difference


def show(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<36} {seconds * 1e3:>10.2f} ms  {note}".rstrip())


def bench_conv(args: argparse.Namespace) -> None:
    generator = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.in_channels, args.size, args.size)
    x = torch.randn(*shape, generator=generator)
    k = args.kernel
    weight = torch.randn(args.out_channels, args.in_channels, k, k, generator=generator)
    bias = torch.randn(args.out_channels, generator=generator)
    kwargs = {"padding": k // 2}
    x_loop = x[: args.loop_batch]
    print(
        f"Convolution: x {tuple(x.shape)} float32, weight {tuple(weight.shape)}, "
        f"padding {k // 2}"
    )

    # Check: all three forms agree (this first loop call also warms it up).
    reference = F.conv2d(x, weight, bias, **kwargs)
    check_close(ops.conv2d(x, weight, bias, **kwargs), reference, "conv2d")
    loop_out = ops.conv2d_loop(x_loop, weight, bias, **kwargs)
    check_close(loop_out, reference[: args.loop_batch], "conv2d_loop")

    # Time: the loop on a small batch, scaled; the others on the full batch.
    loop_inputs = (x_loop, weight, bias)
    loop_small = time_slow(ops.conv2d_loop, loop_inputs, kwargs, args.loop_repeats)
    loop = loop_small * args.batch / args.loop_batch
    fast_args = (args.threads, args.min_run_time)
    vectorised = time_fast(ops.conv2d, (x, weight, bias), kwargs, *fast_args)
    torch_conv = time_fast(F.conv2d, (x, weight, bias), kwargs, *fast_args)

    # Report.
    show(
        "loop form, ops.conv2d_loop",
        loop,
        f"(measured {loop_small:.2f} s on batch {args.loop_batch}, "
        f"scaled x{args.batch / args.loop_batch:g}; median of {args.loop_repeats})",
    )
    show("vectorised, ops.conv2d", vectorised)
    show("torch, F.conv2d", torch_conv)
    print(f"  vectorised is {loop / vectorised:,.0f}x faster than the loop form")
    print(
        f"  F.conv2d is {vectorised / torch_conv:.2f}x faster than the vectorised form"
    )


def bench_pool(args: argparse.Namespace) -> None:
    generator = torch.Generator().manual_seed(args.seed + 1)
    shape = (args.batch, args.out_channels, args.size, args.size)
    x = torch.randn(*shape, generator=generator)
    print(f"\nPooling: x {tuple(x.shape)} float32, kernel 2, stride 2")

    fast_args = (args.threads, args.min_run_time)
    cases = [
        ("max", ops.max_pool2d_loop, ops.max_pool2d, F.max_pool2d, (2,)),
        ("avg", ops.avg_pool2d_loop, ops.avg_pool2d, F.avg_pool2d, (2,)),
        ("L2", None, ops.lp_pool2d, F.lp_pool2d, (2, 2)),
    ]
    for name, loop_form, ours, theirs, pool_args in cases:
        reference = theirs(x, *pool_args)
        check_close(ours(x, *pool_args), reference, ours.__name__)
        torch_time = time_fast(theirs, (x, *pool_args), {}, *fast_args)
        our_time = time_fast(ours, (x, *pool_args), {}, *fast_args)
        if loop_form is not None:
            check_close(loop_form(x, *pool_args), reference, loop_form.__name__)
            loop_time = time_fast(loop_form, (x, *pool_args), {}, *fast_args)
            show(f"{name}: loop form, ops.{loop_form.__name__}", loop_time)
        show(f"{name}: vectorised, ops.{ours.__name__}", our_time)
        show(f"{name}: torch, F.{theirs.__name__}", torch_time)
        print(f"  {name}: torch is {our_time / torch_time:.2f}x faster than ours")


def main() -> None:
    args = parse_args()
    if args.loop_batch < 1 or args.loop_batch > args.batch:
        raise SystemExit("--loop-batch must be between 1 and --batch")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.machine()} CPU, "
        f"{args.threads} thread(s); times are per batch of {args.batch}"
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > cpus / 2:  # other work competes for the CPU and adds noise
        print(f"Note: load average {load:.1f} on {cpus} CPUs; timings will be noisy.")
    print()
    bench_conv(args)
    bench_pool(args)


if __name__ == "__main__":
    main()
