"""Activations, fast: ``nn/activations.py``'s layers, each element-wise chain one ``@fused`` GPU kernel.

The same lines as the readable layers, each chain one kernel: the forward
computes the local derivative d and y in one kernel, the backward
dx = dy * d in another. [x > 0] is written ceil(clip(x, 0, 1)) here, because
CuPy cannot fuse ``astype``.

With numba on NumPy, ReLU, LeakyReLU and the backward passes run as its
compiled loops instead (``cpu_kernels.py``): the same values.

Same interfaces and values as the readable layers (``tests/test_fast_layers.py``):
their subclasses, only ``forward`` and ``backward`` differ.
"""
from .. import activations, backend
from .fuse import fused


@fused
def sigmoid(x):
    """``nn.activations.sigmoid`` as one kernel."""
    return activations.sigmoid(x)


def is_positive(x):
    """[x > 0] in x's dtype: 1.0 where x > 0, else 0.0 (NaN stays NaN)."""
    xp = backend.xp()
    return xp.ceil(xp.clip(x, 0.0, 1.0))     # not astype(x > 0, x.dtype): CuPy cannot fuse astype


@fused.with_cpu("relu")
def relu(x):
    """(y, d): d = [x > 0], y = x * d."""
    d = is_positive(x)
    return x * d, d


@fused.with_cpu("leaky_relu")
def leaky_relu(x, a):
    """(y, d): d = 1 where x > 0, else a; y = x * d."""
    d = a + (1.0 - a) * is_positive(x)
    return x * d, d


@fused.with_cpu("times_derivative")
def times_derivative(dy, d):
    return dy * d


@fused.with_cpu("times_tanh_derivative")
def times_tanh_derivative(dy, y):
    return dy * (1.0 - y * y)


@fused
def times_sigmoid_derivative(dy, y):
    return dy * y * (1.0 - y)


class ReLU(activations.ReLU):
    def forward(self, x):
        y, d = relu(x)
        self._save(d)
        return y

    def backward(self, dy):
        (d,) = self._pop()
        return times_derivative(dy, d)


class LeakyReLU(activations.LeakyReLU):
    def forward(self, x):
        y, d = leaky_relu(x, self.negative_slope)
        self._save(d)
        return y

    def backward(self, dy):
        (d,) = self._pop()
        return times_derivative(dy, d)


class Tanh(activations.Tanh):
    def backward(self, dy):
        (y,) = self._pop()
        return times_tanh_derivative(dy, y)


class Sigmoid(activations.Sigmoid):
    def forward(self, x):
        y = sigmoid(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._pop()
        return times_sigmoid_derivative(dy, y)
