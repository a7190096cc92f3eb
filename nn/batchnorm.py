"""Batch normalisation, per channel: BatchNorm2d over (N, H, W), BatchNorm1d over N.

Forward, in training mode, for each channel c with its m = N*H*W values::

    mu     = mean(x)                     var = mean((x - mu)^2)   (biased)
    xhat   = (x - mu) / sqrt(var + eps)
    y      = gamma * xhat + beta

and the running statistics move towards the batch's (PyTorch's convention,
momentum 0.1, the running variance unbiased: var * m / (m - 1))::

    running_mean = (1 - momentum) * running_mean + momentum * mu

In eval mode mu and var are the running statistics, so y is an affine
function of x. ``frozen_running_stats(model)`` keeps batch statistics but
stops the running ones from moving (for sampling that must not change state).

Backward (training mode). xhat depends on x directly *and* through mu and
var, which depend on every x of the channel. With g = dy * gamma::

    dbeta  = sum(dy)          dgamma = sum(dy * xhat)
    dx     = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)

The mean(g) term is the path through mu, the xhat * mean(g * xhat) term
the path through var; drop either and the gradient check fails (try it).
Since gamma is constant per channel, with k = gamma / sqrt(var + eps)::

    dx = k * (dy - dbeta / m - xhat * dgamma / m)

so the two reductions the parameter gradients need are all the backward
needs: four passes over the data after them (with c = k / m computed once
per channel: correction = xhat * (c * dgamma) + c * dbeta, dx = k * dy - correction).
In eval mode mu and var are constants, so dx = k * dy.
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

    def _per_channel(self, v, ndim):
        """(C,) -> broadcastable against the input: (1, C) or (1, C, 1, 1)."""
        return backend.xp().reshape(v, (1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        xp = backend.xp()
        shape = lambda v: self._per_channel(v, x.ndim)
        if self.training:
            mu = xp.mean(x, axis=self.axes, keepdims=True)
            xc = x - mu
            var = xp.mean(xc * xc, axis=self.axes, keepdims=True)
            if self.update_running_stats:
                m = x.size // x.shape[1]
                mom = self.momentum
                self.running_mean = (1 - mom) * self.running_mean + mom * xp.reshape(mu, (-1,))
                self.running_var = (1 - mom) * self.running_var + xp.reshape(var, (-1,)) * (mom * m / max(m - 1, 1))
        else:
            xc = x - shape(self.running_mean)
            var = shape(self.running_var)
        inv_std = (var + self.eps) ** -0.5             # 1 / sqrt(var + eps), in two operations
        xc *= inv_std                                  # in place: xc is ours, and now it is xhat
        xhat = xc
        self._save(xhat, inv_std, self.training)
        y = xhat * shape(self.weight.data)
        y += shape(self.bias.data)
        return y

    def backward(self, dy):
        xp = backend.xp()
        xhat, inv_std, training = self._pop()
        dbeta = xp.sum(dy, axis=self.axes, keepdims=True)               # (1, C, 1, 1)
        dgamma = xp.sum(dy * xhat, axis=self.axes, keepdims=True)
        if self.bias.requires_grad:
            self.bias.accumulate(xp.reshape(dbeta, (-1,)))
        if self.weight.requires_grad:
            self.weight.accumulate(xp.reshape(dgamma, (-1,)))
        k = self._per_channel(self.weight.data, dy.ndim) * inv_std     # gamma / sqrt(var + eps)
        if not training:
            return dy * k
        c = k * (dy.shape[1] / dy.size)                                # k / m, m = values per channel
        correction = xhat * (c * dgamma)
        correction += c * dbeta
        dx = dy * k
        dx -= correction
        return dx


class BatchNorm2d(BatchNorm):
    """BatchNorm over (N, H, W) for each channel of an (N, C, H, W) input."""
    axes = (0, 2, 3)


class BatchNorm1d(BatchNorm):
    """BatchNorm over N for each feature of an (N, C) input."""
    axes = (0,)


@contextmanager
def frozen_running_stats(model):
    """Inside the block, BatchNorm layers of ``model`` in training mode still normalise with
    batch statistics but leave their running statistics untouched."""
    layers = [m for m in model.modules() if isinstance(m, BatchNorm)]
    for m in layers:
        m.update_running_stats = False
    try:
        yield model
    finally:
        for m in layers:
            m.update_running_stats = True
