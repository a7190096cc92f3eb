"""im2col and col2im, fast: the readable ones of ``nn/im2col.py`` in the layout the GPU (and the CPU) reads fastest.

The same columns and the same adjoint as ``nn/im2col.py`` (tested equal in
``tests/test_fast_layers.py``), computed three ways faster:

Layout. The columns are indexed (c, i, j) x (oh, ow, n), and the image is
handled as (C, H, W, N), batch innermost. Each kernel position then copies
one (C, OH, OW, N) block whose innermost runs are N contiguous values long
(in NCHW they would be OW values with a stride: 8 floats at stride 2), which
makes im2col about 1.5x and col2im about 2x faster in NumPy. The GEMM's
output, (F, OH*OW*N), is in the same layout, so a network of these layers
hands the next one its input without any transposed copy: an NCHW array
whose memory is CHWN is just a permuted view (``nn/fast/conv.py``).

Windows. On NumPy and CuPy all kh*kw strided slices are one view, the
sliding windows of the image, so im2col is a single copy
(``im2col_by_windows``) instead of kh*kw (``im2col_by_offsets``, the
readable loop, for backends without such views).

Phases. col2im adds s*s kernel offsets at once when the stride s divides the
kernel and the padded image (DCGAN's (4, 2, 1) layers): 4 adds instead of 16
(``col2im_by_phases``); ``col2im_by_offsets`` otherwise. And a window that
covers the whole image (the 1x1 <-> 4x4 layers) needs no adds at all.

With numba on NumPy (``cpu_kernels.py``), both are one parallel loop: im2col
copies each window straight from the image (no padded copy first), col2im
gathers each pixel's sum once into a contiguous image (no padded image, and
the layers after it get contiguous arrays).
"""
from .. import backend
from ..im2col import conv_output_size
from . import cpu_kernels



def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) image -> (C*kh*kw, OH*OW*N) columns: ``nn.im2col.im2col``'s columns, ordered
    (oh, ow, n) instead of (n, oh, ow)."""
    compiled = cpu_kernels.im2col(x, kh, kw, stride, pad)           # numba, where it runs: one parallel copy
    if compiled is not None:
        return compiled
    xpad = padded_chwn(x, pad)                                           # (C, H + 2p, W + 2p, N)
    windows = sliding_windows(backend.xp())
    if windows is not None:
        return im2col_by_windows(xpad, kh, kw, stride, windows)
    return im2col_by_offsets(xpad, kh, kw, stride)


def padded_chwn(x, pad):
    """(N, C, H, W) -> the (C, H + 2p, W + 2p, N) zero-padded image (a view of x when pad is 0)."""
    xp = backend.xp()
    N, C, H, W = x.shape
    xc = xp.permute_dims(x, (1, 2, 3, 0))                          # (C, H, W, N) view
    if not pad:
        return xc
    xpad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=x.dtype)
    xpad[:, pad:pad + H, pad:pad + W, :] = xc
    return xpad


def sliding_windows(xp):
    """``xp.lib.stride_tricks.sliding_window_view`` where the backend has it (NumPy, CuPy: backends
    whose slices and reshapes are views that write through), else None."""
    return getattr(getattr(getattr(xp, "lib", None), "stride_tricks", None), "sliding_window_view", None)


def im2col_by_offsets(xpad, kh, kw, stride):
    """The readable im2col: one strided slice of the padded (C, Hp, Wp, N) image per kernel offset."""
    xp = backend.xp()
    C, Hp, Wp, N = xpad.shape
    OH, OW = conv_output_size(Hp, kh, stride, 0), conv_output_size(Wp, kw, stride, 0)
    cols = xp.empty((C, kh, kw, OH, OW, N), dtype=xpad.dtype)
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            cols[:, i, j, :, :, :] = xpad[:, i:i_end:stride, j:j_end:stride, :]
    return xp.reshape(cols, (C * kh * kw, OH * OW * N))


def im2col_by_windows(xpad, kh, kw, stride, sliding_window_view):
    """The same columns as one copy: the kh x kw windows at every position of the padded image are
    one view, the kernel visits every stride-th of them, and with the kernel axes first the view
    reshapes into the columns."""
    xp = backend.xp()
    windows = sliding_window_view(xpad, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]   # (C, OH, OW, N, kh, kw)
    C, OH, OW, N = windows.shape[:4]
    cols = xp.permute_dims(windows, (0, 4, 5, 1, 2, 3))                                # (C, kh, kw, OH, OW, N)
    return xp.reshape(cols, (C * kh * kw, OH * OW * N))                                # the one copy


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """(C*kh*kw, OH*OW*N) columns -> (N, C, H, W) image, summing overlapping windows.

    The exact adjoint of ``im2col``: <im2col(x), cols> == <x, col2im(cols)>
    for every x and cols. Values that fall on the zero padding are dropped.

    Where the backend has views and the stride divides the kernel and the padded image (DCGAN's
    (4, 2, 1) layers), the kh*kw window adds become (kh/s)*(kw/s) adds
    (``col2im_by_phases``: 4 instead of 16); elsewhere the readable loop over
    kernel offsets (``col2im_by_offsets``) does it. Both give the same image.
    """
    xp = backend.xp()
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    if (OH, OW, pad, H, W) == (1, 1, 0, kh, kw):
        # One window covering the whole image (DCGAN's 1x1 <-> 4x4 layers): nothing overlaps,
        # the columns already are the image: (C*kh*kw, N) is (C, H, W, N).
        return xp.permute_dims(xp.reshape(cols, (C, H, W, N)), (3, 0, 1, 2))
    compiled = cpu_kernels.col2im(cols, x_shape, kh, kw, stride, pad)   # numba, where it runs: each pixel gathered once
    if compiled is not None:
        return compiled
    cols = xp.reshape(cols, (C, kh, kw, OH, OW, N))
    xpad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=cols.dtype)
    if sliding_windows(xp) is not None and all(n % stride == 0 for n in (kh, kw, *xpad.shape[1:3])):
        col2im_by_phases(cols, xpad, stride)
    else:
        col2im_by_offsets(cols, xpad, stride)
    x = xpad[:, pad:pad + H, pad:pad + W, :]                         # (C, H, W, N)
    return xp.permute_dims(x, (3, 0, 1, 2))                          # (N, C, H, W) view


def col2im_by_offsets(cols, xpad, stride):
    """The readable col2im: add the (C, kh, kw, OH, OW, N) columns of each kernel offset into
    its window of the zero (C, Hp, Wp, N) image, one offset at a time."""
    C, kh, kw, OH, OW, N = cols.shape
    for i in range(kh):
        i_end = i + stride * (OH - 1) + 1
        for j in range(kw):
            j_end = j + stride * (OW - 1) + 1
            window = xpad[:, i:i_end:stride, j:j_end:stride, :]        # a view into xpad
            window += cols[:, i, j, :, :, :]                           # adds in place: one kernel, no write-back


def col2im_by_phases(cols, xpad, s):
    """The same sum in (kh/s)*(kw/s) adds, when the stride s divides the kernel and the padded image.

    Write the kernel offset as i = s*q + r (0 <= r < s) and the padded row as
    s*M + r: offset i at output row oh lands on row i + s*oh = s*(q + oh) + r.
    So, viewing the image as (C, M, r, M', r', N), the offsets that share q
    (and q') add into one block, M = q .. q + OH - 1, for all r at once, and
    no two of them land on the same pixel: one add per (q, q').
    """
    xp = backend.xp()
    C, kh, kw, OH, OW, N = cols.shape
    qh, qw = kh // s, kw // s
    _, Hp, Wp, _ = xpad.shape
    phases = xp.reshape(xpad, (C, Hp // s, s, Wp // s, s, N))        # padded row s*M + r: a view of xpad
    for q in range(qh):
        for q2 in range(qw):
            block = cols[:, q * s:(q + 1) * s, q2 * s:(q2 + 1) * s, :, :, :]   # (C, r, r', OH, OW, N)
            target = phases[:, q:q + OH, :, q2:q2 + OW, :, :]                 # (C, OH, r, OW, r', N) view
            target += xp.permute_dims(block, (0, 3, 1, 4, 2, 5))              # one add for s*s offsets
