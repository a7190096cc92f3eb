"""Reshape and Flatten: no arithmetic, so backward just undoes the reshape."""
from . import backend
from .module import Module


class Reshape(Module):
    """(N, ...) -> (N, *shape); e.g. Reshape(256, 4, 4) after a Linear producing 4096 features."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = tuple(shape)

    def extra_repr(self):
        return ", ".join(map(str, self.shape))

    def forward(self, x):
        self._save(tuple(x.shape))
        return backend.xp().reshape(x, (x.shape[0],) + self.shape)

    def backward(self, dy):
        (in_shape,) = self._pop()
        return backend.xp().reshape(dy, in_shape)


class Flatten(Reshape):
    """(N, C, H, W) -> (N, C*H*W)."""

    def __init__(self):
        super().__init__(-1)

    def extra_repr(self):
        return ""
