"""Adam's first steps against values worked out by hand, and its state round trip."""
import math

import numpy as np
import pytest

import nn
from nn import backend


def _one_param(value, grad):
    p = nn.Parameter(backend.to_device(np.array(value, dtype=np.float64), "float64"))
    p.grad = backend.to_device(np.array(grad, dtype=np.float64), "float64")
    return p


def test_adam_first_step_is_lr_times_sign(xp_backend):
    # Step 1: m = (1-b1) g, v = (1-b2) g^2, m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps).
    p = _one_param([1.0, -2.0, 0.5], [0.3, -4.0, 1e-3])
    opt = nn.Adam([("p", p)], lr=0.1, betas=(0.5, 0.999), eps=1e-8)
    opt.step()
    expected = np.array([1.0 - 0.1 * 0.3 / (0.3 + 1e-8),
                         -2.0 + 0.1 * 4.0 / (4.0 + 1e-8),
                         0.5 - 0.1 * 1e-3 / (1e-3 + 1e-8)])
    np.testing.assert_allclose(backend.to_numpy(p.data), expected, rtol=1e-12)


def test_adam_two_steps_by_hand(xp_backend):
    lr, b1, b2, eps = 2e-4, 0.5, 0.999, 1e-8
    p = _one_param([0.7], [0.2])
    opt = nn.Adam([("p", p)], lr=lr, betas=(b1, b2), eps=eps)
    opt.step()
    p.grad = backend.to_device(np.array([-0.1]), "float64")
    opt.step()
    # by hand
    m1, v1 = (1 - b1) * 0.2, (1 - b2) * 0.04
    x1 = 0.7 - lr * (m1 / (1 - b1)) / (math.sqrt(v1 / (1 - b2)) + eps)
    m2, v2 = b1 * m1 + (1 - b1) * -0.1, b2 * v1 + (1 - b2) * 0.01
    x2 = x1 - lr * (m2 / (1 - b1 ** 2)) / (math.sqrt(v2 / (1 - b2 ** 2)) + eps)
    assert abs(float(backend.to_numpy(p.data)[0]) - x2) < 1e-15
    assert opt.t == 2


def test_adam_skips_params_without_grad(xp_backend):
    p = _one_param([1.0], [1.0])
    q = _one_param([5.0], [1.0])
    q.grad = None
    opt = nn.Adam([("p", p), ("q", q)], lr=0.1)
    opt.step()
    assert float(backend.to_numpy(q.data)[0]) == 5.0
    assert float(backend.to_numpy(p.data)[0]) != 1.0


def test_adam_state_dict_round_trip_resumes_exactly(xp_backend):
    def make():
        backend.seed(3)
        model = nn.Linear(3, 2)
        return model, nn.Adam(model, lr=0.01, betas=(0.5, 0.999))

    def step(model, opt, seed):
        x = backend.to_device(np.random.default_rng(seed).standard_normal((4, 3)))
        model.zero_grad()
        y = model.forward(x)
        model.backward(y)                      # gradient of 0.5 * |y|^2
        opt.step()

    a, opt_a = make()
    for s in range(4):
        step(a, opt_a, s)
    b, opt_b = make()
    for s in range(2):
        step(b, opt_b, s)
    model_state, opt_state = b.state_dict(), opt_b.state_dict()
    c, opt_c = make()
    c.load_state_dict(model_state)
    opt_c.load_state_dict(opt_state)
    for s in range(2, 4):
        step(c, opt_c, s)
    for (n, pa), (_, pc) in zip(a.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(backend.to_numpy(pa.data), backend.to_numpy(pc.data), err_msg=n)


def test_adam_counts_steps_per_parameter_like_pytorch(xp_backend):
    """A parameter that missed a gradient on some step is bias-corrected with its own step count.

    PyTorch keeps ``state["step"]`` per parameter and advances it only when the
    parameter has a gradient; one global count would correct q's first update
    with t = 2 (1 - b1^2, not 1 - b1): a different, smaller step.
    """
    lr, b1, b2, eps = 0.1, 0.5, 0.999, 1e-8
    p = _one_param([1.0], [1.0])
    q = _one_param([5.0], [2.0])
    q.grad = None                                   # step 1: q gets no gradient
    opt = nn.Adam([("p", p), ("q", q)], lr=lr, betas=(b1, b2), eps=eps)
    opt.step()
    q.grad = backend.to_device(np.array([2.0]), "float64")
    opt.step()                                      # step 2 overall, q's first
    # q's first Adam update: m_hat = g, v_hat = g^2, so q -= lr * g / (|g| + eps)
    assert abs(float(backend.to_numpy(q.data)[0]) - (5.0 - lr * 2.0 / (2.0 + eps))) < 1e-12
    state = opt.state_dict()
    assert int(state["step.p"]) == 2 and int(state["step.q"]) == 1


def test_an_old_checkpoints_optimizer_state_is_made_current_where_checkpoints_are_read(xp_backend):
    """Checkpoints written before per-parameter counts have only "t", and no settings: gan/checkpoint.py
    (the one place older forms are upgraded) gives every parameter "t" and the config's settings; Adam
    itself reads only the current form."""
    from gan.checkpoint import upgraded_optimizers
    from gan.config import Config
    opt = nn.Adam([("p", _one_param([1.0], [1.0]))], lr=0.1, betas=(0.5, 0.999))
    opt.step()
    opt.step()
    old = {"opt_G/" + k: v for k, v in opt.state_dict().items() if not k.startswith("step.") and
           k not in ("lr", "betas", "eps")}
    again = nn.Adam([("p", _one_param([1.0], [1.0]))])
    with pytest.raises(KeyError):
        again.load_state_dict({k[6:]: v for k, v in old.items()})
    state = upgraded_optimizers(old, Config(lr=0.1, beta1=0.5))
    again.load_state_dict({k[6:]: v for k, v in state.items()})
    assert int(again.state_dict()["step.p"]) == 2 and (again.lr, again.betas, again.eps) == (0.1, (0.5, 0.999), 1e-8)


def test_parameters_are_updated_in_place(xp_backend):
    """``w = layer.weight.data`` taken before training is the array training updates: Adam's steps
    and load_state_dict of the model and of the optimizer change it in place, as in PyTorch."""
    backend.seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = nn.Adam(model, lr=0.01, betas=(0.5, 0.999))
    kept = [p.data for p in model.parameters()]
    first = backend.to_numpy(kept[0]).copy()
    x = backend.to_device(np.random.default_rng(0).standard_normal((8, 3)))
    for s in range(4):
        if s == 2:
            model.load_state_dict(model.state_dict())
            opt.load_state_dict(opt.state_dict())
        model.zero_grad()
        model.backward(model.forward(x))
        opt.step()
    assert all(a is p.data for a, p in zip(kept, model.parameters()))
    assert (backend.to_numpy(kept[0]) != first).any()


def test_adam_load_state_dict_restores_its_settings():
    """state_dict saves lr, betas and eps; load_state_dict puts them back (it used to ignore them)."""
    opt = nn.Adam([("p", _one_param([1.0], [1.0]))], lr=0.1, betas=(0.5, 0.9), eps=1e-6)
    opt.step()
    again = nn.Adam([("p", _one_param([1.0], [1.0]))])
    again.load_state_dict(opt.state_dict())
    assert (again.lr, again.betas, again.eps) == (0.1, (0.5, 0.9), 1e-6)
