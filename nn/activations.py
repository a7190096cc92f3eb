"""Element-wise activations. Each backward multiplies dy by the local derivative.

    ReLU        y = max(x, 0)                  dy/dx = [x > 0]
    LeakyReLU   y = x if x > 0 else a*x        dy/dx = 1 if x > 0 else a
    Tanh        y = tanh(x)                    dy/dx = 1 - y^2
    Sigmoid     y = 1 / (1 + exp(-x))          dy/dx = y (1 - y)

Tanh and Sigmoid keep their output, since the derivative is cheapest in terms of y.
"""
from . import backend
from .module import Module


def sigmoid(x):
    """Numerically stable logistic function: never evaluates exp of a large positive number."""
    xp = backend.xp()
    e = xp.exp(-xp.abs(x))                                   # in (0, 1], cannot overflow
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class ReLU(Module):
    def forward(self, x):
        mask = x > 0
        self._save(mask)
        return backend.xp().where(mask, x, 0.0)

    def backward(self, dy):
        (mask,) = self._pop()
        return backend.xp().where(mask, dy, 0.0)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        mask = x > 0
        self._save(mask)
        return backend.xp().where(mask, x, x * self.negative_slope)

    def backward(self, dy):
        (mask,) = self._pop()
        return backend.xp().where(mask, dy, dy * self.negative_slope)


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
