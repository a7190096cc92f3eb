"""Element-wise activations. Each backward multiplies dy by the local derivative.

    ReLU        y = max(x, 0)                  dy/dx = [x > 0]
    LeakyReLU   y = x if x > 0 else a*x        dy/dx = 1 if x > 0 else a
    Tanh        y = tanh(x)                    dy/dx = 1 - y^2
    Sigmoid     y = 1 / (1 + exp(-x))          dy/dx = y (1 - y)

ReLU and LeakyReLU compute their derivative d in the forward pass and keep
it ([x > 0] is 1.0 where x > 0, else 0.0, in x's dtype); being piecewise
linear through 0, LeakyReLU's output is then simply y = d * x. Tanh and
Sigmoid keep their output, since their derivative is cheapest in terms of y.

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


def is_positive(x):
    """[x > 0]: 1.0 where x > 0, else 0.0, in x's dtype."""
    xp = backend.xp()
    return xp.astype(x > 0, x.dtype)


class ReLU(Module):
    def forward(self, x):
        self._save(is_positive(x))                                  # d = dy/dx = [x > 0]
        return backend.xp().maximum(x, 0.0)

    def backward(self, dy):
        (d,) = self._pop()
        return dy * d


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def forward(self, x):
        a = self.negative_slope
        d = a + (1.0 - a) * is_positive(x)                          # d = dy/dx: 1 where x > 0, else a
        self._save(d)
        return d * x                                                # x where x > 0, else a * x

    def backward(self, dy):
        (d,) = self._pop()
        return dy * d


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
