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
needs, and then one element-wise pass. In eval mode mu and var are
constants, so dx = k * dy.

How it runs: each element-wise chain above is one ``@fused`` function (one
kernel on CuPy, the same lines one by one on NumPy). xhat is never stored:
the forward keeps x - mu and 1 / sqrt(var + eps), and
y = (x - mu) * (gamma / sqrt(var + eps)) + beta is one pass over x fewer
than normalising first.
"""
from contextlib import contextmanager

from . import backend
from .fuse import fused
from .module import Module, Parameter


@fused
def deviation(x, mu):
    """(x - mu, (x - mu)^2)."""
    xc = x - mu
    return xc, xc * xc


@fused
def inverse_std(var, eps):
    return (var + eps) ** -0.5                        # 1 / sqrt(var + eps)


@fused
def moving_averages(running_mean, running_var, mu, var, momentum, unbias):
    """PyTorch's running statistics: move towards the batch's, the variance unbiased (var * m / (m - 1))."""
    return ((1 - momentum) * running_mean + momentum * mu,
            (1 - momentum) * running_var + (momentum * unbias) * var)


@fused
def normalise(xc, inv_std, gamma, beta):
    """y = gamma * xhat + beta with xhat = (x - mu) / sqrt(var + eps), xc = x - mu."""
    return xc * (gamma * inv_std) + beta


@fused
def input_grad(dy, xc, gamma, inv_std, dgamma, dbeta, m):
    """dx = k * (dy - dbeta / m - xhat * dgamma / m), with k = gamma / sqrt(var + eps),
    xhat = (x - mu) / sqrt(var + eps), xc = x - mu, m values per channel."""
    k = gamma * inv_std
    xhat = xc * inv_std
    return k * (dy - dbeta / m - xhat * (dgamma / m))


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
        """(C,) -> broadcastable against the input: (1, C) or (1, C, 1, 1) (a view)."""
        return backend.xp().reshape(v, (1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        xp = backend.xp()
        shape = lambda v: self._per_channel(v, x.ndim)
        if self.training:
            mu = xp.mean(x, axis=self.axes, keepdims=True)                        # (1, C, 1, 1)
            xc, squares = deviation(x, mu)
            var = xp.mean(squares, axis=self.axes, keepdims=True)                 # biased
            if self.update_running_stats:
                m = x.size // x.shape[1]                                          # values per channel
                self.running_mean, self.running_var = moving_averages(
                    self.running_mean, self.running_var, xp.reshape(mu, (-1,)), xp.reshape(var, (-1,)),
                    self.momentum, m / max(m - 1, 1))
        else:
            xc, var = x - shape(self.running_mean), shape(self.running_var)
        inv_std = inverse_std(var, self.eps)
        y = normalise(xc, inv_std, shape(self.weight.data), shape(self.bias.data))
        self._save(xc, inv_std, self.training)            # xhat = xc * inv_std, never stored
        return y

    def backward(self, dy):
        xp = backend.xp()
        xc, inv_std, training = self._pop()
        dbeta = xp.sum(dy, axis=self.axes, keepdims=True)               # (1, C, 1, 1)
        dgamma = xp.sum(dy * xc, axis=self.axes, keepdims=True) * inv_std   # sum(dy * xhat)
        if self.bias.requires_grad:
            self.bias.accumulate(xp.reshape(dbeta, (-1,)))
        if self.weight.requires_grad:
            self.weight.accumulate(xp.reshape(dgamma, (-1,)))
        gamma = self._per_channel(self.weight.data, dy.ndim)
        if not training:
            return dy * (gamma * inv_std)
        return input_grad(dy, xc, gamma, inv_std, dgamma, dbeta, dy.size / dy.shape[1])


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
