"""Adam (Kingma & Ba 2015), with PyTorch's update rule.

For each parameter p with gradient g, at its step t = 1, 2, ...::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t)             bias corrections: m and v start at 0
    v_hat = v / (1 - beta2^t)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

Parameters whose gradient is None (nothing flowed into them) are skipped;
the gradients are cleared by the model's ``zero_grad()`` (nn/module.py), the one place that does it,
and, as in PyTorch, t counts each parameter's own updates: a parameter that
missed a gradient on some step is bias-corrected as the step it really is.
``state_dict()`` / ``load_state_dict()`` save and restore the counts and the
moments as host NumPy arrays, by parameter name, so training resumes exactly.

(``nn/fast/optim.py``: the same update as one GPU kernel per parameter.)
"""
from . import backend


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

    def step(self):
        """One Adam update of every parameter that has a gradient, in place: ``p.data`` stays the same
        array for the life of the model."""
        self.t += 1
        for name, p in self.params.items():
            if p.grad is None:
                continue
            if name not in self.m:
                self.m[name] = backend.xp().zeros_like(p.data)
                self.v[name] = backend.xp().zeros_like(p.data)
            self.steps[name] = self.steps.get(name, 0) + 1
            self.update(p.data, self.m[name], self.v[name], p.grad, self.steps[name])

    def update(self, p, m, v, g, t):
        """The update of the docstring for one parameter p at its step t, in place on p, m and v."""
        b1, b2 = self.betas
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p -= self.lr * m_hat / (backend.xp().sqrt(v_hat) + self.eps)

    def state_dict(self):
        state = {"t": self.t, "lr": self.lr, "betas": self.betas, "eps": self.eps}
        for name in self.m:
            state["step." + name] = self.steps[name]
            state["m." + name] = backend.to_numpy(self.m[name]).copy()
            state["v." + name] = backend.to_numpy(self.v[name]).copy()
        return state

    def load_state_dict(self, state):
        """Restore ``state_dict()``: the settings, the counts and the moments."""
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        self.betas = tuple(float(b) for b in state["betas"])
        self.eps = float(state["eps"])
        self.m, self.v, self.steps = {}, {}, {}
        for name, p in self.params.items():
            if "m." + name in state:
                self.m[name] = backend.to_device(state["m." + name], p.data.dtype)
                self.v[name] = backend.to_device(state["v." + name], p.data.dtype)
                self.steps[name] = int(state["step." + name])
        unknown = [k for k in state if k[:2] in ("m.", "v.") and k[2:] not in self.params]
        if unknown:
            raise ValueError(f"optimizer state has entries for unknown parameters: {unknown[:3]}")
