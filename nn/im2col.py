"""im2col and col2im: turning a convolution into one big matrix product.

A convolution with a (F, C, kh, kw) kernel computes, for every output pixel,
a dot product between the flattened kernel and the C*kh*kw input values the
kernel covers there. ``im2col`` gathers those values into the columns of a
matrix so that the whole convolution is one GEMM::

    cols = im2col(x)                     # (C*kh*kw, N*OH*OW)
    y    = w.reshape(F, C*kh*kw) @ cols  # (F, N*OH*OW)

Row (c, i, j) of the columns is input channel c seen through kernel offset
(i, j); column (n, oh, ow) is one output pixel of one image. Both functions
loop over the kh*kw kernel offsets only, never over pixels: for offset
(i, j), the input pixel under it at output pixel (oh, ow) is
(s*oh + i, s*ow + j), so across all output pixels it sees one strided slice
of the zero-padded image, kept channels first, (C, N, H + 2p, W + 2p), as
the columns' rows are::

    xpad[:, :, i : i + s*(OH-1) + 1 : s,  j : j + s*(OW-1) + 1 : s]      # (C, N, OH, OW)

``col2im`` is the adjoint (the transpose) of ``im2col``: it puts each
column's values back where im2col took them from and *adds* where windows
overlap (a pixel under several windows gets the sum of their gradients).
It is what the backward pass of a convolution, and the forward pass of a
transposed convolution, need. The adjoint identity, tested for every
shape DCGAN uses (``tests/test_conv_identities.py``)::

    <im2col(x), cols> == <x, col2im(cols)>      for every x and cols

(``nn/fast/im2col.py`` computes the same in the layout a GPU reads fastest.)
"""
from . import backend


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * pad - k) // stride + 1


def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) image -> (C*kh*kw, N*OH*OW) columns; outside the image the values are 0 (padding)."""
    xp = backend.xp()
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    xpad = xp.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=x.dtype)     # channels first, as the rows are
    xpad[:, :, pad:pad + H, pad:pad + W] = xp.permute_dims(x, (1, 0, 2, 3))
    cols = xp.empty((C, kh, kw, N, OH, OW), dtype=x.dtype)
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            cols[:, i, j, :, :, :] = xpad[:, :, i:i_end:stride, j:j_end:stride]     # (C, N, OH, OW)
    return xp.reshape(cols, (C * kh * kw, N * OH * OW))


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """(C*kh*kw, N*OH*OW) columns -> (N, C, H, W) image, adding where windows overlap.

    The exact adjoint of ``im2col``: every value goes back to the pixel im2col
    took it from; values that land on the zero padding are dropped.
    """
    xp = backend.xp()
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = xp.reshape(cols, (C, kh, kw, N, OH, OW))
    xpad = xp.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)   # channels first, as the rows are
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            window = xpad[:, :, i:i_end:stride, j:j_end:stride]                # (C, N, OH, OW): a view of xpad
            window += cols[:, i, j, :, :, :]                                   # add: windows overlap
    return xp.permute_dims(xpad[:, :, pad:pad + H, pad:pad + W], (1, 0, 2, 3))    # (N, C, H, W)
