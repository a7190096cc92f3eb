"""Conv2d and ConvTranspose2d, each other's backward pass.

Shapes (NCHW):  x (N, C, H, W),  w (F, C, kh, kw),  y (N, F, OH, OW),
OH = floor((H + 2p - kh) / s) + 1.

The convolution as a matrix product (see ``im2col.py``)::

    cols = im2col(x)                          # (C*kh*kw, OH*OW*N)
    y2   = W @ cols,  W = w.reshape(F, -1)    # (F, OH*OW*N)

Its backward, with dy2 = dy arranged as (F, OH*OW*N)::

    dW    = dy2 @ cols.T                      # the weight gradient: one GEMM
    dcols = W.T @ dy2                         # (C*kh*kw, OH*OW*N)
    dx    = col2im(dcols)                     # scatter back, summing overlaps

``W.T @ dy2`` followed by col2im is exactly the *transposed* convolution of
dy with the same kernel. So the two layers share two functions:

* ``conv2d(x, w)``           = GEMM(im2col(x))   (Conv2d forward, ConvTranspose2d backward)
* ``conv_transpose2d(x, w)`` = col2im(GEMM(x))   (ConvTranspose2d forward, Conv2d backward)

A transposed convolution's weight is stored as (C_in, C_out, kh, kw), as in
PyTorch, which is the shape of the convolution it is the adjoint of
(C_out -> C_in). Its output size is (H - 1)*s - 2p + kh, e.g. 4 -> 8 for the
DCGAN (4, 2, 1) layers and 1 -> 4 for (4, 1, 0).
"""
from . import backend
from .im2col import col2im, conv_output_size, im2col
from .init import xavier_uniform
from .module import Module, Parameter


def _channels_first(a):
    """(N, C, H, W) -> (C, H*W*N), the layout the GEMMs use (free when a's memory is already CHWN)."""
    xp = backend.xp()
    N, C, H, W = a.shape
    return xp.reshape(xp.permute_dims(a, (1, 2, 3, 0)), (C, H * W * N))


def conv2d(x, w, stride=1, pad=0):
    """Cross-correlate x (N, C, H, W) with w (F, C, kh, kw). Returns y (N, F, OH, OW) and cols."""
    xp = backend.xp()
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)                       # (C*kh*kw, OH*OW*N)
    y = xp.matmul(xp.reshape(w, (F, C * kh * kw)), cols)        # (F, OH*OW*N)
    y = xp.permute_dims(xp.reshape(y, (F, OH, OW, N)), (3, 0, 1, 2))   # NCHW view of CHWN memory
    return y, cols


def conv_transpose2d(x, w, out_hw, stride=1, pad=0):
    """The adjoint of ``conv2d`` with kernel w (F, C, kh, kw): x (N, F, h, w) -> (N, C, *out_hw).

    <conv2d(a, w), b> == <a, conv_transpose2d(b, w)> for all a, b.
    """
    return conv_transpose2d_cf(_channels_first(x), x.shape[0], w, out_hw, stride, pad)


def conv_transpose2d_cf(x2, n, w, out_hw, stride=1, pad=0):
    """``conv_transpose2d`` of a batch of n given as x2 = (F, h*w*N), the layout the GEMM reads
    (for callers that already made it: each such copy is a kernel on a GPU)."""
    xp = backend.xp()
    F, C, kh, kw = w.shape
    cols = xp.matmul(xp.matrix_transpose(xp.reshape(w, (F, C * kh * kw))), x2)   # (C*kh*kw, h*w*N)
    return col2im(cols, (n, C, *out_hw), kh, kw, stride, pad)


class Conv2d(Module):
    """2-D convolution (cross-correlation), NCHW, weight (out, in, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        k = kernel_size
        self.stride, self.padding, self.kernel_size = stride, padding, k
        self.weight = Parameter(xavier_uniform((out_channels, in_channels, k, k)))
        self.bias = Parameter(backend.xp().zeros(out_channels, dtype=backend.float_dtype())) if bias else None

    def extra_repr(self):
        F, C, k, _ = self.weight.shape
        return f"{C}, {F}, kernel_size={k}, stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"

    def forward(self, x):
        y, cols = conv2d(x, self.weight.data, self.stride, self.padding)   # (N, F, OH, OW)
        if self.bias is not None:
            y = y + backend.xp().reshape(self.bias.data, (1, -1, 1, 1))
        self._save(x.shape, cols)
        return y

    def backward(self, dy):
        xp = backend.xp()
        x_shape, cols = self._pop()
        dy2 = _channels_first(dy)                                      # (F, OH*OW*N)
        if self.weight.requires_grad:
            self.weight.accumulate(xp.reshape(xp.matmul(dy2, xp.matrix_transpose(cols)), self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy2, axis=1))
        if not self.needs_input_grad:
            return None
        return conv_transpose2d_cf(dy2, dy.shape[0], self.weight.data, x_shape[2:], self.stride, self.padding)


class ConvTranspose2d(Module):
    """2-D transposed ("fractionally strided") convolution, weight (in, out, kh, kw).

    Forward is the adjoint of Conv2d: out = (H - 1)*stride - 2*padding + kernel_size.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        k = kernel_size
        self.stride, self.padding, self.kernel_size = stride, padding, k
        self.weight = Parameter(xavier_uniform((in_channels, out_channels, k, k)))
        self.bias = Parameter(backend.xp().zeros(out_channels, dtype=backend.float_dtype())) if bias else None

    def extra_repr(self):
        C, F, k, _ = self.weight.shape
        return f"{C}, {F}, kernel_size={k}, stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"

    def output_size(self, size):
        return (size - 1) * self.stride - 2 * self.padding + self.kernel_size

    def forward(self, x):
        xp = backend.xp()
        out_hw = (self.output_size(x.shape[2]), self.output_size(x.shape[3]))
        x2 = _channels_first(x)                                        # (Cin, h*w*N), kept for dW
        y = conv_transpose2d_cf(x2, x.shape[0], self.weight.data, out_hw, self.stride, self.padding)
        if self.bias is not None:
            y = y + xp.reshape(self.bias.data, (1, -1, 1, 1))
        self._save(x2)
        return y

    def backward(self, dy):
        xp = backend.xp()
        (x2,) = self._pop()
        k, s, p = self.kernel_size, self.stride, self.padding
        dx = cols = None
        if self.needs_input_grad:
            # dx is the ordinary convolution of dy; its im2col columns give dW too.
            dx, cols = conv2d(dy, self.weight.data, s, p)                  # cols (Cout*k*k, H*W*N)
        if self.weight.requires_grad:
            if cols is None:
                cols = im2col(dy, k, k, s, p)
            self.weight.accumulate(xp.reshape(xp.matmul(x2, xp.matrix_transpose(cols)),
                                              self.weight.shape))          # (Cin, Cout*k*k)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=(0, 2, 3)))
        return dx
