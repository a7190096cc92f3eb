"""nn/cores.py: the work around the GEMMs split over threads gives what one thread gives, bit for bit."""
import numpy as np
import pytest

import nn
from nn import backend, cores
from nn.activations import leaky_relu, times_derivative
from nn.batchnorm import deviation, input_grad, normalise
from nn.ema import move_towards
from nn.im2col import col2im, im2col
from nn.optim import adam_update


@pytest.fixture
def two_threads():
    before = cores.threads()
    cores.set_threads(2)
    yield
    cores.set_threads(before)


def on_threads(n, fn, *args):
    """fn(*copies of args) with n threads: (its result, the arrays it was given, possibly updated in place)."""
    before = cores.threads()
    cores.set_threads(n)
    try:
        copies = [a.copy(order="K") if isinstance(a, np.ndarray) else a for a in args]
        return fn(*copies), copies
    finally:
        cores.set_threads(before)


def chwn(rng, n=64, c=32, h=16, w=16):
    """An (N, C, H, W) view of (C, H, W, N) memory, as the layers hand activations on."""
    return np.transpose(rng.standard_normal((c, h, w, n), dtype=np.float32), (3, 0, 1, 2))


def per_channel(rng, c=32):
    return rng.standard_normal((1, c, 1, 1), dtype=np.float32)


def cases():
    rng = np.random.default_rng(0)
    x, dy = chwn(rng), chwn(rng)
    g, b, inv = per_channel(rng), per_channel(rng), np.abs(per_channel(rng))
    w = rng.standard_normal((256, 128, 4, 4), dtype=np.float32)
    m, v = rng.standard_normal(w.shape, dtype=np.float32), np.abs(rng.standard_normal(w.shape, dtype=np.float32))
    return {
        "deviation": (deviation, x, per_channel(rng)),
        "normalise": (normalise, x, inv, g, b),
        "input_grad": (input_grad, dy, x, g, inv, per_channel(rng), per_channel(rng), 64 * 16 * 16),
        "leaky_relu": (leaky_relu, x, 0.2),
        "times_derivative": (times_derivative, dy, x),
        "adam_update": (adam_update, w, m, v, w[::-1].copy(), 0.5, 0.999, 2e-4 / 0.5, 0.03, 1e-8),
        "move_towards": (move_towards, w, m, 0.9),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_fused_functions_give_the_same_bits_on_two_threads(name):
    fn, *args = cases()[name]
    assert args[0].size >= cores.MIN_SIZE
    one, given_one = on_threads(1, fn, *args)
    two, given_two = on_threads(2, fn, *args)
    for a, b in zip(given_one, given_two):           # in-place updates
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    one = one if isinstance(one, tuple) else (one,)
    two = two if isinstance(two, tuple) else (two,)
    for a, b in zip(one, two):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
        assert np.argsort(a.strides).tolist() == np.argsort(b.strides).tolist()   # the same memory order


def test_large_arrays_are_split_small_ones_and_other_backends_are_not(two_threads):
    rng = np.random.default_rng(1)
    x = chwn(rng)
    assert cores.split_axis((x, per_channel(rng))) == 1                 # C: outermost in CHWN memory
    assert cores.split_axis((x[:2],)) is None                           # under MIN_SIZE
    assert cores.split_axis((x, rng.standard_normal(16, dtype=np.float32))) is None   # another ndim
    with backend.using("array_api_strict"):
        assert cores.split_axis((x,)) is None
    cores.set_threads(1)
    assert cores.split_axis((x,)) is None


def test_only_functions_marked_per_core_are_split(two_threads, monkeypatch):
    calls = []
    fn = lambda x: calls.append(x.shape)                 # noqa: E731
    x = np.zeros((64, 64, 64), dtype=np.float32)
    cores.each_core(fn, x)
    assert calls == [x.shape]
    cores.each_core(cores.per_core(fn), x)
    assert len(calls) > 2 and sum(c[0] for c in calls[1:]) == 64


def test_add_into_matches_numpy(two_threads):
    rng = np.random.default_rng(2)
    target = rng.standard_normal((32, 16, 16, 128), dtype=np.float32)
    value = np.transpose(rng.standard_normal((32, 128, 16, 16), dtype=np.float32), (0, 2, 3, 1))
    expected = target + value
    cores.add_into(target, value)
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("k, s, p, hw", [(4, 2, 1, 16), (3, 1, 1, 12), (4, 1, 0, 4)])
def test_im2col_and_col2im_give_the_same_bits_on_two_threads(k, s, p, hw):
    rng = np.random.default_rng(3)
    x = chwn(rng, n=64, c=64, h=hw, w=hw)
    cols, _ = on_threads(1, im2col, x, k, k, s, p)
    cols2, _ = on_threads(2, im2col, x, k, k, s, p)
    np.testing.assert_array_equal(cols, cols2)
    image, _ = on_threads(1, col2im, cols, x.shape, k, k, s, p)
    image2, _ = on_threads(2, col2im, cols, x.shape, k, k, s, p)
    np.testing.assert_array_equal(image, image2)


def test_a_training_step_gives_the_same_bits_on_two_threads():
    def step(n):
        before = cores.threads()
        cores.set_threads(n)
        try:
            backend.seed(0)
            model = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
                                  nn.Conv2d(64, 1, 16, 1, 0, bias=False), nn.Flatten())
            opt = nn.Adam(model, lr=2e-4, betas=(0.5, 0.999))
            x = backend.randn((64, 3, 32, 32))
            for _ in range(2):
                model.zero_grad()
                y = model.forward(x)
                model.backward(np.ones_like(y) / y.size)
                opt.step()
            return [p.data.copy() for _, p in model.named_parameters()]
        finally:
            cores.set_threads(before)
    for a, b in zip(step(1), step(2)):
        np.testing.assert_array_equal(a, b)


def test_the_thread_count_comes_from_dcgan_threads_then_the_blas(monkeypatch):
    monkeypatch.setenv("DCGAN_THREADS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert cores.default_threads() == 3
    monkeypatch.delenv("DCGAN_THREADS")
    assert cores.default_threads() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cores.default_threads() == 2
