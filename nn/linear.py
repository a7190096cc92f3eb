"""Linear (fully connected) layer: y = x @ W.T + b.

Shapes: x (N, in), W (out, in) as in PyTorch, b (out,), y (N, out).

Backward, from dy (N, out)::

    dW = dy.T @ x        (out, in)
    db = sum_n dy        (out,)
    dx = dy @ W          (N, in)
"""
from . import backend
from .init import xavier_uniform
from .module import Module, Parameter


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = Parameter(xavier_uniform((out_features, in_features)))
        self.bias = Parameter(backend.xp().zeros(out_features, dtype=backend.float_dtype())) if bias else None

    def extra_repr(self):
        out_f, in_f = self.weight.shape
        return f"{in_f}, {out_f}, bias={self.bias is not None}"

    def forward(self, x):
        y = x @ self.weight.data.T
        if self.bias is not None:
            y = y + self.bias.data
        self._save(x)
        return y

    def backward(self, dy):
        xp = backend.xp()
        (x,) = self._pop()
        if self.weight.requires_grad:
            self.weight.accumulate(dy.T @ x)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=0))
        if not self.needs_input_grad:
            return None
        return dy @ self.weight.data
