"""The gradient checks can fail: plant a wrong backward and watch them catch it.

Each mutant is a plausible bug. If a check passed a mutant, the suite would
be proving nothing about that term.
"""
import pytest

import nn
from nn import backend, batchnorm, conv
from nn.gradcheck import check_layer

TOL = 1e-6


def bn_backward_without_variance_term(self, dy):
    xp = backend.xp()
    xhat, inv_std, training = self._pop()
    self.bias.accumulate(xp.sum(dy, axis=self.axes))
    self.weight.accumulate(xp.sum(dy * xhat, axis=self.axes))
    g = dy * self._per_channel(self.weight.data, dy.ndim)
    return (g - xp.mean(g, axis=self.axes, keepdims=True)) * inv_std    # dropped: - xhat * mean(g * xhat)


def bn_backward_without_mean_term(self, dy):
    xp = backend.xp()
    xhat, inv_std, training = self._pop()
    self.bias.accumulate(xp.sum(dy, axis=self.axes))
    self.weight.accumulate(xp.sum(dy * xhat, axis=self.axes))
    g = dy * self._per_channel(self.weight.data, dy.ndim)
    return (g - xhat * xp.mean(g * xhat, axis=self.axes, keepdims=True)) * inv_std   # dropped: - mean(g)


def bn_backward_without_gamma(self, dy):
    xp = backend.xp()
    xhat, inv_std, training = self._pop()
    self.bias.accumulate(xp.sum(dy, axis=self.axes))
    self.weight.accumulate(xp.sum(dy * xhat, axis=self.axes))
    g = dy                                                                # forgot * gamma
    return (g - xp.mean(g, axis=self.axes, keepdims=True)
            - xhat * xp.mean(g * xhat, axis=self.axes, keepdims=True)) * inv_std


def convT_without_overlap_sum(cols, x_shape, kh, kw, stride=1, pad=0):
    """col2im that overwrites instead of adding where windows overlap."""
    xp = backend.xp()
    N, C, H, W = x_shape
    OH = (H + 2 * pad - kh) // stride + 1
    OW = (W + 2 * pad - kw) // stride + 1
    cols = xp.reshape(cols, (C, kh, kw, OH, OW, N))
    xpad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, i:i + stride * (OH - 1) + 1:stride, j:j + stride * (OW - 1) + 1:stride, :] = cols[:, i, j, :, :, :]
    return xp.permute_dims(xpad[:, pad:pad + H, pad:pad + W, :], (3, 0, 1, 2))


@pytest.mark.parametrize("mutant", [bn_backward_without_variance_term, bn_backward_without_mean_term,
                                    bn_backward_without_gamma])
def test_gradcheck_catches_broken_batchnorm(monkeypatch, mutant):
    monkeypatch.setattr(batchnorm.BatchNorm, "backward", mutant)
    errors = check_layer(nn.BatchNorm2d(3), (4, 3, 2, 2))
    print(mutant.__name__, errors)
    assert errors["x"] > 1e-2


def test_sum_as_upstream_gradient_would_hide_the_bug(monkeypatch):
    """Why the checks use a random dout: with dout = 1 the BN input gradient is 0 either way."""
    import numpy as np
    monkeypatch.setattr(batchnorm.BatchNorm, "backward", bn_backward_without_variance_term)
    bn = nn.BatchNorm2d(3).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2))
    bn.forward(x)
    dx = bn.backward(np.ones((4, 3, 2, 2)))
    assert np.abs(dx).max() < 1e-12           # the broken backward looks perfect under sum()


def test_gradcheck_catches_col2im_that_overwrites(monkeypatch):
    monkeypatch.setattr(conv, "col2im", convT_without_overlap_sum)
    errors = check_layer(nn.Conv2d(2, 2, 4, 2, 1), (2, 2, 6, 6))
    print("conv with overwriting col2im", errors)
    assert errors["x"] > 1e-2
    errors = check_layer(nn.ConvTranspose2d(2, 2, 4, 2, 1), (2, 2, 3, 3))
    assert errors["x"] > 1e-2
