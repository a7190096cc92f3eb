"""Conv2d and ConvTranspose2d, each other's backward pass.

Shapes (NCHW):  x (N, C, H, W),  w (F, C, kh, kw),  y (N, F, OH, OW),
OH = floor((H + 2p - kh) / s) + 1.

The convolution as a matrix product (see ``im2col.py``)::

    cols = im2col(x)                          # (C*kh*kw, N*OH*OW)
    y2   = W @ cols,  W = w.reshape(F, -1)    # (F, N*OH*OW): y, one row per output channel

Its backward, with dy2 = dy arranged the same way, (F, N*OH*OW). Since
y2 = W @ cols is a matrix product, its two gradients are matrix products::

    dW    = dy2 @ cols.T                      # (F, C*kh*kw): the weight gradient
    dcols = W.T @ dy2                         # (C*kh*kw, N*OH*OW)
    dx    = col2im(dcols)                     # scatter back, adding where windows overlap

``col2im(W.T @ dy2)`` is exactly the *transposed* convolution of dy with
the same kernel: the adjoint of the convolution. So two functions serve
both layers, each one's forward the other's backward:

* ``conv2d(x, w)``           = W @ im2col(x)     (Conv2d forward, ConvTranspose2d backward)
* ``conv_transpose2d(x, w)`` = col2im(W.T @ x2)  (ConvTranspose2d forward, Conv2d backward)

A transposed convolution's weight is stored as (C_in, C_out, kh, kw), as in
PyTorch, which is the shape of the convolution it is the adjoint of
(C_out -> C_in). Its output size is (H - 1)*s - 2p + kh, e.g. 4 -> 8 for the
DCGAN (4, 2, 1) layers and 1 -> 4 for (4, 1, 0). And its weight gradient is
the convolution's with the roles of x and dy swapped: dW = x2 @ im2col(dy).T.

(``nn/fast/conv.py`` computes the same without the layout copies, for the GPU.)
"""
from . import backend
from .im2col import col2im, conv_output_size, im2col
from .init import xavier_uniform
from .module import Module, Parameter


def rows(a):
    """(N, C, H, W) -> (C, N*H*W): one row per channel, the layout of the GEMMs' operands."""
    xp = backend.xp()
    N, C, H, W = a.shape
    return xp.reshape(xp.permute_dims(a, (1, 0, 2, 3)), (C, N * H * W))


def conv2d(x, w, stride=1, pad=0):
    """Cross-correlate x (N, C, H, W) with w (F, C, kh, kw): y (N, F, OH, OW), and the columns of x."""
    xp = backend.xp()
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)                       # (C*kh*kw, N*OH*OW)
    y2 = xp.reshape(w, (F, C * kh * kw)) @ cols                 # (F, N*OH*OW)
    y = xp.permute_dims(xp.reshape(y2, (F, N, OH, OW)), (1, 0, 2, 3))
    return y, cols


def conv_transpose2d(x, w, out_hw, stride=1, pad=0):
    """The adjoint of ``conv2d`` with kernel w (F, C, kh, kw): x (N, F, h, w) -> (N, C, *out_hw).

    <conv2d(a, w), b> == <a, conv_transpose2d(b, w)> for all a, b.
    """
    xp = backend.xp()
    F, C, kh, kw = w.shape
    cols = xp.reshape(w, (F, C * kh * kw)).T @ rows(x)          # (C*kh*kw, N*h*w)
    return col2im(cols, (x.shape[0], C, *out_hw), kh, kw, stride, pad)


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
        if self.weight.requires_grad:
            dW = rows(dy) @ cols.T                                      # (F, C*kh*kw)
            self.weight.accumulate(xp.reshape(dW, self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=(0, 2, 3)))
        if not self.needs_input_grad:
            return None
        return conv_transpose2d(dy, self.weight.data, x_shape[2:], self.stride, self.padding)


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
        out_hw = (self.output_size(x.shape[2]), self.output_size(x.shape[3]))
        y = conv_transpose2d(x, self.weight.data, out_hw, self.stride, self.padding)
        if self.bias is not None:
            y = y + backend.xp().reshape(self.bias.data, (1, -1, 1, 1))
        self._save(x)
        return y

    def backward(self, dy):
        xp = backend.xp()
        (x,) = self._pop()
        k, s, p = self.kernel_size, self.stride, self.padding
        if self.needs_input_grad:
            dx, cols = conv2d(dy, self.weight.data, s, p)               # dx: the convolution of dy
        else:
            dx, cols = None, im2col(dy, k, k, s, p)                     # only dy's columns, for dW
        if self.weight.requires_grad:
            dW = rows(x) @ cols.T                                       # (Cin, Cout*k*k)
            self.weight.accumulate(xp.reshape(dW, self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=(0, 2, 3)))
        return dx
