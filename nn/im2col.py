"""im2col and col2im: turning a convolution into one big matrix product.

A convolution with a (F, C, kh, kw) kernel computes, for every output pixel,
a dot product between the flattened kernel and the C*kh*kw input values the
kernel covers there. ``im2col`` gathers those values into the columns of a
matrix so that the whole convolution is one GEMM::

    cols = im2col(x)                   # (C*kh*kw, N*OH*OW)
    y    = w.reshape(F, C*kh*kw) @ cols  # (F, N*OH*OW)

``col2im`` is the adjoint (the transpose) of ``im2col``: it scatters columns
back to image positions and *adds* where windows overlap. It is what the
backward pass of a convolution, and the forward pass of a transposed
convolution, need.

Both loop over the kh*kw kernel positions only, never over pixels: for
kernel offset (i, j), the values it sees at every output pixel form one
strided slice of the padded input, ``xpad[:, :, i : i + s*OH : s, j : j + s*OW : s]``.

Layout: the columns are indexed (c, i, j) x (oh, ow, n), and the image is
handled as (C, H, W, N), batch innermost. Each kernel position then copies
one (C, OH, OW, N) block whose innermost runs are N contiguous values long
(in NCHW they would be OW values with a stride: 8 floats at stride 2), which
makes im2col about 1.5x and col2im about 2x faster in NumPy. The GEMM's
output, (F, OH*OW*N), is in the same layout, so a network of these layers
hands the next one its input without any transposed copy: an NCHW array
whose memory is CHWN is just a permuted view.
"""
from . import backend


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * pad - k) // stride + 1


def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) image -> (C*kh*kw, OH*OW*N) columns.

    Column (oh, ow, n) holds the C*kh*kw values under the kernel when its
    top-left corner sits at (oh*stride - pad, ow*stride - pad); outside the
    image the value is 0 (zero padding).
    """
    xp = backend.xp()
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    xc = xp.permute_dims(x, (1, 2, 3, 0))                          # (C, H, W, N) view
    if pad:
        xpad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=x.dtype)
        xpad[:, pad:pad + H, pad:pad + W, :] = xc
    else:
        xpad = xc
    cols = xp.empty((C, kh, kw, OH, OW, N), dtype=x.dtype)
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            cols[:, i, j, :, :, :] = xpad[:, i:i_end:stride, j:j_end:stride, :]
    return xp.reshape(cols, (C * kh * kw, OH * OW * N))


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """(C*kh*kw, OH*OW*N) columns -> (N, C, H, W) image, summing overlapping windows.

    The exact adjoint of ``im2col``: <im2col(x), cols> == <x, col2im(cols)>
    for every x and cols. Values that fall on the zero padding are dropped.
    """
    xp = backend.xp()
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = xp.reshape(cols, (C, kh, kw, OH, OW, N))
    xpad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=cols.dtype)
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            xpad[:, i:i_end:stride, j:j_end:stride, :] += cols[:, i, j, :, :, :]
    x = xpad[:, pad:pad + H, pad:pad + W, :]                         # (C, H, W, N)
    return xp.permute_dims(x, (3, 0, 1, 2))                          # (N, C, H, W) view
