"""Convolution and pooling written from their definitions.

Each operation comes in up to two forms:

* a loop form (``conv2d_loop``, ``max_pool2d_loop``, ``avg_pool2d_loop``) that
  visits one output position at a time and reads like the formula, and
* a vectorised form (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``lp_pool2d``)
  that cuts the input into all its windows at once and reduces them with one
  matrix multiplication or one reduction.

Both forms give the results of ``torch.nn.functional``, and ``tests/test_ops.py``
checks them against it. Shapes use the lecture's names: ``x`` is a batch of
images ``(N, C_in, H, W)``, ``weight`` holds the kernels
``(C_out, C_in, kH, kW)`` and ``bias`` has shape ``(C_out,)``.

Stride, padding and dilation accept an int (same for height and width) or a
``(height, width)`` pair. Padding is symmetric: ``padding=(1, 2)`` adds one row
at the top and one at the bottom, two columns on the left and two on the right.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Pair = int | tuple[int, int]


def _pair(name: str, value: Pair) -> tuple[int, int]:
    """An int or a (height, width) pair of ints, as a pair."""
    if isinstance(value, int):
        return (value, value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return (value[0], value[1])
    raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")


def _check_4d(x: torch.Tensor, name: str = "input") -> None:
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be 4D with shape (N, C, H, W), got shape {tuple(x.shape)}"
        )


def _check_at_least(name: str, value: int | tuple[int, ...], minimum: int) -> None:
    """Raise if an int, or any entry of a pair, is below ``minimum``."""
    values = value if isinstance(value, tuple) else (value,)
    if min(values) < minimum:
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {rule}, got {value}")


def _check_hyperparameters(
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
) -> None:
    _check_at_least("kernel size", kernel, 1)
    _check_at_least("stride", stride, 1)
    _check_at_least("padding", padding, 0)
    _check_at_least("dilation", dilation, 1)


def output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Number of window positions along one dimension of a conv or pool.

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.
    With ``ceil_mode`` (pooling only) the division rounds up, so a last,
    partial window is kept, unless it would start in the right padding.
    """
    _check_hyperparameters(kernel_size, stride, padding, dilation)
    span = dilation * (kernel_size - 1) + 1  # input cells one window covers
    padded = size + 2 * padding
    if span > padded:
        raise ValueError(
            f"kernel spans {span} cells but the padded input has only {padded} "
            f"(size {size}, padding {padding}, kernel {kernel_size}, "
            f"dilation {dilation})"
        )

    if not ceil_mode:
        return (padded - span) // stride + 1
    count = -(-(padded - span) // stride) + 1  # -(-a // b) is ceil(a / b)
    if (count - 1) * stride >= size + padding:  # last window starts in the padding
        count -= 1
    return count


def _output_shape(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool = False,
) -> tuple[int, int]:
    """(out_h, out_w) of a conv or pool; the error names the full shapes."""
    _check_hyperparameters(kernel, stride, padding, dilation)
    height, width = x.shape[-2:]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    if spans[0] > padded[0] or spans[1] > padded[1]:
        raise ValueError(
            f"kernel {kernel} with dilation {dilation} covers "
            f"{spans[0]}x{spans[1]} cells, larger than the padded input "
            f"{padded[0]}x{padded[1]}: input shape {tuple(x.shape)}, "
            f"padding {padding}"
        )
    return (
        output_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode),
        output_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode),
    )


def _check_pool_padding(kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"padding {padding} must be at most half the kernel size {kernel} "
            "for pooling, or some windows would hold only padding"
        )


def _windows(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_shape: tuple[int, int],
    pad_value: float = 0.0,
) -> torch.Tensor:
    """Every sliding window of x, as one tensor (a view where possible).

    x: (N, C, H, W) -> windows (N, C, out_h, out_w, kH, kW), where
    ``windows[n, c, i, j]`` is the kH x kW patch that output (i, j) looks at.
    """
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    height, width = x.shape[-2:]

    # Pad every side by `padding`; in ceil mode the last window may also hang
    # over the bottom/right edge, so pad those sides a little more.
    needed_h = (out_shape[0] - 1) * stride[0] + spans[0]  # rows the windows cover
    needed_w = (out_shape[1] - 1) * stride[1] + spans[1]
    extra_h = max(0, needed_h - height - 2 * padding[0])
    extra_w = max(0, needed_w - width - 2 * padding[1])
    x = F.pad(
        x,
        (padding[1], padding[1] + extra_w, padding[0], padding[0] + extra_h),
        value=pad_value,
    )

    # Tensor.unfold(dim, size, step) slides a window of `size` along `dim`.
    windows = x.unfold(2, spans[0], stride[0]).unfold(3, spans[1], stride[1])
    windows = windows[..., :: dilation[0], :: dilation[1]]  # keep dilated taps
    return windows[:, :, : out_shape[0], : out_shape[1]]


def im2col(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> torch.Tensor:
    """Lay every receptive field out as one column (same as ``F.unfold``).

    x: (N, C, H, W) -> columns (N, C*kH*kW, out_h*out_w). Column ``l`` holds
    the input values that output position ``l`` (row-major) is computed from.
    """
    _check_4d(x)
    kernel = _pair("kernel_size", kernel_size)
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    dilation = _pair("dilation", dilation)
    out_shape = _output_shape(x, kernel, stride, padding, dilation)

    windows = _windows(x, kernel, stride, padding, dilation, out_shape)
    batch, channels = x.shape[:2]
    # (N, C, out_h, out_w, kH, kW) -> (N, C, kH, kW, out_h, out_w) -> columns
    windows = windows.permute(0, 1, 4, 5, 2, 3)
    return windows.reshape(batch, channels * kernel[0] * kernel[1], -1)


def _check_conv_arguments(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> None:
    _check_4d(x)
    _check_4d(weight, "weight")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"input has {x.shape[1]} channels but the kernel expects "
            f"{weight.shape[1]}: input shape {tuple(x.shape)}, "
            f"weight shape {tuple(weight.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"bias must have shape ({weight.shape[0]},), one value per output "
            f"channel of weight shape {tuple(weight.shape)}, got "
            f"{tuple(bias.shape)}"
        )


def conv2d_loop(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> torch.Tensor:
    """2D convolution, one output value at a time: the definition, and slow.

    Like ``torch.nn.functional.conv2d`` this is a cross-correlation: the kernel
    is not flipped. Output ``(n, o, i, j)`` is

        sum over c, u, v of  x_padded[n, c, i*sH + u*dH, j*sW + v*dW]
                             * weight[o, c, u, v]      (+ bias[o])

    x: (N, C_in, H, W); weight: (C_out, C_in, kH, kW); bias: (C_out,) or None.
    Returns (N, C_out, out_h, out_w), with sizes from ``output_size``.
    """
    _check_conv_arguments(x, weight, bias)
    kernel = tuple(weight.shape[2:])
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    dilation = _pair("dilation", dilation)
    out_h, out_w = _output_shape(x, kernel, stride, padding, dilation)

    x_padded = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    span_h = dilation[0] * (kernel[0] - 1) + 1
    span_w = dilation[1] * (kernel[1] - 1) + 1
    batch, out_channels = x.shape[0], weight.shape[0]
    out = x.new_zeros(batch, out_channels, out_h, out_w)

    for n in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride[0], j * stride[1]
                    rows = slice(top, top + span_h, dilation[0])
                    cols = slice(left, left + span_w, dilation[1])
                    # receptive field: every in-channel, kH x kW (dilated) cells
                    window = x_padded[n, :, rows, cols]  # (C_in, kH, kW)
                    out[n, o, i, j] = (window * weight[o]).sum()

    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> torch.Tensor:
    """2D convolution (cross-correlation) as im2col plus one matrix multiply.

    Same result as ``conv2d_loop`` and ``torch.nn.functional.conv2d``. Every
    receptive field becomes a column of length C_in*kH*kW; every kernel
    becomes a row of the same length; one matmul computes all the dot products.

    x: (N, C_in, H, W); weight: (C_out, C_in, kH, kW); bias: (C_out,) or None.
    Returns (N, C_out, out_h, out_w). Differentiable by autograd.
    """
    _check_conv_arguments(x, weight, bias)
    kernel = tuple(weight.shape[2:])
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    dilation = _pair("dilation", dilation)
    out_h, out_w = _output_shape(x, kernel, stride, padding, dilation)

    columns = im2col(x, kernel, stride, padding, dilation)  # (N, C_in*kH*kW, L)
    kernel_rows = weight.reshape(weight.shape[0], -1)  # (C_out, C_in*kH*kW)
    out = kernel_rows @ columns  # (N, C_out, L), broadcast over the batch

    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.reshape(x.shape[0], weight.shape[0], out_h, out_w)


def _pool_arguments(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair | None,
    padding: Pair,
    dilation: Pair,
    ceil_mode: bool,
) -> tuple[tuple[int, int], ...]:
    """Checked (kernel, stride, padding, dilation, out_shape) for pooling."""
    _check_4d(x)
    kernel = _pair("kernel_size", kernel_size)
    stride = kernel if stride is None else _pair("stride", stride)
    padding, dilation = _pair("padding", padding), _pair("dilation", dilation)
    out_shape = _output_shape(x, kernel, stride, padding, dilation, ceil_mode)
    _check_pool_padding(kernel, padding)
    return kernel, stride, padding, dilation, out_shape


def max_pool2d(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    dilation: Pair = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """Largest value in each window; padding never wins (it is -inf).

    x: (N, C, H, W) -> (N, C, out_h, out_w). ``stride`` defaults to the kernel
    size (non-overlapping windows), as in ``torch.nn.functional.max_pool2d``.
    """
    kernel, stride, padding, dilation, out_shape = _pool_arguments(
        x, kernel_size, stride, padding, dilation, ceil_mode
    )
    windows = _windows(x, kernel, stride, padding, dilation, out_shape, -math.inf)
    return windows.amax(dim=(-2, -1))


def avg_pool2d(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Mean of each window, with ``torch.nn.functional.avg_pool2d``'s divisor.

    The divisor counts the window's cells that lie inside the input, plus,
    when ``count_include_pad`` is True (the default), those in the zero
    padding. Cells of a ceil-mode window that hang past the padding are never
    counted.

    x: (N, C, H, W) -> (N, C, out_h, out_w). ``stride`` defaults to kernel size.
    """
    kernel, stride, padding, dilation, out_shape = _pool_arguments(
        x, kernel_size, stride, padding, 1, ceil_mode
    )
    totals = _windows(x, kernel, stride, padding, dilation, out_shape).sum((-2, -1))

    # Divisor: sum a map of ones over the same windows. The padding holds 1
    # when it counts and 0 when it does not; ceil-mode overhang always holds 0.
    ones = x.new_ones(1, 1, *x.shape[-2:])
    pad_value = 1.0 if count_include_pad else 0.0
    ones = F.pad(
        ones, (padding[1], padding[1], padding[0], padding[0]), value=pad_value
    )
    counts = _windows(ones, kernel, stride, (0, 0), dilation, out_shape)
    return totals / counts.sum((-2, -1))


def lp_pool2d(
    x: torch.Tensor,
    norm_type: float,
    kernel_size: Pair,
    stride: Pair | None = None,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """Power-average pooling: ``(sum of x**p over the window) ** (1/p)``.

    With ``norm_type=2`` this is L2 pooling, the Euclidean norm of each window.
    Computed as torch does: ``avg_pool2d(x**p) * kH*kW``, then the 1/p power.
    Consequences, matching ``torch.nn.functional.lp_pool2d``:

    * No padding argument. ``norm_type=inf`` gives the max of ``|x|``.
    * Negative inputs are not made absolute first. For p = 2, ``x**2`` drops
      the sign, so the result is the true L2 norm. For odd p (1, 3, ...) a
      window whose sum of ``x**p`` is negative gives a negative result for
      p = 1 and NaN otherwise (a fractional power of a negative number); any
      negative input with a non-integer p is NaN already in ``x**p``.
    * A ceil-mode border window is averaged over the cells it has, then
      multiplied by kH*kW: it is scaled up as if the missing cells held the
      window's mean, not summed over the cells present.

    x: (N, C, H, W) -> (N, C, out_h, out_w). ``stride`` defaults to kernel size.
    """
    if norm_type == 0:
        raise ValueError("norm_type must be non-zero: it is the p of the p-norm")
    if norm_type == math.inf:
        return max_pool2d(x.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool2d(-x.abs(), kernel_size, stride, 0, 1, ceil_mode)

    kernel = _pair("kernel_size", kernel_size)
    sums = avg_pool2d(x.pow(norm_type), kernel, stride, 0, ceil_mode)
    sums = sums * (kernel[0] * kernel[1])
    # sign * relu(abs) has the value of `sums`. It is here for the gradient:
    # where a window sums to 0, d(sums ** (1/p)) is infinite, and relu's
    # backward turns the resulting NaN into 0, as torch does.
    sums = torch.sign(sums) * torch.relu(sums.abs())
    return sums.pow(1.0 / norm_type)


def _clipped(start: int, size: int, low: int, high: int) -> range:
    """Indices start, ..., start+size-1 that lie in [low, high)."""
    return range(max(start, low), min(start + size, high))


def max_pool2d_loop(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """``max_pool2d`` one window at a time, reading only real input cells.

    x: (N, C, H, W) -> (N, C, out_h, out_w).
    """
    kernel, stride, padding, _, (out_h, out_w) = _pool_arguments(
        x, kernel_size, stride, padding, 1, ceil_mode
    )
    height, width = x.shape[-2:]
    out = x.new_empty(*x.shape[:2], out_h, out_w)

    for i in range(out_h):
        for j in range(out_w):
            # window corner in input coordinates (negative inside the padding)
            top, left = i * stride[0] - padding[0], j * stride[1] - padding[1]
            rows = _clipped(top, kernel[0], 0, height)
            cols = _clipped(left, kernel[1], 0, width)
            window = x[:, :, rows.start : rows.stop, cols.start : cols.stop]
            out[:, :, i, j] = window.amax(dim=(-2, -1))
    return out


def avg_pool2d_loop(
    x: torch.Tensor,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """``avg_pool2d`` one window at a time, with the divisor spelled out.

    x: (N, C, H, W) -> (N, C, out_h, out_w).
    """
    kernel, stride, padding, _, (out_h, out_w) = _pool_arguments(
        x, kernel_size, stride, padding, 1, ceil_mode
    )
    height, width = x.shape[-2:]
    out = x.new_empty(*x.shape[:2], out_h, out_w)

    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride[0] - padding[0], j * stride[1] - padding[1]
            rows = _clipped(top, kernel[0], 0, height)
            cols = _clipped(left, kernel[1], 0, width)
            window = x[:, :, rows.start : rows.stop, cols.start : cols.stop]
            if count_include_pad:  # cells in the input or its padding
                padded_rows = _clipped(top, kernel[0], -padding[0], height + padding[0])
                padded_cols = _clipped(left, kernel[1], -padding[1], width + padding[1])
                divisor = len(padded_rows) * len(padded_cols)
            else:  # cells in the input only
                divisor = len(rows) * len(cols)
            out[:, :, i, j] = window.sum(dim=(-2, -1)) / divisor
    return out
