"""Forward values against the textbook definitions, in float64 NumPy written independently of nn/.

A gradient check proves that a backward matches its forward; it cannot see a forward that is
consistently wrong (a LeakyReLU with the wrong slope passes it). These tests can.
"""
import numpy as np
import pytest

import nn
from nn import backend

X = np.concatenate([np.random.default_rng(0).standard_normal(200) * 3,
                    [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0, 100.0, -100.0, 700.0, -700.0]])


def run(f, *arrays):
    return backend.to_numpy(f(*[backend.to_device(a, "float64") for a in arrays]))


@pytest.mark.parametrize("slope", [0.0, 0.2, 0.01])
def test_leaky_relu_and_relu(xp_backend, slope):
    layer = nn.LeakyReLU(slope) if slope else nn.ReLU()
    expected = np.where(X > 0, X, slope * X)
    np.testing.assert_array_equal(run(layer.forward, X), expected)
    dy = np.random.default_rng(1).standard_normal(X.shape)
    np.testing.assert_array_equal(run(layer.backward, dy), np.where(X > 0, dy, slope * dy))   # [x > 0], a at 0


def test_tanh_and_sigmoid(xp_backend):
    np.testing.assert_allclose(run(nn.Tanh().forward, X), np.tanh(X), rtol=1e-15, atol=0)
    with np.errstate(over="ignore"):
        expected = 1.0 / (1.0 + np.exp(-X))
    got = run(nn.Sigmoid().forward, X)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert got[X == 700.0] == 1.0 and 0 < got[X == -700.0] < 1e-300                    # no overflow, no 0/0


def test_bce_with_logits_loss_and_gradient(xp_backend):
    for target in (1.0, 0.0, 0.9):
        loss, grad = nn.BCEWithLogits()(backend.to_device(X, "float64"), target)
        softplus = np.logaddexp(0.0, X)                                    # log(1 + e^x), exactly
        np.testing.assert_allclose(float(backend.to_numpy(loss)), np.mean(softplus - target * X), rtol=1e-14)
        with np.errstate(over="ignore"):
            sigmoid = 1.0 / (1.0 + np.exp(-X))
        np.testing.assert_allclose(backend.to_numpy(grad), (sigmoid - target) / X.size, rtol=1e-13, atol=1e-17)   # 1e-17: the cancellation in s - t at x = 30


def test_batchnorm_forward_and_running_statistics(xp_backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3, 4, 2)) * 4 + 2
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn = nn.BatchNorm2d(3, momentum=0.3).astype(backend.xp().float64)
    bn.weight.data, bn.bias.data = backend.to_device(gamma, "float64"), backend.to_device(beta, "float64")
    y = run(bn.forward, x)
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    shape = (1, 3, 1, 1)
    expected = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5) * gamma.reshape(shape) + beta.reshape(shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    m = x.size // 3
    np.testing.assert_allclose(backend.to_numpy(bn.running_mean), 0.3 * mu, rtol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(bn.running_var), 0.7 + 0.3 * var * m / (m - 1), rtol=1e-13)
    bn.eval()
    rm, rv = backend.to_numpy(bn.running_mean), backend.to_numpy(bn.running_var)
    expected = (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + 1e-5) * gamma.reshape(shape) + beta.reshape(shape)
    np.testing.assert_allclose(run(bn.forward, x), expected, rtol=1e-12, atol=1e-12)
