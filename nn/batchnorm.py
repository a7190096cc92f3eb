"""Batch normalisation, per channel: BatchNorm2d over (N, H, W), BatchNorm1d over N.

Forward, in training mode, for each channel with its m = N*H*W values::

    mu   = mean(x)                     var = mean((x - mu)^2)       (biased)
    xhat = (x - mu) / std,             std = sqrt(var + eps)
    y    = gamma * xhat + beta

and the running statistics move towards the batch's (PyTorch's convention,
momentum 0.1, the running variance unbiased: var * m / (m - 1))::

    running_mean = (1 - momentum) * running_mean + momentum * mu

In eval mode mu and var are the running statistics, so y is an affine
function of x. ``frozen_running_stats(model)`` keeps batch statistics but
stops the running ones from moving (for sampling that must not change state).

Backward, derived. Write g = dL/dxhat = dy * gamma. The parameter gradients
are direct::

    dbeta = sum(dy)                    dgamma = sum(dy * xhat)

x_i reaches L three ways: through its own xhat_i, and through mu and var,
which every value of the channel feeds (sums run over the channel's m values)::

    dL/dvar = sum_j g_j (x_j - mu) * (-1/2) (var + eps)^(-3/2) = -sum(g * xhat) / (2 (var + eps))
    dL/dmu  = sum_j g_j * (-1 / std)                            = -sum(g) / std
              (var's own path through mu is 0: d var / d mu = -2 mean(x - mu) = 0)
    dx_i    = g_i / std  +  dL/dvar * 2 (x_i - mu) / m  +  dL/dmu / m

and since (x_i - mu) / std = xhat_i, the three terms are::

    dx = (g - mean(g) - xhat * mean(g * xhat)) / std

The mean(g) term is the path through mu, the xhat * mean(g * xhat) term
the path through var; drop either and the gradient check fails
(``tests/test_mutation.py`` does, on this very code). In eval mode mu and
var are constants: dx = g / std.

(``nn/fast/batchnorm.py`` computes the same in fewer passes over memory, for the GPU.)
"""
from contextlib import contextmanager

from . import backend
from .module import Module, Parameter


class BatchNorm(Module):
    """The shared base of BatchNorm2d and BatchNorm1d: normalise over every axis but the channel axis."""

    buffers = ("running_mean", "running_var")
    axes = None                # the axes reduced over: every axis but the channel axis (1)
    update_running_stats = True

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        xp = backend.xp()
        dt = backend.float_dtype()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(xp.ones(num_features, dtype=dt))    # gamma
        self.bias = Parameter(xp.zeros(num_features, dtype=dt))     # beta
        self.running_mean = xp.zeros(num_features, dtype=dt)
        self.running_var = xp.ones(num_features, dtype=dt)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum}"

    def per_channel(self, v, ndim):
        """(C,) -> broadcastable against the input: (1, C) or (1, C, 1, 1) (a view)."""
        return backend.xp().reshape(v, (1, -1) + (1,) * (ndim - 2))

    def channel_mean(self, a):
        """The mean of each channel over the batch (and H, W): (1, C) or (1, C, 1, 1)."""
        return backend.xp().mean(a, axis=self.axes, keepdims=True)

    def move_running_stats(self, mu, var, m):
        """running = (1 - momentum) * running + momentum * batch, the variance unbiased by m / (m - 1)."""
        xp, momentum = backend.xp(), self.momentum
        mu, var = xp.reshape(mu, (-1,)), xp.reshape(var, (-1,)) * (m / max(m - 1, 1))
        self.running_mean = (1 - momentum) * self.running_mean + momentum * mu
        self.running_var = (1 - momentum) * self.running_var + momentum * var

    def forward(self, x):
        xp, mean = backend.xp(), self.channel_mean
        gamma, beta = self.per_channel(self.weight.data, x.ndim), self.per_channel(self.bias.data, x.ndim)
        if self.training:
            mu = mean(x)                                           # (1, C, 1, 1)
            var = mean((x - mu) ** 2)                              # biased
            if self.update_running_stats:
                self.move_running_stats(mu, var, x.size // x.shape[1])
        else:
            mu, var = self.per_channel(self.running_mean, x.ndim), self.per_channel(self.running_var, x.ndim)
        std = xp.sqrt(var + self.eps)
        xhat = (x - mu) / std
        y = gamma * xhat + beta
        self._save(xhat, std, self.training)
        return y

    def backward(self, dy):
        xp, mean = backend.xp(), self.channel_mean
        xhat, std, training = self._pop()
        gamma = self.per_channel(self.weight.data, dy.ndim)
        if self.bias.requires_grad:
            self.bias.accumulate(xp.sum(dy, axis=self.axes))                 # dbeta = sum(dy)
        if self.weight.requires_grad:
            self.weight.accumulate(xp.sum(dy * xhat, axis=self.axes))        # dgamma = sum(dy * xhat)
        g = dy * gamma                                                        # dL/dxhat
        if not training:
            return g / std
        return (g - mean(g) - xhat * mean(g * xhat)) / std


class BatchNorm2d(BatchNorm):
    """BatchNorm over (N, H, W) for each channel of an (N, C, H, W) input."""
    axes = (0, 2, 3)


class BatchNorm1d(BatchNorm):
    """BatchNorm over N for each feature of an (N, C) input."""
    axes = (0,)


def is_batchnorm(layer):
    """Is ``layer`` a BatchNorm of any library (this one, nn.fast, a student's copy)? Told by what it has (its
    running statistics switch), not by its class, so every library's trains and samples alike."""
    return hasattr(layer, "update_running_stats")


@contextmanager
def frozen_running_stats(model):
    """Inside the block, BatchNorm layers of ``model`` in training mode still normalise with
    batch statistics but leave their running statistics untouched. (``is_batchnorm``: this library's,
    nn.fast's, or a student's own.)"""
    layers = [m for m in model.modules() if is_batchnorm(m)]
    for m in layers:
        m.update_running_stats = False
    try:
        yield model
    finally:
        for m in layers:
            m.update_running_stats = True
