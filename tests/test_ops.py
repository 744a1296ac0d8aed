"""course_utils.ops against torch.nn.functional, on many shapes and arguments."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import ops

DOUBLE = {"atol": 1e-10, "rtol": 0.0}
SINGLE = {"atol": 1e-5, "rtol": 0.0}


def random(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype)


# ------------------------------------------------------------------ output_size
@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [
        (7, 3, 1, 0, 1),
        (7, 3, 2, 1, 1),
        (8, 3, 3, 2, 1),
        (9, 2, 2, 0, 3),
        (5, 5, 1, 0, 1),
        (4, 3, 5, 1, 1),
    ],
)
def test_output_size_matches_conv2d(size, kernel, stride, padding, dilation):
    x, weight = random(1, 1, size, size + 1), random(1, 1, kernel, kernel)
    out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    assert out.shape[2] == ops.output_size(size, kernel, stride, padding, dilation)
    assert out.shape[3] == ops.output_size(size + 1, kernel, stride, padding, dilation)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [
        (5, 2, 2, 0, 1),  # ceil mode adds a window on the last cell
        (6, 3, 2, 1, 1),
        (5, 2, 2, 1, 1),  # ceil window would start in the right padding: dropped
        (7, 3, 3, 1, 1),
        (10, 3, 4, 0, 1),
        (9, 2, 3, 1, 2),
        (4, 4, 3, 2, 1),
    ],
)
def test_output_size_matches_max_pool2d(
    size, kernel, stride, padding, dilation, ceil_mode
):
    x = random(1, 1, size, size)
    out = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    expected = ops.output_size(size, kernel, stride, padding, dilation, ceil_mode)
    assert out.shape[-1] == expected


def test_ceil_mode_drops_window_starting_in_right_padding():
    # 5 + 2*1 - 2 = 5 cells to slide over: ceil(5 / 2) + 1 = 4 windows, but the
    # 4th would start at padded index 6, past the input (which ends at 5 + 1).
    assert ops.output_size(5, 2, stride=2, padding=1, ceil_mode=False) == 3
    assert ops.output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert ops.output_size(5, 2, stride=2, padding=0, ceil_mode=True) == 3
    assert ops.output_size(5, 2, stride=2, padding=0, ceil_mode=False) == 2


# ------------------------------------------------------------------ convolution
CONV_CASES = [
    # (N, C_in, C_out, H, W, (kH, kW), stride, padding, dilation, bias)
    (1, 1, 1, 5, 5, (3, 3), 1, 0, 1, False),
    (2, 3, 4, 6, 7, (3, 3), 1, 1, 1, True),
    (2, 3, 2, 7, 6, (2, 3), 1, 0, 1, True),  # rectangular kernel
    (1, 2, 3, 8, 9, (3, 1), (2, 1), 0, 1, False),  # rectangular stride
    (2, 2, 2, 7, 7, (3, 3), 2, (1, 2), 1, True),  # asymmetric padding
    (1, 2, 2, 9, 8, (3, 2), 1, 1, (2, 3), True),  # dilation
    (3, 1, 2, 6, 5, (1, 1), 3, 0, 1, True),  # 1x1 kernel, stride 3
    (1, 3, 1, 5, 6, (5, 6), 1, 0, 1, True),  # kernel as large as the input
    (2, 2, 3, 5, 5, (3, 3), (2, 3), (2, 0), (1, 2), False),  # everything at once
]
CONV_FORMS = [ops.conv2d, ops.conv2d_loop]


def conv_inputs(case, dtype=torch.float64):
    batch, c_in, c_out, height, width, kernel, stride, padding, dilation, bias = case
    x = random(batch, c_in, height, width, seed=1, dtype=dtype)
    weight = random(c_out, c_in, *kernel, seed=2, dtype=dtype)
    b = random(c_out, seed=3, dtype=dtype) if bias else None
    return x, weight, b, {"stride": stride, "padding": padding, "dilation": dilation}


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch_float64(conv, case):
    x, weight, bias, kwargs = conv_inputs(case)
    expected = F.conv2d(x, weight, bias, **kwargs)
    torch.testing.assert_close(conv(x, weight, bias, **kwargs), expected, **DOUBLE)


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", CONV_CASES[1:6])
def test_conv_matches_torch_float32(conv, case):
    x, weight, bias, kwargs = conv_inputs(case, dtype=torch.float32)
    out = conv(x, weight, bias, **kwargs)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.conv2d(x, weight, bias, **kwargs), **SINGLE)


def test_conv_on_rgb_batch_float32():
    x = random(4, 3, 32, 32, dtype=torch.float32)
    weight, bias = random(8, 3, 3, 3, dtype=torch.float32), random(8, seed=1)
    bias = bias.float()
    expected = F.conv2d(x, weight, bias, padding=1)
    torch.testing.assert_close(
        ops.conv2d(x, weight, bias, padding=1), expected, **SINGLE
    )


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
def test_hand_worked_example(conv):
    image = torch.tensor(
        [
            [1, 1, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 1, 1],
            [0, 0, 1, 1, 0],
            [0, 1, 1, 0, 0],
        ],
        dtype=torch.float32,
    )
    kernel = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=torch.float32)
    expected = torch.tensor([[4, 3, 4], [2, 4, 3], [2, 3, 4]], dtype=torch.float32)

    out = conv(image.view(1, 1, 5, 5), kernel.view(1, 1, 3, 3))
    torch.testing.assert_close(out.view(3, 3), expected, atol=0, rtol=0)


def test_convolution_is_cross_correlation():
    """The kernel is not flipped: an off-centre 1 shifts the image the other way."""
    x = random(1, 1, 5, 5)
    kernel = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    kernel[0, 0, 0, 0] = 1.0  # top-left tap reads the cell up and to the left
    out = ops.conv2d(x, kernel, padding=1)
    torch.testing.assert_close(out[0, 0, 1:, 1:], x[0, 0, :-1, :-1], **DOUBLE)


@pytest.mark.parametrize("case", CONV_CASES[1:6])
def test_im2col_matches_unfold(case):
    x, weight, _, kwargs = conv_inputs(case)
    kernel = tuple(weight.shape[2:])
    expected = F.unfold(x, kernel, **kwargs)
    torch.testing.assert_close(ops.im2col(x, kernel, **kwargs), expected, **DOUBLE)


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[5], CONV_CASES[8]])
def test_conv_gradients_match_torch(conv, case):
    x, weight, bias, kwargs = conv_inputs(case)
    bias = random(weight.shape[0], seed=3) if bias is None else bias
    ours = [t.clone().requires_grad_() for t in (x, weight, bias)]
    theirs = [t.clone().requires_grad_() for t in (x, weight, bias)]
    upstream = random(*F.conv2d(x, weight, bias, **kwargs).shape, seed=4)

    (conv(*ours, **kwargs) * upstream).sum().backward()
    (F.conv2d(*theirs, **kwargs) * upstream).sum().backward()

    for name, mine, reference in zip(
        ("x", "weight", "bias"), ours, theirs, strict=True
    ):
        assert mine.grad is not None, f"no gradient reached {name}"
        torch.testing.assert_close(mine.grad, reference.grad, **DOUBLE)


# --------------------------------------------------------------------- pooling
POOL_CASES = [
    # (shape, kernel, stride, padding, ceil_mode)
    ((2, 3, 6, 6), 2, None, 0, False),
    ((1, 2, 7, 7), 2, None, 0, True),  # odd size: ceil mode keeps a border window
    ((2, 1, 7, 9), 3, 2, 1, False),
    ((2, 1, 7, 9), 3, 2, 1, True),
    ((1, 2, 8, 7), (2, 3), (1, 2), (1, 0), False),  # rectangular everything
    ((1, 2, 8, 7), (3, 2), (2, 3), (1, 1), True),
    ((3, 1, 5, 6), (4, 2), (3, 3), (2, 1), True),  # window starting in padding
    ((1, 1, 10, 10), 3, 4, 0, True),
    ((1, 1, 4, 4), 4, 1, 0, False),  # one window covers the input
]
MAX_POOL_FORMS = [ops.max_pool2d, ops.max_pool2d_loop]
AVG_POOL_FORMS = [ops.avg_pool2d, ops.avg_pool2d_loop]


@pytest.mark.parametrize("pool", MAX_POOL_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", POOL_CASES)
def test_max_pool_matches_torch(pool, shape, kernel, stride, padding, ceil_mode):
    x = -random(*shape).abs()  # all negative: zero padding would show up
    expected = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    out = pool(x, kernel, stride, padding, ceil_mode=ceil_mode)
    torch.testing.assert_close(out, expected, **DOUBLE)


@pytest.mark.parametrize("dilation", [2, (1, 3)])
def test_max_pool_with_dilation_matches_torch(dilation):
    x = random(2, 2, 9, 10)
    expected = F.max_pool2d(x, 3, 2, 1, dilation, ceil_mode=True)
    out = ops.max_pool2d(x, 3, 2, 1, dilation, ceil_mode=True)
    torch.testing.assert_close(out, expected, **DOUBLE)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("pool", AVG_POOL_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", POOL_CASES)
def test_avg_pool_matches_torch(
    pool, shape, kernel, stride, padding, ceil_mode, count_include_pad
):
    x = random(*shape)
    kwargs = {"ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
    expected = F.avg_pool2d(x, kernel, stride, padding, **kwargs)
    out = pool(x, kernel, stride, padding, **kwargs)
    torch.testing.assert_close(out, expected, **DOUBLE)


def test_pooling_float32():
    x = random(4, 3, 16, 16, dtype=torch.float32)
    for ours, theirs in [
        (ops.max_pool2d, F.max_pool2d),
        (ops.avg_pool2d, F.avg_pool2d),
    ]:
        expected = theirs(x, 3, 2, 1, ceil_mode=True)
        torch.testing.assert_close(ours(x, 3, 2, 1, ceil_mode=True), expected, **SINGLE)
    expected = F.lp_pool2d(x, 2, 3, 2, ceil_mode=True)
    torch.testing.assert_close(ops.lp_pool2d(x, 2, 3, 2, True), expected, **SINGLE)


LP_CASES = [
    # (shape, kernel, stride, ceil_mode)
    ((2, 3, 6, 6), 2, None, False),
    ((1, 2, 7, 7), 2, None, True),  # border windows: see test_lp_pool_ceil_mode
    ((2, 1, 7, 9), (3, 2), (2, 3), True),
    ((1, 1, 9, 8), 3, 1, False),
]


@pytest.mark.parametrize("norm_type", [2, 2.0, 1, 4, math.inf])
@pytest.mark.parametrize("shape, kernel, stride, ceil_mode", LP_CASES)
def test_lp_pool_matches_torch(norm_type, shape, kernel, stride, ceil_mode):
    x = random(*shape)  # about half the values are negative
    expected = F.lp_pool2d(x, norm_type, kernel, stride, ceil_mode)
    out = ops.lp_pool2d(x, norm_type, kernel, stride, ceil_mode)
    torch.testing.assert_close(out, expected, **DOUBLE)


@pytest.mark.parametrize("shape, kernel, stride, ceil_mode", LP_CASES)
def test_l2_pool_ignores_sign(shape, kernel, stride, ceil_mode):
    """p = 2 squares each value: a negative input pools like its absolute value."""
    x = random(*shape)
    negative = -x.abs()
    out = ops.lp_pool2d(negative, 2, kernel, stride, ceil_mode)
    torch.testing.assert_close(out, F.lp_pool2d(negative, 2, kernel, stride, ceil_mode))
    torch.testing.assert_close(
        out, ops.lp_pool2d(x.abs(), 2, kernel, stride, ceil_mode)
    )
    assert (out >= 0).all()


def test_l2_pool_is_window_norm():
    x = random(2, 3, 6, 8)
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2)  # (N, C, 3, 4, 2, 2)
    expected = windows.pow(2).sum((-2, -1)).sqrt()
    torch.testing.assert_close(ops.lp_pool2d(x, 2, 2), expected, **DOUBLE)


def test_odd_p_on_negative_windows_matches_torch():
    """p = 1 keeps the sign of the sum; p = 3 gives NaN where the sum is negative."""
    x = torch.tensor([[[[-1.0, -2.0, 3.0, 4.0], [-3.0, -4.0, 5.0, -1.0]]]])
    torch.testing.assert_close(
        ops.lp_pool2d(x, 1, 2), torch.tensor([[[[-10.0, 11.0]]]])
    )
    torch.testing.assert_close(ops.lp_pool2d(x, 1, 2), F.lp_pool2d(x, 1, 2))

    cubes = ops.lp_pool2d(x, 3, 2)
    assert torch.isnan(cubes[..., 0]).all()  # -1 - 8 - 27 - 64 < 0
    torch.testing.assert_close(cubes, F.lp_pool2d(x, 3, 2), equal_nan=True)


def test_lp_pool_ceil_mode_scales_border_windows():
    """torch averages a partial window, then multiplies by the full kernel size."""
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    out = ops.lp_pool2d(x, 1, 2, ceil_mode=True)
    # windows {1,2,4,5}, {3,6}, {7,8}, {9}: the partial ones are doubled or x4
    expected = torch.tensor([[[[12.0, 18.0], [30.0, 36.0]]]])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out, F.lp_pool2d(x, 1, 2, ceil_mode=True))


def test_lp_pool_gradient_matches_torch_including_zero_windows():
    x = random(1, 2, 4, 6)
    x[0, 0, :2, :2] = 0.0  # an all-zero window: gradient must be 0, not NaN
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    ops.lp_pool2d(ours, 2, 2).sum().backward()
    F.lp_pool2d(theirs, 2, 2).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, **DOUBLE)
    assert torch.isfinite(ours.grad).all()


# ---------------------------------------------------------------------- errors
def test_channel_mismatch_names_shapes():
    x, weight = random(2, 3, 8, 8), random(8, 4, 3, 3)
    for conv in CONV_FORMS:
        with pytest.raises(ValueError) as error:
            conv(x, weight)
        message = str(error.value)
        assert "input has 3 channels but the kernel expects 4" in message
        assert "weight shape (8, 4, 3, 3)" in message
        assert "input shape (2, 3, 8, 8)" in message


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
def test_conv_rejects_bad_shapes(conv):
    x, weight = random(1, 3, 6, 6), random(2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"input must be 4D .*got shape \(3, 6, 6\)"):
        conv(x[0], weight)
    with pytest.raises(ValueError, match=r"weight must be 4D .*got shape \(2, 3, 9\)"):
        conv(x, weight.view(2, 3, 9))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\).*got \(3,\)"):
        conv(x, weight, random(3))


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
def test_conv_rejects_kernel_larger_than_padded_input(conv):
    x, weight = random(1, 1, 4, 6), random(1, 1, 5, 3)
    with pytest.raises(ValueError) as error:
        conv(x, weight)
    message = str(error.value)
    assert "larger than the padded input 4x6" in message
    assert "input shape (1, 1, 4, 6)" in message
    conv(x, weight, padding=(1, 0))  # padding makes it fit

    with pytest.raises(ValueError, match=r"covers 5x5 cells"):
        conv(x, random(1, 1, 3, 3), dilation=2)


@pytest.mark.parametrize("conv", CONV_FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"stride": 0}, r"stride must be positive, got \(0, 0\)"),
        ({"stride": (1, -2)}, r"stride must be positive, got \(1, -2\)"),
        ({"padding": -1}, r"padding must be non-negative, got \(-1, -1\)"),
        ({"dilation": (0, 1)}, r"dilation must be positive"),
        ({"stride": (1, 2, 3)}, r"stride must be an int or a \(height, width\) pair"),
        ({"padding": 1.5}, r"padding must be an int or a \(height, width\) pair"),
    ],
)
def test_conv_rejects_bad_arguments(conv, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        conv(random(1, 1, 5, 5), random(1, 1, 3, 3), **kwargs)


POOLS = [
    ops.max_pool2d,
    ops.max_pool2d_loop,
    ops.avg_pool2d,
    ops.avg_pool2d_loop,
]


@pytest.mark.parametrize("pool", POOLS, ids=lambda f: f.__name__)
def test_pool_rejects_bad_arguments(pool):
    x = random(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"input must be 4D .*got shape \(2, 5, 5\)"):
        pool(x[0], 2)
    with pytest.raises(ValueError, match=r"stride must be positive, got \(0, 0\)"):
        pool(x, 2, 0)
    with pytest.raises(ValueError, match=r"padding must be non-negative"):
        pool(x, 2, 2, -1)
    with pytest.raises(ValueError, match=r"larger than the padded input 5x5"):
        pool(x, (6, 2))
    with pytest.raises(ValueError, match=r"padding \(2, 0\) must be at most half"):
        pool(x, 3, 1, (2, 0))


def test_pool_padding_rule_is_torchs():
    """torch also refuses padding above half the kernel, and accepts k // 2."""
    x = random(1, 1, 6, 6)
    with pytest.raises(RuntimeError):
        F.max_pool2d(x, 3, 1, 2)
    with pytest.raises(ValueError, match="at most half the kernel size"):
        ops.max_pool2d(x, 3, 1, 2)
    torch.testing.assert_close(ops.max_pool2d(x, 4, 1, 2), F.max_pool2d(x, 4, 1, 2))


def test_lp_pool_rejects_bad_arguments():
    x = random(1, 1, 4, 4)
    with pytest.raises(ValueError, match="norm_type must be non-zero"):
        ops.lp_pool2d(x, 0, 2)
    with pytest.raises(ValueError, match=r"larger than the padded input 4x4"):
        ops.lp_pool2d(x, 2, 5)
    with pytest.raises(ValueError, match=r"input must be 4D"):
        ops.lp_pool2d(x[0], 2, 2)


@pytest.mark.parametrize(
    "args, pattern",
    [
        ((5, 6), r"kernel spans 6 cells but the padded input has only 5"),
        ((5, 3, 0), r"stride must be positive, got 0"),
        ((5, 3, 1, -1), r"padding must be non-negative, got -1"),
        ((5, 0), r"kernel size must be positive, got 0"),
        ((5, 3, 1, 0, 0), r"dilation must be positive, got 0"),
        ((5, 3, 1, 0, 3), r"kernel spans 7 cells"),
    ],
)
def test_output_size_rejects_bad_arguments(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        ops.output_size(*args)
