"""nn.fast computes what nn computes: every fast layer, optimiser, loss and a whole training step agree
with the readable ones they stand in for, values and dtypes (float32 in, float32 out), on NumPy.

The readable layers are the reference: their own backward passes are proven against numerical
gradients (tests/test_gradients.py); the fast ones are proven equal to them here, and gradient-checked
too (test_gradients.py runs both libraries).
"""
import numpy as np
import pytest

import nn
from nn import backend, fast
from nn import im2col as readable
from nn.fast import im2col as quick
from tests.test_fuse import every_fused_layer_forward_backward

SHAPES = [((2, 3, 8, 8), 4, 2, 1), ((2, 4, 4, 4), 4, 1, 0), ((3, 2, 5, 5), 3, 1, 1), ((2, 2, 7, 7), 3, 2, 1),
          ((2, 3, 1, 1), 4, 1, 3)]


def test_every_fast_class_is_a_subclass_of_the_readable_one_of_its_name():
    """Same constructor, parameters, state and repr: a model of either prints and checkpoints alike."""
    for name in fast.__all__:
        readable_one = getattr(nn, name)
        if isinstance(readable_one, type):
            assert issubclass(getattr(fast, name), readable_one), name


@pytest.mark.parametrize("shape, k, s, p", SHAPES)
def test_fast_im2col_and_col2im_give_the_readable_columns_and_image(shape, k, s, p):
    """The fast columns are ordered (oh, ow, n), the readable ones (n, oh, ow): the same values."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    N, C, H, W = shape
    OH, OW = readable.conv_output_size(H, k, s, p), readable.conv_output_size(W, k, s, p)
    slow, quick_cols = readable.im2col(x, k, k, s, p), quick.im2col(x, k, k, s, p)
    reordered = np.reshape(np.transpose(np.reshape(quick_cols, (-1, OH, OW, N)), (0, 3, 1, 2)), slow.shape)
    assert slow.dtype == quick_cols.dtype == np.float32
    np.testing.assert_array_equal(reordered, slow)

    cols = rng.standard_normal(slow.shape).astype(np.float32)                         # (n, oh, ow) order
    as_quick = np.reshape(np.transpose(np.reshape(cols, (-1, N, OH, OW)), (0, 2, 3, 1)), cols.shape)
    a, b = readable.col2im(cols, shape, k, k, s, p), quick.col2im(as_quick, shape, k, k, s, p)
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == shape
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_every_fast_layer_agrees_with_the_readable_one():
    """Outputs, input and weight gradients of every layer with a fast part, train and eval, then three
    Adam steps and the weight average: float32 throughout, equal to float32 rounding."""
    slow, quick_out = every_fused_layer_forward_backward(nn), every_fused_layer_forward_backward(fast)
    assert slow.keys() == quick_out.keys()
    for part in slow:
        assert len(slow[part]) == len(quick_out[part])
        for i, (a, b) in enumerate(zip(slow[part], quick_out[part])):
            assert a.dtype == b.dtype == np.float32, (part, i, a.dtype, b.dtype)
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{part} #{i}")


def test_fast_sigmoid_and_loss_agree_with_the_readable_ones():
    x = backend.to_device(np.linspace(-80, 80, 41).reshape(41, 1))
    np.testing.assert_allclose(fast.sigmoid(x), nn.sigmoid(x), rtol=1e-6)
    for target in (1.0, 0.0, 0.9):
        (la, ga), (lb, gb) = nn.BCEWithLogits()(x, target), fast.BCEWithLogits()(x, target)
        assert ga.dtype == gb.dtype == np.float32 and la.dtype == lb.dtype == np.float32
        np.testing.assert_allclose(float(la), float(lb), rtol=1e-6)
        np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-9)


def test_a_training_step_on_either_library_gives_the_same_models():
    """Three whole DCGAN steps (D, G, Adam, the averaged G) from the same start: the same losses and weights.

    Weights within one Adam step (lr = 2e-4): for a gradient near 0, Adam's m_hat / sqrt(v_hat) divides
    float32 rounding by rounding, so a rare weight moves by up to lr differently; all but those agree
    to rounding (the median difference)."""
    from benchmarks.cases import make_trainer

    def run(layers):
        backend.seed(0)
        trainer = make_trainer(32, 1, 8, ema=True, layers=layers)
        losses = [backend.to_numpy(trainer.step(*trainer.next_batch())) for _ in range(3)]
        return losses, {**trainer.G.state_dict(), **{"avg." + k: v for k, v in trainer.G_avg.state_dict().items()}}

    (slow_losses, slow), (quick_losses, quick_state) = run(nn), run(fast)
    np.testing.assert_allclose(slow_losses, quick_losses, rtol=1e-4, atol=1e-5)
    assert slow.keys() == quick_state.keys()
    for name in slow:
        assert slow[name].dtype == quick_state[name].dtype == np.float32, name
        difference = np.abs(slow[name] - quick_state[name])
        assert difference.max() < 2e-4 and np.median(difference) < 1e-6, (name, difference.max())
