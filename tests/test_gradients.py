"""Every backward pass against central differences (float64, random upstream gradient), for the readable
layers (nn/) and the fast ones (nn/fast/) alike: the ``lib`` of each test.

A relative error of about 1e-10 is what a correct backward gives here; a
wrong one gives 1e-2 or worse. The bound, 1e-6, sits far from both.
"""
import numpy as np
import pytest

import nn
import nn.fast
from nn import backend
from nn.gradcheck import LAYER_CASES, LOSS_CASES, away_from_zero, check_layer, check_loss

TOL = 1e-6


@pytest.fixture(params=["nn", "fast"])
def lib(request):
    """The layer library under test: nn (readable) or nn.fast."""
    return nn.fast if request.param == "fast" else nn


def prefix(lib):
    return "fast " if lib is nn.fast else ""

# Beyond LAYER_CASES, a sweep of convolution shapes: (in, out, kernel, stride, padding, bias, input height/width)
CONV_CASES = [
    (2, 3, 4, 2, 1, True, 6),     # DCGAN's down/up-sampling layer
    (3, 2, 4, 1, 0, False, 4),    # DCGAN's first/last layer (4x4 -> 1x1)
    (2, 3, 3, 1, 1, True, 5),     # "same" convolution
    (1, 2, 3, 2, 0, True, 7),     # stride 2 without padding
    (2, 2, 1, 1, 0, False, 3),    # 1x1 convolution
    (2, 2, 5, 3, 2, True, 7),     # larger kernel, stride 3, size not divisible
]


def _ids(cases):
    return [f"k{k}s{s}p{p}{'b' if b else ''}" for _, _, k, s, p, b, _ in cases]


@pytest.mark.parametrize("cin,cout,k,s,p,bias,hw", CONV_CASES, ids=_ids(CONV_CASES))
def test_conv2d(xp_backend, lib, record_error, cin, cout, k, s, p, bias, hw):
    errors = check_layer(lib.Conv2d(cin, cout, k, s, p, bias=bias), (2, cin, hw, hw))
    record_error(prefix(lib) + f"Conv2d({cin},{cout},{k},{s},{p},bias={bias})", errors)
    assert set(errors) == {"x", "weight"} | ({"bias"} if bias else set())
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cin,cout,k,s,p,bias,hw", CONV_CASES, ids=_ids(CONV_CASES))
def test_conv_transpose2d(xp_backend, lib, record_error, cin, cout, k, s, p, bias, hw):
    hw = max(1, hw // 2)
    layer = lib.ConvTranspose2d(cin, cout, k, s, p, bias=bias)
    if layer.output_size(hw) < 1:
        hw += 1
    errors = check_layer(layer, (2, cin, hw, hw))
    record_error(prefix(lib) + f"ConvTranspose2d({cin},{cout},{k},{s},{p},bias={bias})", errors)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name,make,shape", LAYER_CASES, ids=[case[0] for case in LAYER_CASES])
def test_every_layer(xp_backend, lib, record_error, name, make, shape):
    """nn/gradcheck.py's LAYER_CASES, the cases the tour prints, for this library."""
    layer = make(lib)
    errors = check_layer(layer, shape, x=away_from_zero(shape))
    record_error(prefix(lib) + name, errors)
    assert set(errors) == {"x"} | {n for n, _ in layer.named_parameters()}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name,make,x,target", LOSS_CASES, ids=[case[0] for case in LOSS_CASES])
def test_every_loss(xp_backend, lib, record_error, name, make, x, target):
    err = check_loss(make(lib), x, target)
    record_error(prefix(lib) + name, {"x": err})
    assert err < TOL


@pytest.mark.parametrize("target", ["random", 1.0, 0.0, 0.9])
def test_bce_with_logits_every_target(xp_backend, lib, record_error, target):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 1)) * 4            # includes fairly saturated logits
    t = rng.integers(0, 2, (6, 1)).astype(np.float64) if target == "random" else target
    err = check_loss(lib.BCEWithLogits(), x, t)
    record_error(prefix(lib) + f"BCEWithLogits target={target}", {"x": err})
    assert err < TOL


@pytest.mark.parametrize("target", ["random", 1.0, 0.0])
def test_bce_every_target(xp_backend, lib, record_error, target):
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (6, 1))
    t = rng.integers(0, 2, (6, 1)).astype(np.float64) if target == "random" else target
    err = check_loss(lib.BCE(), p, t)
    record_error(prefix(lib) + f"BCE target={target}", {"x": err})
    assert err < TOL


def test_small_dcgan_end_to_end(xp_backend, lib, record_error):
    """A whole (tiny) discriminator stack, BatchNorm and all, checked as one layer."""
    D = lib.Sequential(
        lib.Conv2d(1, 2, 4, 2, 1, bias=False), lib.LeakyReLU(0.2),
        lib.Conv2d(2, 3, 4, 2, 1, bias=False), lib.BatchNorm2d(3), lib.LeakyReLU(0.2),
        lib.Conv2d(3, 1, 2, 1, 0, bias=False))
    errors = check_layer(D, (3, 1, 8, 8))
    record_error(prefix(lib) + "tiny D (conv+BN+LeakyReLU)", errors)
    assert max(errors.values()) < TOL, errors
    G = lib.Sequential(
        lib.ConvTranspose2d(4, 3, 2, 1, 0, bias=False), lib.BatchNorm2d(3), lib.ReLU(),
        lib.ConvTranspose2d(3, 1, 4, 2, 1, bias=False), lib.Tanh())
    errors = check_layer(G, (3, 4, 1, 1))
    record_error(prefix(lib) + "tiny G (convT+BN+ReLU+Tanh)", errors)
    assert max(errors.values()) < TOL, errors


def test_softmax_cross_entropy_values_and_stability(xp_backend, lib):
    from nn import backend
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, grad = lib.SoftmaxCrossEntropy()(backend.to_device(x, "float64"), backend.to_device(np.array([0, 2])))
    assert abs(float(loss) - np.log(3) / 2) < 1e-12                  # row 1: -log 1 = 0, row 2: log 3
    g = backend.to_numpy(grad)
    np.testing.assert_allclose(g, [[0, 0, 0], [1 / 6, 1 / 6, -1 / 3]], atol=1e-12)
    assert np.isfinite(backend.to_numpy(nn.log_softmax(backend.to_device(x, "float64")))).all()


@pytest.mark.parametrize("loss", ["BCEWithLogits", "BCE"])
def test_losses_are_0d_device_arrays(xp_backend, lib, loss):
    """The documented contract: a 0-d array on the active device, which ``to_numpy`` brings back."""
    x = backend.to_device(np.array([[0.2], [0.7]]))
    value, _ = getattr(lib, loss)()(x, 1.0)
    assert value.shape == ()
    assert not isinstance(value, np.generic), "a NumPy scalar, not a 0-d array"
    host = backend.to_numpy(value)
    assert host.shape == () and host.dtype == np.float32


def test_softmax_cross_entropy_loss_is_a_0d_device_array(xp_backend, lib):
    x = backend.to_device(np.array([[0.2, 1.0], [0.7, -1.0]]))
    value, _ = lib.SoftmaxCrossEntropy()(x, backend.to_device(np.array([0, 1])))
    assert value.shape == () and not isinstance(value, np.generic)
    assert backend.to_numpy(value).shape == ()
