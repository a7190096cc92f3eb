"""Element-wise activations. Each backward multiplies dy by the local derivative.

    ReLU        y = max(x, 0)                  dy/dx = [x > 0]
    LeakyReLU   y = x if x > 0 else a*x        dy/dx = 1 if x > 0 else a
    Tanh        y = tanh(x)                    dy/dx = 1 - y^2
    Sigmoid     y = 1 / (1 + exp(-x))          dy/dx = y (1 - y)

ReLU and LeakyReLU are piecewise linear through 0, so y = x * f'(x): the
forward computes the local derivative d (1 or a, as an array of x's dtype)
once, and the backward is a single multiply, dx = dy * d. (This is also
several times faster in NumPy than ``where(x > 0, x, a*x)``.)
Tanh and Sigmoid keep their output, since the derivative is cheapest in terms of y.
"""
from . import backend
from .module import Module


def sigmoid(x):
    """Numerically stable logistic function: never evaluates exp of a large positive number."""
    xp = backend.xp()
    e = xp.exp(-xp.abs(x))                                   # in (0, 1], cannot overflow
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        xp = backend.xp()
        a = self.negative_slope
        d = xp.astype(x > 0, x.dtype)              # 1 where x > 0, else 0
        if a:
            d *= 1.0 - a                           # in place (d is ours): 1 where x > 0, else a
            d += a
        self._save(d)
        return x * d

    def backward(self, dy):
        (d,) = self._pop()
        return dy * d


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
        return dy * (1.0 - y * y)


class Sigmoid(Module):
    def forward(self, x):
        y = sigmoid(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._pop()
        return dy * y * (1.0 - y)
