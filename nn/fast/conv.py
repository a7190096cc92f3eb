"""Conv2d and ConvTranspose2d, fast: ``nn/conv.py``'s maths without a single layout copy.

The readable layers arrange each operand of a GEMM as (C, N*H*W) with a
transposed copy (``nn.conv.rows``) and hand NCHW arrays on. Here the images
live in (C, H, W, N) memory, batch innermost (``nn/fast/im2col.py``): the
GEMM's output (F, OH*OW*N) *is* the next layer's input, seen as an NCHW view,
and a gradient arriving as such a view is already (F, OH*OW*N). On a GPU each
copy saved is a kernel launch saved; on the CPU im2col and col2im run about
1.5x and 2x faster in this layout.

Same interfaces, same parameters and the same values as ``nn.Conv2d`` and
``nn.ConvTranspose2d`` (``tests/test_fast_layers.py``): these are their
subclasses, only ``forward`` and ``backward`` differ.
"""
from .. import backend, conv
from ..im2col import conv_output_size
from .im2col import col2im, im2col


def channels_first(a):
    """(N, C, H, W) -> (C, H*W*N), the layout the GEMMs use (free when a's memory is already CHWN)."""
    xp = backend.xp()
    N, C, H, W = a.shape
    return xp.reshape(xp.permute_dims(a, (1, 2, 3, 0)), (C, H * W * N))


def conv2d(x, w, stride=1, pad=0):
    """``nn.conv.conv2d``: y (N, F, OH, OW), an NCHW view of CHWN memory, and the columns (C*kh*kw, OH*OW*N)."""
    xp = backend.xp()
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)                       # (C*kh*kw, OH*OW*N)
    y = xp.reshape(w, (F, C * kh * kw)) @ cols                  # (F, OH*OW*N)
    y = xp.permute_dims(xp.reshape(y, (F, OH, OW, N)), (3, 0, 1, 2))   # NCHW view of CHWN memory
    return y, cols


def conv_transpose2d(x2, n, w, out_hw, stride=1, pad=0):
    """``nn.conv.conv_transpose2d`` of a batch of n given as x2 = (F, h*w*N), the layout the GEMM reads."""
    F, C, kh, kw = w.shape
    cols = backend.xp().reshape(w, (F, C * kh * kw)).T @ x2     # (C*kh*kw, h*w*N)
    return col2im(cols, (n, C, *out_hw), kh, kw, stride, pad)


class Conv2d(conv.Conv2d):
    __doc__ = conv.Conv2d.__doc__

    def forward(self, x):
        y, cols = conv2d(x, self.weight.data, self.stride, self.padding)   # (N, F, OH, OW)
        if self.bias is not None:
            y = y + backend.xp().reshape(self.bias.data, (1, -1, 1, 1))
        self._save(x.shape, cols)
        return y

    def backward(self, dy):
        xp = backend.xp()
        x_shape, cols = self._pop()
        dy2 = channels_first(dy)                                       # (F, OH*OW*N)
        if self.weight.requires_grad:
            self.weight.accumulate(xp.reshape(dy2 @ cols.T, self.weight.shape))
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy2, axis=1))
        if not self.needs_input_grad:
            return None
        return conv_transpose2d(dy2, dy.shape[0], self.weight.data, x_shape[2:], self.stride, self.padding)


class ConvTranspose2d(conv.ConvTranspose2d):
    __doc__ = conv.ConvTranspose2d.__doc__

    def forward(self, x):
        out_hw = (self.output_size(x.shape[2]), self.output_size(x.shape[3]))
        x2 = channels_first(x)                                         # (Cin, h*w*N), kept for dW
        y = conv_transpose2d(x2, x.shape[0], self.weight.data, out_hw, self.stride, self.padding)
        if self.bias is not None:
            y = y + backend.xp().reshape(self.bias.data, (1, -1, 1, 1))
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
            self.weight.accumulate(xp.reshape(x2 @ cols.T, self.weight.shape))   # (Cin, Cout*k*k)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=(0, 2, 3)))
        return dx
