"""BatchNorm, fast: ``nn/batchnorm.py``'s maths in fewer passes over memory, each chain one GPU kernel.

The readable layer normalises first and keeps xhat. Here, since gamma is
constant per channel, with k = gamma / sqrt(var + eps)::

    y  = (x - mu) * k + beta                                  one pass over x fewer
    dx = k * (dy - dbeta / m - xhat * dgamma / m)             the readable dx, rearranged:

mean(g) = gamma * dbeta / m and mean(g * xhat) = gamma * dgamma / m, so the two
reductions the parameter gradients need are all the backward needs, and
then one element-wise pass. xhat is never stored: the forward keeps x - mu
and 1 / sqrt(var + eps). Each element-wise chain is one ``@fused`` function
(one kernel on CuPy, the same lines one by one on NumPy).

With numba on NumPy (``cpu_kernels.py``), the training forward and backward
are each one compiled loop per channel on every core: the sums, then the
element-wise pass, two passes over memory each way; x is kept, not x - mu.

Same interface, parameters and values as ``nn.BatchNorm2d`` and
``nn.BatchNorm1d`` (``tests/test_fast_layers.py``): their subclasses, only
``forward`` and ``backward`` differ.
"""
from .. import backend, batchnorm
from . import cpu_kernels
from .fuse import fused


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


class FusedBatchNorm:
    """The fast forward and backward, for BatchNorm2d and BatchNorm1d alike."""

    def forward(self, x):
        xp = backend.xp()
        shape = lambda v: self.per_channel(v, x.ndim)
        if self.training and cpu_kernels.serves([x]):                       # numba: nn/fast/cpu_kernels.py
            compiled = cpu_kernels.batchnorm_forward(x, self.weight.data, self.bias.data, self.eps)
            if compiled is not None:
                return self.compiled_forward(x, *compiled)
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

    def compiled_forward(self, x, y, mu, var, inv_std, saved):
        """The rest of a training forward whose y and statistics numba's loop computed."""
        if self.update_running_stats:
            m = x.size // x.shape[1]
            self.running_mean, self.running_var = moving_averages(
                self.running_mean, self.running_var, mu, var, self.momentum, m / max(m - 1, 1))
        self._save(mu, inv_std, saved, "compiled")
        return y

    def backward(self, dy):
        xp = backend.xp()
        if self._cache is not None and self._cache[-1] == "compiled":
            mu, inv_std, saved, _ = self._pop()
            dx, dgamma, dbeta = cpu_kernels.batchnorm_backward(dy, self.weight.data, mu, inv_std, saved)
            if self.bias.requires_grad:
                self.bias.accumulate(dbeta)
            if self.weight.requires_grad:
                self.weight.accumulate(dgamma)
            return dx
        xc, inv_std, training = self._pop()
        dbeta = xp.sum(dy, axis=self.axes, keepdims=True)               # (1, C, 1, 1)
        dgamma = xp.sum(dy * xc, axis=self.axes, keepdims=True) * inv_std   # sum(dy * xhat)
        if self.bias.requires_grad:
            self.bias.accumulate(xp.reshape(dbeta, (-1,)))
        if self.weight.requires_grad:
            self.weight.accumulate(xp.reshape(dgamma, (-1,)))
        gamma = self.per_channel(self.weight.data, dy.ndim)
        if not training:
            return dy * (gamma * inv_std)
        return input_grad(dy, xc, gamma, inv_std, dgamma, dbeta, dy.size / dy.shape[1])


class BatchNorm2d(FusedBatchNorm, batchnorm.BatchNorm2d):
    __doc__ = batchnorm.BatchNorm2d.__doc__


class BatchNorm1d(FusedBatchNorm, batchnorm.BatchNorm1d):
    __doc__ = batchnorm.BatchNorm1d.__doc__
