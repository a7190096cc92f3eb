"""Element-wise activations. Each backward multiplies dy by the local derivative.

    ReLU        y = max(x, 0)                  dy/dx = [x > 0]
    LeakyReLU   y = x if x > 0 else a*x        dy/dx = 1 if x > 0 else a
    Tanh        y = tanh(x)                    dy/dx = 1 - y^2
    Sigmoid     y = 1 / (1 + exp(-x))          dy/dx = y (1 - y)

ReLU and LeakyReLU are piecewise linear through 0, so y = x * f'(x): the
forward computes the local derivative d once (for LeakyReLU,
d = a + (1 - a) [x > 0], with [x > 0] 1.0 or 0.0 in x's dtype), and the
backward is a single multiply, dx = dy * d.
Tanh and Sigmoid keep their output, since the derivative is cheapest in terms of y.

The logistic function, without overflow for any x: with
softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|),

    sigmoid(x) = e^x / (1 + e^x) = exp(x - softplus(x)) = exp(min(x, 0) - log(1 + e^-|x|))

where no exponential ever sees a positive argument.

Each element-wise chain is one ``@fused`` function: one GPU kernel on CuPy.
"""
from . import backend
from .fuse import fused
from .module import Module


@fused
def sigmoid(x):
    """Numerically stable logistic function: never evaluates exp of a positive number."""
    xp = backend.xp()
    return xp.exp(xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x))))


def is_positive(x):
    """[x > 0] in x's dtype: 1.0 where x > 0, else 0.0 (NaN stays NaN)."""
    xp = backend.xp()
    return xp.ceil(xp.clip(x, 0.0, 1.0))     # not astype(x > 0, x.dtype): CuPy cannot fuse astype


@fused
def relu(x):
    """(y, d): d = [x > 0], y = x * d."""
    d = is_positive(x)
    return x * d, d


@fused
def leaky_relu(x, a):
    """(y, d): d = 1 where x > 0, else a; y = x * d."""
    d = a + (1.0 - a) * is_positive(x)
    return x * d, d


@fused
def times_derivative(dy, d):
    return dy * d


@fused
def times_tanh_derivative(dy, y):
    return dy * (1.0 - y * y)


@fused
def times_sigmoid_derivative(dy, y):
    return dy * y * (1.0 - y)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        a = self.negative_slope
        y, d = leaky_relu(x, a) if a else relu(x)
        self._save(d)
        return y

    def backward(self, dy):
        (d,) = self._pop()
        return times_derivative(dy, d)


class ReLU(LeakyReLU):
    """LeakyReLU with slope 0: y = max(x, 0)."""

    def __init__(self):
        super().__init__(0.0)

    def extra_repr(self):
        return ""


class Tanh(Module):
    def forward(self, x):
        y = backend.xp().tanh(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._pop()
        return times_tanh_derivative(dy, y)


class Sigmoid(Module):
    def forward(self, x):
        y = sigmoid(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._pop()
        return times_sigmoid_derivative(dy, y)
