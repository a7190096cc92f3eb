"""Adam, fast: ``nn/optim.py``'s update as one ``@fused`` GPU kernel per parameter.

The readable update makes about 13 passes over memory per parameter (each
a kernel launch on a GPU). Fused, it is one: m and v update in place, and
the bias corrections fold into two numbers, step_size = lr / (1 - beta1^t)
and sqrt_c2 = sqrt(1 - beta2^t), as PyTorch computes it::

    p -= step_size * m / (sqrt(v) / sqrt_c2 + eps)     (= lr * m_hat / (sqrt(v_hat) + eps))

With numba on NumPy the same update is one compiled loop on every core (``cpu_kernels.py``).
"""
import math

from .. import backend, optim
from .fuse import fused


@fused.with_cpu("adam_update")
def adam_update(p, m, v, g, b1, b2, step_size, sqrt_c2, eps):
    """The update above, in place on p, m and v (one kernel on CuPy)."""
    m *= b1
    m += (1.0 - b1) * g
    v *= b2
    v += (1.0 - b2) * (g * g)
    p -= step_size * m / (backend.xp().sqrt(v) / sqrt_c2 + eps)


class Adam(optim.Adam):
    __doc__ = optim.Adam.__doc__

    def update(self, p, m, v, g, t):
        b1, b2 = self.betas
        adam_update(p, m, v, g, b1, b2, self.lr / (1.0 - b1 ** t), math.sqrt(1.0 - b2 ** t), self.eps)
