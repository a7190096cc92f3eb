"""The gradient checks can fail: plant a bug in the real code and watch them catch it.

Each planted bug is the layer's own code (``nn.gradcheck.planted_bug``: its source, recompiled) with one
thing changed, so it differs from the real backward by exactly the term it names. Each has its control:
the same copy with nothing changed passes the same check. If a check passed a planted bug, the suite would
be proving nothing about that term; if the control failed, the bug would be caught for another reason.
"""
import numpy as np
import pytest

import nn
from nn import batchnorm, conv, im2col
from nn.gradcheck import check_layer, layer_gradients, planted_bug

PASS = 1e-6          # a correct backward: about 1e-10
CAUGHT = 1e-2        # a wrong one

BATCHNORMS = [(lambda: nn.BatchNorm2d(3), (4, 3, 2, 2), {"x"}), (lambda: nn.BatchNorm1d(3), (6, 3), {"x"})]
# (name, the function, the text of the real code, what the bug puts there,
#  [(a layer whose check runs it, its input shape, the gradients the bug breaks there), ...])
BUGS = [
    ("batchnorm without the path through mu", batchnorm.BatchNorm.backward, " - mean(g)", "", BATCHNORMS),
    ("batchnorm without the path through var", batchnorm.BatchNorm.backward, " - xhat * mean(g * xhat)", "", BATCHNORMS),
    ("batchnorm without gamma", batchnorm.BatchNorm.backward, "g = dy * gamma", "g = dy", BATCHNORMS),
    ("batchnorm's dgamma without xhat", batchnorm.BatchNorm.backward, "xp.sum(dy * xhat, axis=self.axes)",
     "xp.sum(dy, axis=self.axes)", [(make, shape, {"weight"}) for make, shape, _ in BATCHNORMS]),
    # k=4, s=2: windows overlap. col2im is Conv2d's backward (dx breaks) and ConvTranspose2d's forward
    # (its output breaks, so does every gradient the check derives from it but the bias's)
    ("col2im that overwrites where windows overlap", im2col.col2im, "window += cols[", "window[...] = cols[",
     [(lambda: nn.Conv2d(2, 2, 4, 2, 1), (2, 2, 6, 6), {"x"}),
      (lambda: nn.ConvTranspose2d(2, 2, 4, 2, 1), (2, 2, 3, 3), {"x", "weight"})]),
]


def check_with(monkeypatch, function, replacement, make, shape):
    if function is im2col.col2im:
        monkeypatch.setattr(conv, "col2im", replacement)          # conv.py calls col2im by this name
    else:
        monkeypatch.setattr(batchnorm.BatchNorm, "backward", replacement)
    return check_layer(make(), shape)


@pytest.mark.parametrize("name, function, old, new, layers", BUGS, ids=[b[0] for b in BUGS])
def test_a_planted_bug_is_caught_and_its_control_passes(monkeypatch, name, function, old, new, layers):
    for make, shape, broken in layers:
        control = check_with(monkeypatch, function, planted_bug(function, old, old), make, shape)
        errors = check_with(monkeypatch, function, planted_bug(function, old, new), make, shape)
        print(f"{name}, {type(make()).__name__}: control {control}, planted {errors}")
        assert max(control.values()) < PASS, control                       # nothing changed: passes
        for grad, error in errors.items():
            if grad in broken:
                assert error > CAUGHT, (grad, errors)                       # the term it drops: caught
            else:
                assert error < PASS, (grad, errors)                         # the rest: still right


def test_a_planted_bug_that_no_longer_matches_the_code_fails_loudly():
    with pytest.raises(ValueError, match="occurs 0 times"):
        planted_bug(batchnorm.BatchNorm.backward, "xhat * mean(g) * xhat", "")
    with pytest.raises(ValueError, match="occurs 2 times"):
        planted_bug(batchnorm.BatchNorm.backward, "mean(g", "")


def test_what_planted_bug_cannot_copy_is_refused_by_name():
    """A class, a fused kernel object, a method calling super(): a TypeError that says so, not an error later."""
    from nn.fast import activations as fast_activations
    with pytest.raises(TypeError, match="not type 'BatchNorm2d'"):
        planted_bug(nn.BatchNorm2d, "x", "y")
    with pytest.raises(TypeError, match="not fused"):
        planted_bug(fast_activations.relu, "x", "y")
    with pytest.raises(TypeError, match="calls super"):
        planted_bug(nn.BatchNorm2d.__init__, "eps", "eps")
    bound = planted_bug(nn.BatchNorm2d(2).backward, " - mean(g)", " - mean(g)")     # a bound method: its function
    assert bound.__name__ == "backward"


def test_a_sum_as_upstream_gradient_would_hide_the_bug(monkeypatch):
    """Why the checks use a random dout: with dout = 1 everywhere, BatchNorm's dx is 0 whether or not the
    path through var is there (g - mean(g) = 0 and mean(g * xhat) = gamma * mean(xhat) = 0), so the check
    passes the broken backward; the random dout of every other check catches it."""
    shape = (4, 3, 2, 2)
    x = np.random.default_rng(0).standard_normal(shape)
    real, _ = layer_gradients(nn.BatchNorm2d(3).astype(np.float64), x, np.ones(shape))
    dropped = planted_bug(batchnorm.BatchNorm.backward, " - xhat * mean(g * xhat)", "")
    monkeypatch.setattr(batchnorm.BatchNorm, "backward", dropped)
    broken, _ = layer_gradients(nn.BatchNorm2d(3).astype(np.float64), x, np.ones(shape))
    with_random = check_layer(nn.BatchNorm2d(3), shape)
    print(f"dout = 1: real and broken dx differ by {np.abs(broken - real).max():.1e};  random dout: {with_random}")
    assert np.abs(real).max() < 1e-12 and np.abs(broken - real).max() < 1e-12    # the same dx: hidden
    assert with_random["x"] > CAUGHT                                            # caught
