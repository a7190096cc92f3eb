"""im2col/col2im against naive loops, conv against a direct sum, and the adjoint identity: for the
readable layers (nn/) and the fast ones (nn/fast/) alike."""
import numpy as np
import pytest

import nn
import nn.fast
from nn import backend
from nn.im2col import conv_output_size

CASES = [(4, 2, 1), (4, 1, 0), (3, 1, 1), (3, 2, 0), (5, 3, 2), (1, 1, 0)]   # (kernel, stride, pad)
LIBRARIES = ["nn", "fast"]


def library(name):
    """(the layers, their im2col module, their conv module, the columns' order: "n,oh,ow" or "oh,ow,n")."""
    if name == "fast":
        return nn.fast, nn.fast.im2col, nn.fast.conv, "oh,ow,n"
    return nn, nn.im2col, nn.conv, "n,oh,ow"


def conv_transpose(name, x, w, out_hw, s, p):
    _, _, conv, _ = library(name)
    if name == "fast":
        return conv.conv_transpose2d(conv.channels_first(x), x.shape[0], w, out_hw, s, p)
    return conv.conv_transpose2d(x, w, out_hw, s, p)


def naive_im2col(x, k, s, p, order="n,oh,ow"):
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.zeros((C * k * k, N * OH * OW), x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                patch = xpad[n, :, oh * s:oh * s + k, ow * s:ow * s + k]   # (C, k, k)
                column = (oh * OW + ow) * N + n if order == "oh,ow,n" else (n * OH + oh) * OW + ow
                cols[:, column] = patch.reshape(-1)
    return cols


def naive_conv(x, w, s, p):
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    OH, OW = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    y[n, f, oh, ow] = np.sum(xpad[n, :, oh * s:oh * s + k, ow * s:ow * s + k] * w[f])
    return y


def naive_conv_transpose(x, w, s, p):
    """Scatter form: each input pixel paints its kernel into the (padded) output."""
    N, F, H, W = x.shape
    _, C, k, _ = w.shape
    OH, OW = (H - 1) * s - 2 * p + k, (W - 1) * s - 2 * p + k
    out = np.zeros((N, C, OH + 2 * p, OW + 2 * p))
    for n in range(N):
        for f in range(F):
            for h in range(H):
                for v in range(W):
                    out[n, :, h * s:h * s + k, v * s:v * s + k] += x[n, f, h, v] * w[f]
    return out[:, :, p:p + OH, p:p + OW]


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("k,s,p", CASES)
def test_im2col_matches_naive_loop(xp_backend, lib, k, s, p):
    _, i2c, _, order = library(lib)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    cols = backend.to_numpy(i2c.im2col(backend.to_device(x, "float64"), k, k, s, p))
    np.testing.assert_allclose(cols, naive_im2col(x, k, s, p, order), atol=1e-12)


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("k,s,p", CASES)
def test_col2im_is_adjoint_of_im2col(xp_backend, lib, k, s, p):
    _, i2c, _, order = library(lib)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = rng.standard_normal(naive_im2col(x, k, s, p).shape)
    lhs = np.sum(naive_im2col(x, k, s, p, order) * cols)
    rhs = np.sum(x * backend.to_numpy(i2c.col2im(backend.to_device(cols, "float64"), x.shape, k, k, s, p)))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("k,s,p", CASES)
def test_conv2d_matches_direct_sum(xp_backend, lib, k, s, p):
    _, _, conv, _ = library(lib)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, k, k))
    y, _ = conv.conv2d(backend.to_device(x, "float64"), backend.to_device(w, "float64"), s, p)
    np.testing.assert_allclose(backend.to_numpy(y), naive_conv(x, w, s, p), atol=1e-10)


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("k,s,p", CASES)
def test_conv_transpose2d_matches_scatter(xp_backend, lib, k, s, p):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((4, 2, k, k))
    OH = (3 - 1) * s - 2 * p + k
    if OH < 1:
        pytest.skip("empty output")
    y = conv_transpose(lib, backend.to_device(x, "float64"), backend.to_device(w, "float64"), (OH, OH), s, p)
    np.testing.assert_allclose(backend.to_numpy(y), naive_conv_transpose(x, w, s, p), atol=1e-10)


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("k,s,p", CASES)
def test_adjoint_identity_conv_layers(xp_backend, lib, k, s, p):
    """<Conv2d(x), y> == <x, ConvTranspose2d(y)> when both layers share one weight and have no bias."""
    layers = library(lib)[0]
    rng = np.random.default_rng(4)
    conv = layers.Conv2d(3, 5, k, s, p, bias=False).astype(backend.xp().float64)
    convT = layers.ConvTranspose2d(5, 3, k, s, p, bias=False).astype(backend.xp().float64)
    convT.weight.data = conv.weight.data                       # (5, 3, k, k): same array
    x = rng.standard_normal((2, 3, 9, 9))
    cx = backend.to_numpy(conv.forward(backend.to_device(x, "float64")))
    y = rng.standard_normal(cx.shape)
    ty = backend.to_numpy(convT.forward(backend.to_device(y, "float64")))
    if ty.shape != x.shape:                                    # stride leaves a remainder: crop
        x = x[:, :, :ty.shape[2], :ty.shape[3]]
        cx = backend.to_numpy(conv.forward(backend.to_device(x, "float64")))
    lhs, rhs = np.sum(cx * y), np.sum(x * ty)
    print(f"<conv(x), y> = {lhs:.12f}   <x, convT(y)> = {rhs:.12f}")
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@pytest.mark.parametrize("lib", LIBRARIES)
def test_dcgan_shapes(xp_backend, lib):
    """(4, 1, 0) takes 1x1 to 4x4 and back; (4, 2, 1) doubles and halves."""
    nn = library(lib)[0]
    x = backend.to_device(np.zeros((2, 8, 1, 1)))
    up = nn.ConvTranspose2d(8, 4, 4, 1, 0)(x)
    assert tuple(up.shape) == (2, 4, 4, 4)
    up2 = nn.ConvTranspose2d(4, 2, 4, 2, 1)(up)
    assert tuple(up2.shape) == (2, 2, 8, 8)
    assert tuple(nn.Conv2d(2, 4, 4, 2, 1)(up2).shape) == (2, 4, 4, 4)
    assert tuple(nn.Conv2d(4, 1, 4, 1, 0)(up).shape) == (2, 1, 1, 1)


@pytest.mark.parametrize("shape,k,s,p", [((2, 3, 8, 8), 4, 2, 1), ((3, 2, 5, 7), 3, 1, 1), ((2, 2, 4, 4), 4, 1, 0),
                                         ((1, 4, 9, 9), 5, 3, 2)])
def test_im2col_by_windows_equals_the_loop_over_offsets(xp_backend, shape, k, s, p):
    """nn/fast/im2col.py: one copy of a view of sliding windows and its loop over offsets give identical columns."""
    from nn.fast import im2col as i2c
    x = backend.to_device(np.random.default_rng(0).standard_normal(shape))
    xpad = i2c.padded_chwn(x, p)
    loop = backend.to_numpy(i2c.im2col_by_offsets(xpad, k, k, s))
    windows = i2c.sliding_windows(backend.xp())
    if windows is None:
        pytest.skip(f"{xp_backend} has no sliding-window views: im2col uses the loop there")
    np.testing.assert_array_equal(backend.to_numpy(i2c.im2col_by_windows(xpad, k, k, s, windows)), loop)
    np.testing.assert_array_equal(backend.to_numpy(i2c.im2col(x, k, k, s, p)), loop)


def test_col2im_of_one_window_is_the_general_sum(xp_backend):
    """The shortcut for one window covering the whole image (4x4 kernel on a 4x4 image) puts column
    (c, i, j) of sample n on pixel (i, j) of channel c, and stays im2col's adjoint."""
    from nn.fast import im2col as i2c
    rng = np.random.default_rng(3)
    cols = backend.to_device(rng.standard_normal((2 * 4 * 4, 1 * 1 * 3)))
    fast = backend.to_numpy(i2c.col2im(cols, (3, 2, 4, 4), 4, 4, 1, 0))
    by_hand = np.transpose(backend.to_numpy(cols).reshape(2, 4, 4, 3), (3, 0, 1, 2))
    np.testing.assert_array_equal(fast, by_hand)
    # and the adjoint identity holds through it
    x = backend.to_device(rng.standard_normal((3, 2, 4, 4)))
    left = float(backend.xp().sum(i2c.im2col(x, 4, 4, 1, 0) * cols))
    assert abs(left - float(np.sum(backend.to_numpy(x) * fast))) < 1e-4


@pytest.mark.parametrize("shape,k,s,p", [((2, 3, 8, 8), 4, 2, 1), ((3, 2, 5, 7), 3, 1, 1), ((1, 4, 9, 9), 6, 3, 3),
                                         ((2, 2, 8, 6), 4, 2, 2), ((2, 2, 7, 7), 4, 2, 1), ((2, 2, 9, 8), 4, 2, 2)])
def test_col2im_by_phases_equals_the_loop_over_offsets(xp_backend, shape, k, s, p):
    """nn/fast/im2col.py: one add per group of s*s kernel offsets and its loop over offsets give the same image,
    bit for bit (each pixel receives the same additions in the same order). The fast path needs the
    stride to divide the padded image too: (7, 7) and (9, 8) take the loop inside col2im."""
    from nn.fast import im2col as i2c
    xp = backend.xp()
    N, C, H, W = shape
    OH, OW = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    cols = xp.reshape(backend.to_device(np.random.default_rng(1).standard_normal((C * k * k, OH * OW * N))),
                      (C, k, k, OH, OW, N))
    loop = xp.zeros((C, H + 2 * p, W + 2 * p, N), dtype=cols.dtype)
    i2c.col2im_by_offsets(cols, loop, s)
    if i2c.sliding_windows(xp) is None:
        pytest.skip(f"{xp_backend} has no views that write through: col2im uses the loop there")
    if all(n % s == 0 for n in (k, H + 2 * p, W + 2 * p)):
        phases = xp.zeros_like(loop)
        i2c.col2im_by_phases(cols, phases, s)
        np.testing.assert_array_equal(backend.to_numpy(phases), backend.to_numpy(loop))
    np.testing.assert_array_equal(backend.to_numpy(i2c.col2im(xp.reshape(cols, (C * k * k, -1)), shape, k, k, s, p)),
                                  np.transpose(backend.to_numpy(loop)[:, p:p + H, p:p + W, :], (3, 0, 1, 2)))
