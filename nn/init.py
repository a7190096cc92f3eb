"""Weight initialisers.

``xavier_uniform(shape)`` (Glorot & Bengio 2010): U(-a, a) with
a = sqrt(6 / (fan_in + fan_out)); every layer's default at construction.
Model-wide schemes (the DCGAN paper's N(0, 0.02)) live with the models that
use them: ``gan/models.py``.

All draws come from ``backend.rng()``, so ``backend.seed(n)`` makes them repeatable.
"""
import math

from . import backend


def xavier_uniform(shape, dtype=None):
    """Linear (out, in) or conv (a, b, kh, kw) weight: fans are the first two dims times kh*kw."""
    receptive = math.prod(shape[2:])
    fan_sum = (shape[0] + shape[1]) * receptive
    bound = math.sqrt(6.0 / fan_sum)
    return backend.uniform(shape, -bound, bound, dtype=dtype)
