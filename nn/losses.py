"""Cross-entropy losses. Each call returns ``(loss, dloss/dinput)``.

The loss is the mean over all elements, as a 0-d array on the active device
(no host transfer: call ``float(loss)`` only where you log it; NumPy's
reductions return scalars, so the result goes through ``xp.asarray``). ``target`` is
an array of the input's shape or a number (1.0 = real, 0.0 = fake, 0.9 for
one-sided label smoothing).

BCEWithLogits, on logits x (what DCGAN training uses)::

    loss = mean( softplus(x) - t*x ),   softplus(x) = log(1 + e^x)
         = mean( max(x, 0) - t*x + log(1 + e^-|x|) )     (never overflows)
    dloss/dx = (sigmoid(x) - t) / n,    sigmoid(x) = exp(min(x, 0) - log(1 + e^-|x|))

(``nn/fast/losses.py`` computes the loss terms and the gradient in one GPU kernel.)

BCE, on probabilities p (after a Sigmoid layer)::

    p'   = clip(p, eps, 1 - eps)      (symmetric, so log never sees 0)
    loss = -mean( t log p' + (1 - t) log(1 - p') )
    dloss/dp = (p' - t) / (p' (1 - p')) / n   where p is inside the clip range, 0 outside

With logits the sigmoid and the log cancel analytically; with probabilities
a saturated sigmoid loses the gradient, which is why GAN code prefers logits.

SoftmaxCrossEntropy, on logits x (N, K) and integer labels y (N,)::

    log p  = x - logsumexp(x),   logsumexp(x) = m + log(sum(exp(x - m))),  m = max(x)
    loss   = -mean_n log p[n, y_n]
    dloss/dx = (softmax(x) - onehot(y)) / N

Subtracting the row maximum m keeps every exp() at most 1: no overflow.
"""
from . import backend
from .activations import sigmoid


class BCEWithLogits:
    def __call__(self, x, target):
        xp = backend.xp()
        loss = xp.mean(xp.maximum(x, 0.0) - x * target + xp.log1p(xp.exp(-xp.abs(x))))
        grad = (sigmoid(x) - target) / x.size
        return xp.asarray(loss), grad


class BCE:
    def __init__(self, eps=1e-7):
        self.eps = eps

    def __call__(self, p, target):
        xp = backend.xp()
        n = p.size
        pc = xp.clip(p, self.eps, 1.0 - self.eps)
        loss = xp.asarray(-xp.mean(target * xp.log(pc) + (1.0 - target) * xp.log(1.0 - pc)))
        inside = (p > self.eps) & (p < 1.0 - self.eps)
        grad = xp.where(inside, (pc - target) / (pc * (1.0 - pc)), 0.0) / n
        return loss, grad


def log_softmax(x):
    """Row-wise log-softmax of (N, K) logits, computed stably."""
    xp = backend.xp()
    shifted = x - xp.max(x, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(x):
    return backend.xp().exp(log_softmax(x))


class SoftmaxCrossEntropy:
    def __call__(self, x, labels):
        xp = backend.xp()
        n, k = x.shape
        logp = log_softmax(x)
        onehot = xp.astype(xp.reshape(labels, (-1, 1)) == xp.reshape(xp.arange(k), (1, -1)), x.dtype)
        loss = xp.asarray(-xp.sum(logp * onehot) / n)
        grad = (xp.exp(logp) - onehot) / n
        return loss, grad
