"""Element-wise activations. Each backward multiplies dy by the local derivative.

    ReLU        y = max(x, 0)                  dy/dx = [x > 0]
    LeakyReLU   y = x if x > 0 else a*x        dy/dx = 1 if x > 0 else a
    Tanh        y = tanh(x)                    dy/dx = 1 - y^2
    Sigmoid     y = 1 / (1 + exp(-x))          dy/dx = y (1 - y)

ReLU and LeakyReLU keep their input, to know where x > 0; Tanh and Sigmoid
keep their output, since their derivative is cheapest in terms of y.

The logistic function, without overflow for any x: with
softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|),

    sigmoid(x) = e^x / (1 + e^x) = exp(x - softplus(x)) = exp(min(x, 0) - log(1 + e^-|x|))

where no exponential ever sees a positive argument.

(``nn/fast/activations.py``: the same, each chain one GPU kernel.)
"""
from . import backend
from .module import Module


def sigmoid(x):
    """Numerically stable logistic function: never evaluates exp of a positive number."""
    xp = backend.xp()
    return xp.exp(xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x))))


class ReLU(Module):
    def forward(self, x):
        self._save(x)
        return backend.xp().maximum(x, 0.0)

    def backward(self, dy):
        (x,) = self._pop()
        return backend.xp().where(x > 0, dy, 0.0)                  # dy * [x > 0]


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        self._save(x)
        return backend.xp().where(x > 0, x, self.negative_slope * x)

    def backward(self, dy):
        (x,) = self._pop()
        return backend.xp().where(x > 0, dy, self.negative_slope * dy)


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
