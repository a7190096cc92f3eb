"""BCEWithLogits, fast: ``nn/losses.py``'s loss and gradient in one element-wise pass (one GPU kernel).

The term log(1 + e^-|x|) serves both the loss and the sigmoid of the
gradient, so the loss terms and the gradient are one ``@fused`` function,
and then a mean.
"""
from .. import backend, losses
from .fuse import fused


@fused
def bce_with_logits_terms(x, target, inv_n):
    """Per element: the loss softplus(x) - t*x and its gradient (sigmoid(x) - t) / n."""
    xp = backend.xp()
    log_term = xp.log1p(xp.exp(-xp.abs(x)))                    # log(1 + e^-|x|), in (0, log 2]
    loss = xp.maximum(x, 0.0) - x * target + log_term
    grad = (xp.exp(xp.minimum(x, 0.0) - log_term) - target) * inv_n
    return loss, grad


class BCEWithLogits(losses.BCEWithLogits):
    def __call__(self, x, target):
        xp = backend.xp()
        terms, grad = bce_with_logits_terms(x, target, 1.0 / x.size)
        return xp.asarray(xp.mean(terms)), grad
