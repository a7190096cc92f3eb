"""Adam (Kingma & Ba 2015), with PyTorch's update rule.

For each parameter p with gradient g, at its step t = 1, 2, ...::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t)             bias corrections: m and v start at 0
    v_hat = v / (1 - beta2^t)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

Parameters whose gradient is None (nothing flowed into them) are skipped,
and, as in PyTorch, t counts each parameter's own updates: a parameter that
missed a gradient on some step is bias-corrected as the step it really is.
``state_dict()`` / ``load_state_dict()`` save and restore the counts and the
moments as host NumPy arrays, by parameter name, so training resumes exactly.
"""
import math

from . import backend
from .fuse import fused


@fused
def adam_update(p, m, v, g, b1, b2, step_size, sqrt_c2, eps):
    """The update above, in place on p, m and v (one kernel on CuPy), step_size = lr / (1 - beta1^t),
    sqrt_c2 = sqrt(1 - beta2^t): p -= lr * (m / c1) / (sqrt(v / c2) + eps) with one division by sqrt(c2)."""
    m *= b1
    m += (1.0 - b1) * g
    v *= b2
    v += (1.0 - b2) * (g * g)
    p -= step_size * m / (backend.xp().sqrt(v) / sqrt_c2 + eps)


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        """``params``: a Module, or an iterable of (name, Parameter) pairs."""
        if hasattr(params, "named_parameters"):
            params = params.named_parameters()
        self.params = dict(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.t = 0                  # calls to step()
        self.steps = {}             # parameter name -> its own t (updates it has had)
        self.m = {}
        self.v = {}

    def zero_grad(self):
        for p in self.params.values():
            p.grad = None

    def step(self):
        """One Adam update of every parameter that has a gradient, in place: ``p.data`` stays the same
        array for the life of the model. Each update is ``adam_update``: about 13 array operations
        on NumPy, one kernel on CuPy."""
        xp = backend.xp()
        self.t += 1
        b1, b2 = self.betas
        for name, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            if name not in self.m:
                self.m[name] = xp.zeros_like(p.data)
                self.v[name] = xp.zeros_like(p.data)
            t = self.steps[name] = self.steps.get(name, 0) + 1
            c1 = 1.0 - b1 ** t
            c2 = 1.0 - b2 ** t
            adam_update(p.data, self.m[name], self.v[name], g, b1, b2, self.lr / c1, math.sqrt(c2), self.eps)

    def state_dict(self):
        state = {"t": self.t, "lr": self.lr, "betas": self.betas, "eps": self.eps}
        for name in self.m:
            state["step." + name] = self.steps[name]
            state["m." + name] = backend.to_numpy(self.m[name]).copy()
            state["v." + name] = backend.to_numpy(self.v[name]).copy()
        return state

    def load_state_dict(self, state):
        """Restore ``state_dict()``: the settings, the counts and the moments. One written before
        per-parameter counts gives every moment "t"; one without settings keeps this optimizer's."""
        self.t = int(state["t"])
        self.lr = float(state.get("lr", self.lr))
        self.betas = tuple(float(b) for b in state.get("betas", self.betas))
        self.eps = float(state.get("eps", self.eps))
        self.m, self.v, self.steps = {}, {}, {}
        for name, p in self.params.items():
            if "m." + name in state:
                self.m[name] = backend.to_device(state["m." + name], p.data.dtype)
                self.v[name] = backend.to_device(state["v." + name], p.data.dtype)
                self.steps[name] = int(state.get("step." + name, self.t))
        unknown = [k for k in state if k[:2] in ("m.", "v.") and k[2:] not in self.params]
        if unknown:
            raise ValueError(f"optimizer state has entries for unknown parameters: {unknown[:3]}")
