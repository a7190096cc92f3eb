"""Module plumbing: names, state dicts across backends, the forward/backward contract, dtypes, BN stats."""
import numpy as np
import pytest

import nn
from nn.gradcheck import LAYER_CASES
from gan import models
from nn import backend


def tiny_model():
    return nn.Sequential(nn.Conv2d(1, 2, 4, 2, 1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Linear(2 * 4 * 4, 3), nn.BatchNorm1d(3), nn.Sigmoid())


def test_named_parameters_and_buffers():
    model = tiny_model()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias", "5.weight", "5.bias"]
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var",
                                                     "5.running_mean", "5.running_var"]
    assert model.num_parameters() == 2 * 16 + 2 + 4 + 32 * 3 + 3 + 6


@pytest.mark.parametrize("name,make,shape", LAYER_CASES, ids=[case[0] for case in LAYER_CASES])
def test_float32_in_float32_out_and_grads(xp_backend, name, make, shape):
    layer = make(nn)
    x = backend.randn(shape)
    y = layer.forward(x)
    dx = layer.backward(backend.randn(tuple(y.shape)))
    f32 = backend.xp().float32
    assert y.dtype == f32 and dx.dtype == f32 and tuple(dx.shape) == shape
    for name, p in layer.named_parameters():
        assert p.data.dtype == f32 and p.grad.dtype == f32, name
    for name, b in layer.named_buffers():
        assert b.dtype == f32, name


def test_losses_keep_float32(xp_backend):
    x = backend.randn((4, 1))
    for loss_fn, inp in [(nn.BCEWithLogits(), x), (nn.BCE(), nn.Sigmoid()(x))]:
        for target in (1.0, 0.9, backend.to_device(np.ones((4, 1)))):
            loss, grad = loss_fn(inp, target)
            assert loss.dtype == backend.xp().float32 and grad.dtype == backend.xp().float32


def test_adam_keeps_float32(xp_backend):
    layer = nn.Linear(3, 2)
    opt = nn.Adam(layer, lr=2e-4, betas=(0.5, 0.999))
    y = layer.forward(backend.randn((4, 3)))
    layer.backward(y)
    opt.step()
    assert all(p.data.dtype == backend.xp().float32 for p in layer.parameters())
    assert all(m.dtype == backend.xp().float32 for m in opt.m.values())


def test_backward_without_forward_raises():
    layer = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(np.zeros((1, 2), np.float32))
    layer.forward(np.zeros((1, 2), np.float32))
    layer.backward(np.zeros((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(np.zeros((1, 2), np.float32))


def test_two_forward_backward_pairs_accumulate(xp_backend):
    """D sees a real and a fake batch in one step: the grads add up, as if one loss were summed."""
    model = tiny_model()
    rng = np.random.default_rng(0)
    a, b = (backend.to_device(rng.standard_normal((4, 1, 8, 8))) for _ in range(2))
    da, db = (backend.to_device(rng.standard_normal((4, 3))) for _ in range(2))
    model.zero_grad()
    model.forward(a)
    model.backward(da)
    model.forward(b)
    model.backward(db)
    summed = {n: backend.to_numpy(g) for n, g in named_grads(model)}
    model.zero_grad()
    model.forward(a)
    model.backward(da)
    only_a = {n: backend.to_numpy(g) for n, g in named_grads(model)}
    model.zero_grad()
    model.forward(b)
    model.backward(db)
    for n, g in named_grads(model):
        np.testing.assert_allclose(summed[n], only_a[n] + backend.to_numpy(g), rtol=1e-4, atol=1e-6, err_msg=n)


def test_backward_does_not_mutate_incoming_gradient(xp_backend):
    for _, make, shape in LAYER_CASES:
        layer = make(nn)
        y = layer.forward(backend.randn(shape))
        dy = backend.randn(tuple(y.shape))
        before = backend.to_numpy(dy).copy()
        layer.backward(dy)
        np.testing.assert_array_equal(backend.to_numpy(dy), before, err_msg=type(layer).__name__)


def test_state_dict_round_trip_across_backends(xp_backend):
    """Saved on one backend (host NumPy dict), loaded on another: same outputs."""
    backend.use("numpy")
    backend.seed(1)
    src = tiny_model()
    src.forward(backend.randn((4, 1, 8, 8)))         # move the BN running stats
    src.clear_cache()
    state = src.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    x = np.random.default_rng(5).standard_normal((2, 1, 8, 8)).astype(np.float32)
    expected = src.eval().forward(x)

    backend.use(xp_backend)
    dst = tiny_model()
    dst.load_state_dict(state)
    got = backend.to_numpy(dst.eval().forward(backend.to_device(x)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert dst[0].weight.data.dtype == backend.xp().float32


def test_load_state_dict_of_another_architecture_fails_clearly():
    state = tiny_model().state_dict()
    other = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1))
    with pytest.raises(ValueError, match="does not match the model"):
        other.load_state_dict(state)
    wider = nn.Sequential(nn.Conv2d(1, 3, 4, 2, 1), nn.BatchNorm2d(3), nn.LeakyReLU(0.2),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 3), nn.BatchNorm1d(3), nn.Sigmoid())
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(2, 1, 4, 4\)"):
        wider.load_state_dict(state)


def test_batchnorm_running_stats_and_modes(xp_backend):
    bn = nn.BatchNorm2d(2, momentum=0.1)
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3)) * 3 + 1
    y = backend.to_numpy(bn.forward(backend.to_device(x)))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(backend.to_numpy(bn.running_mean), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(backend.to_numpy(bn.running_var), 0.9 + 0.1 * var * 36 / 35, rtol=1e-5)
    # training output: zero mean, unit variance per channel (gamma 1, beta 0)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), var / (var + 1e-5), rtol=1e-4)
    # eval mode uses the running statistics and leaves them alone
    bn.eval()
    rm = backend.to_numpy(bn.running_mean).copy()
    ye = backend.to_numpy(bn.forward(backend.to_device(x)))
    expected = (x - rm[None, :, None, None]) / np.sqrt(backend.to_numpy(bn.running_var)[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(ye, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(backend.to_numpy(bn.running_mean), rm)
    assert bn.train().training


def test_train_eval_recurse():
    model = tiny_model().eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_dcgan_init_statistics():
    backend.seed(0)
    conv, bn = nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(512)
    models.dcgan_init(nn.Sequential(conv, bn))
    w, g = backend.to_numpy(conv.weight.data), backend.to_numpy(bn.weight.data)
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    assert abs(g.mean() - 1) < 5e-3 and abs(g.std() - 0.02) < 3e-3
    assert np.all(backend.to_numpy(conv.bias.data) == 0) and np.all(backend.to_numpy(bn.bias.data) == 0)
    assert w.dtype == np.float32


def named_grads(model):
    """(dotted name, gradient or None) of every parameter."""
    return [(n, p.grad) for n, p in model.named_parameters()]


def test_xavier_uniform_bounds():
    """Every layer's initial weights: U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    lin = nn.Linear(30, 20)
    w = backend.to_numpy(lin.weight.data)
    bound = np.sqrt(6 / 50)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_repr_names_layers():
    text = repr(tiny_model())
    assert "Conv2d(1, 2, kernel_size=4, stride=2, padding=1" in text and "BatchNorm1d(3" in text


def test_frozen_running_stats_keeps_batch_statistics_and_state(xp_backend):
    bn = nn.BatchNorm2d(2)
    x = backend.randn((4, 2, 3, 3))
    with nn.frozen_running_stats(nn.Sequential(bn)):
        y_frozen = backend.to_numpy(bn.forward(x))
    np.testing.assert_array_equal(backend.to_numpy(bn.running_mean), 0)
    np.testing.assert_array_equal(backend.to_numpy(bn.running_var), 1)
    np.testing.assert_allclose(backend.to_numpy(bn.forward(x)), y_frozen, rtol=1e-6)
    assert float(backend.to_numpy(bn.running_var)[0]) != 1.0


WITH_PARAMETERS = [case for case in LAYER_CASES if list(case[1](nn).parameters())]


@pytest.mark.parametrize("name,make,shape", WITH_PARAMETERS, ids=[case[0] for case in WITH_PARAMETERS])
def test_skipping_gradients_changes_nothing_else(xp_backend, name, make, shape):
    """requires_grad_(False) skips weight grads, needs_input_grad = False skips dx; the rest is identical."""
    layer = make(nn)
    x = backend.randn(shape)
    y = layer.forward(x)
    dy = backend.randn(tuple(y.shape))
    dx = backend.to_numpy(layer.backward(dy))
    grads = {n: backend.to_numpy(g) for n, g in named_grads(layer)}

    layer.zero_grad()
    layer.requires_grad_(False)
    layer.forward(x)
    np.testing.assert_array_equal(backend.to_numpy(layer.backward(dy)), dx)
    assert all(g is None for _, g in named_grads(layer))

    layer.requires_grad_(True)
    layer.needs_input_grad = False
    layer.forward(x)
    result = layer.backward(dy)
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        assert result is None
    for n, g in named_grads(layer):
        np.testing.assert_allclose(backend.to_numpy(g), grads[n], rtol=1e-6, err_msg=n)


def test_sequential_stops_at_a_layer_without_input_grad():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 1, 3))
    model[0].needs_input_grad = False
    y = model.forward(backend.randn((2, 1, 6, 6)))
    assert model.backward(backend.randn(tuple(y.shape))) is None
    assert model[0].weight.grad is not None


def test_clear_cache_reaches_every_submodule():
    model = tiny_model()
    model.forward(backend.randn((2, 1, 8, 8)))
    assert all(m._cache is not None for m in model.layers)
    model.clear_cache()
    assert all(m._cache is None for m in model.modules())
    with pytest.raises(RuntimeError, match="without a matching forward"):
        model.backward(backend.randn((2, 3)))


def test_load_state_dict_copies_the_callers_arrays(xp_backend):
    """Training after a load must not change the dict it was loaded from (on NumPy it used to)."""
    model = nn.Linear(3, 2)
    state = model.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    model.load_state_dict(state)
    opt = nn.Adam(model, lr=0.1)
    x = backend.to_device(np.ones((4, 3)))
    model.backward(model.forward(x))
    opt.step()
    opt_state = opt.state_dict()
    opt.load_state_dict(opt_state)
    saved_m = {k: v.copy() for k, v in opt_state.items() if k.startswith("m.")}
    model.zero_grad()
    model.backward(model.forward(x))
    opt.step()
    for k in before:
        np.testing.assert_array_equal(state[k], before[k], err_msg=f"{k} was changed in the caller's dict")
    for k in saved_m:
        np.testing.assert_array_equal(opt_state[k], saved_m[k], err_msg=f"{k} was changed in the caller's dict")


def test_frozen_backpropagates_through_a_model_without_training_it(xp_backend):
    """Inside ``with nn.frozen(D)``: no weight gradients, an input gradient from every layer (even one
    told to skip it); afterwards both switches are as they were."""
    backend.seed(0)
    D = nn.Sequential(nn.Conv2d(1, 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * 4 * 4, 1))
    D[0].needs_input_grad = False
    D[3].weight.requires_grad = False
    x = backend.randn((3, 1, 8, 8))
    with nn.frozen(D):
        y = D.forward(x)
        dx = D.backward(backend.xp().ones_like(y))
    assert dx is not None and tuple(dx.shape) == (3, 1, 8, 8)
    assert all(p.grad is None for p in D.parameters())
    assert D[0].needs_input_grad is False and D[3].weight.requires_grad is False and D[0].weight.requires_grad
    D.forward(x)
    assert D.backward(backend.xp().ones_like(y)) is None and D[0].weight.grad is not None
