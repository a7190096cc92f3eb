"""Weight initialisers.

* ``xavier_uniform(shape)`` (Glorot & Bengio 2010): U(-a, a) with
  a = sqrt(6 / (fan_in + fan_out)); every layer's default at construction.
* ``dcgan_init(model)`` (Radford et al. 2015, section 4): conv, transposed-conv
  and linear weights ~ N(0, 0.02), biases 0; BatchNorm gamma ~ N(1, 0.02),
  beta 0. What PyTorch's DCGAN example does in ``weights_init``.
* ``xavier_init(model)``: re-draws every weight with ``xavier_uniform``,
  biases 0, BatchNorm gamma 1 and beta 0.

All draws come from ``backend.rng()``, so ``backend.seed(n)`` makes them repeatable.
"""
import math

from . import backend
from .batchnorm import _BatchNorm


def xavier_uniform(shape, dtype=None):
    """Linear (out, in) or conv (a, b, kh, kw) weight: fans are the first two dims times kh*kw."""
    receptive = math.prod(shape[2:])
    fan_sum = (shape[0] + shape[1]) * receptive
    bound = math.sqrt(6.0 / fan_sum)
    return backend.uniform(shape, -bound, bound, dtype=dtype)


def _weighted_layers(model):
    """(layer, is_batchnorm) for every module that owns a weight."""
    for layer in model.modules():
        if getattr(layer, "weight", None) is not None:
            yield layer, isinstance(layer, _BatchNorm)


def _zero_bias(layer):
    if layer.bias is not None:
        layer.bias.data = backend.xp().zeros_like(layer.bias.data)


def dcgan_init(model, std=0.02):
    for layer, is_bn in _weighted_layers(model):
        w = layer.weight
        w.data = backend.randn(w.shape, std=std, mean=1.0 if is_bn else 0.0, dtype=w.data.dtype)
        _zero_bias(layer)
    return model


def xavier_init(model):
    for layer, is_bn in _weighted_layers(model):
        w = layer.weight
        w.data = backend.xp().ones_like(w.data) if is_bn else xavier_uniform(w.shape, dtype=w.data.dtype)
        _zero_bias(layer)
    return model
