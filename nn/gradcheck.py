"""Gradient checking: compare a hand-written backward with central differences.

For a layer y = f(x) and a *random* upstream gradient dout, backward must
return dL/dx for L = sum(y * dout). Numerically, for each element x_i::

    dL/dx_i  ~=  (L(x + h e_i) - L(x - h e_i)) / (2h)          (error O(h^2))

and the same for every parameter. In float64 with h = 1e-6 the two agree to
about 1e-10 (the tests bound it at 1e-6); a wrong backward is off by 1e-2 or
more. Why a random dout and not sum(y)? With dout = 1 everywhere,
BatchNorm's dx is exactly 0 whatever its backward does with the variance
term, so such a check cannot tell a backward that dropped it from the right
one (``tests/test_mutation.py`` shows it).

The error of a whole gradient array, ``rel_error``::

    max|a - b| / max(1e-8, max(|a| + |b|))

the largest difference, relative to the largest magnitude in either array.
(Not CS231n's ``rel_error``, the largest element-wise ratio
max(|a - b| / max(1e-8, |a| + |b|)): there one element whose true gradient
is nearly 0 can show a large error that is only rounding.)

Three lines check any layer::

    import nn
    from nn.gradcheck import check_layer
    errors = check_layer(nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 5, 5))
    print(errors)      # {'x': 4e-10, 'weight': 5e-10, 'bias': 1e-9}

Can the check fail? ``planted_bug`` makes a copy of a layer's real code with
one thing changed (a term dropped, an add made an overwrite), and the
lesson is that the check then fails, while the same copy with nothing
changed, the control, passes::

    from nn.gradcheck import planted_bug

    class Broken(nn.BatchNorm2d):                                       # drop the path through mu
        backward = planted_bug(nn.BatchNorm2d.backward, " - mean(g)", "")

    class Control(nn.BatchNorm2d):                                      # the same copy, nothing dropped
        backward = planted_bug(nn.BatchNorm2d.backward, " - mean(g)", " - mean(g)")

    print(check_layer(Broken(3), (4, 3, 2, 2)))    # dx about 5e-2: caught; dweight, dbias still right
    print(check_layer(Control(3), (4, 3, 2, 2)))   # about 1e-10 each

(``old`` is text of the function's own source as ``inspect.getsource``
shows it, dedented: copy it from there, exactly once.)

``LAYER_CASES`` and ``LOSS_CASES`` are the cases every layer and loss of
the DCGAN is checked on, one list: the tour prints them
(``python -m examples.gradcheck_tour``), the tests check them for ``nn`` and
``nn.fast`` (tests/test_gradients.py, which adds a sweep of convolution shapes).

Everything here runs in float64 on the active backend; the finite
differences themselves are driven from the host (NumPy), one element at a time,
so keep the shapes tiny.
"""
import inspect
import textwrap

import numpy as np

from . import backend


def rel_error(a, b):
    """max|a - b| / max(1e-8, max(|a| + |b|)) over the whole arrays, on host or device arrays."""
    a = np.asarray(backend.to_numpy(a), dtype=np.float64)
    b = np.asarray(backend.to_numpy(b), dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def numerical_gradient(f, x, dout, h=1e-6):
    """d sum(f(x) * dout) / dx by central differences.

    ``f`` maps a host float64 array shaped like ``x`` to a host array shaped
    like ``dout``; ``x`` and ``dout`` are host NumPy arrays. Returns a host array.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + h
        plus = np.sum(f(x) * dout)
        x[idx] = orig - h
        minus = np.sum(f(x) * dout)
        x[idx] = orig
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def _f64(a):
    return backend.to_device(a, "float64")


def layer_gradients(layer, x, dout):
    """Analytic gradients: (dx, {param name: grad}) from one forward and backward, as host arrays."""
    layer.zero_grad()
    layer.forward(_f64(x))
    dx = layer.backward(_f64(dout))
    host = lambda a: None if a is None else backend.to_numpy(a)              # noqa: E731 (None: not given)
    return host(dx), {n: host(p.grad) for n, p in layer.named_parameters()}


def check_layer(layer, x_shape, seed=0, h=1e-6, x=None, dout=None):
    """Relative errors of a layer's input and parameter gradients, {'x': e, name: e, ...}.

    The layer is cast to float64 in place and its parameters are re-drawn
    from N(0, 1): with BatchNorm's defaults gamma = 1, beta = 0 a backward
    that forgot gamma would pass. ``x`` (host array) overrides the random
    input, ``dout`` (host array) the random upstream gradient.
    """
    return {name: rel_error(analytic, numerical)
            for name, (analytic, numerical) in gradient_pairs(layer, x_shape, seed, h, x, dout).items()}


def randomize(layer, rng):
    """Cast ``layer`` to float64 in place and draw every parameter from N(0, 1) with ``rng`` (BatchNorm's
    defaults gamma = 1, beta = 0 would hide a backward that forgot gamma)."""
    layer.astype(backend.xp().float64)
    for _, p in layer.named_parameters():
        p.data = _f64(rng.standard_normal(p.shape))


def gradient_pairs(layer, x_shape, seed=0, h=1e-6, x=None, dout=None):
    """``check_layer``'s arrays: {'x': (analytic dx, numerical dx), name: (analytic, numerical), ...}, host
    arrays (an analytic gradient the layer did not give is None), for a reader that wants more than the error."""
    rng = np.random.default_rng(seed)
    randomize(layer, rng)
    x = rng.standard_normal(x_shape) if x is None else np.asarray(x, dtype=np.float64)
    out_shape = layer.forward(_f64(x)).shape
    layer.clear_cache()
    dout = rng.standard_normal(out_shape) if dout is None else np.asarray(dout, dtype=np.float64)

    dx, grads = layer_gradients(layer, x, dout)

    def run(x_host):
        y = backend.to_numpy(layer.forward(_f64(x_host)))
        layer.clear_cache()                           # finite differences never call backward
        return y

    pairs = {"x": (dx, numerical_gradient(run, x, dout, h))}
    for name, p in layer.named_parameters():
        original = p.data

        def run_p(v, p=p):
            p.data = _f64(v)
            return run(x)

        pairs[name] = (grads[name], numerical_gradient(run_p, backend.to_numpy(original), dout, h))
        p.data = original
    return pairs


def check_loss(loss_fn, x, target, h=1e-6, seed=0):
    """Relative error of ``loss_fn(x, target)``'s gradient; x a host float array, target a
    number, a host float array (cast to float64) or a host integer array (class labels)."""
    rng = np.random.default_rng(seed)
    scale = float(rng.standard_normal())              # a random upstream gradient for a scalar
    if np.ndim(target) == 0:
        t = target
    elif np.asarray(target).dtype.kind in "iu":
        t = backend.to_device(target)
    else:
        t = _f64(target)
    _, grad = loss_fn(_f64(x), t)

    def f(x_host):
        loss, _ = loss_fn(_f64(x_host), t)
        return np.asarray(float(loss))

    return rel_error(scale * backend.to_numpy(grad), numerical_gradient(f, x, scale, h))


def away_from_zero(shape, seed=1):
    """A random host input with every |x| >= 0.1: h = 1e-6 never straddles ReLU's kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


def _with_running_stats(bn, mean, var):
    """A BatchNorm in eval mode whose running statistics are not the defaults (0 and 1), which would hide
    a backward that forgot them."""
    bn.running_mean = backend.to_device(mean)
    bn.running_var = backend.to_device(var)
    return bn.eval()


# Every layer of the DCGAN, one tiny instance each: (name, make(library) -> layer, input shape). ``library``
# is a module of layers: nn, nn.fast, or a student's own (``L.Conv2d`` ...). The input is ``away_from_zero``.
LAYER_CASES = [
    ("Conv2d(3, 4, k=4, s=2, p=1)", lambda L: L.Conv2d(3, 4, 4, 2, 1), (2, 3, 6, 6)),          # D's down-sampling
    ("Conv2d(3, 2, k=4, s=1, p=0)", lambda L: L.Conv2d(3, 2, 4, 1, 0, bias=False), (2, 3, 4, 4)),   # D's last
    ("Conv2d(2, 3, k=3, s=1, p=1)", lambda L: L.Conv2d(2, 3, 3, 1, 1), (2, 2, 5, 5)),          # "same"
    ("ConvTranspose2d(4, 3, k=4, s=2, p=1)", lambda L: L.ConvTranspose2d(4, 3, 4, 2, 1), (2, 4, 3, 3)),   # G's up
    ("ConvTranspose2d(4, 2, k=4, s=1, p=0)", lambda L: L.ConvTranspose2d(4, 2, 4, 1, 0, bias=False),
     (2, 4, 1, 1)),                                                                          # G's first: z -> 4x4
    ("BatchNorm2d(3), train", lambda L: L.BatchNorm2d(3), (4, 3, 3, 2)),
    ("BatchNorm2d(3), eval", lambda L: _with_running_stats(L.BatchNorm2d(3), [0.5, -1.0, 2.0], [0.25, 2.0, 4.0]),
     (4, 3, 2, 2)),
    ("BatchNorm1d(4), train", lambda L: L.BatchNorm1d(4), (5, 4)),
    ("BatchNorm1d(2), eval", lambda L: _with_running_stats(L.BatchNorm1d(2), [0.3, -0.7], [1.5, 0.5]), (5, 2)),
    ("Linear(4, 3)", lambda L: L.Linear(4, 3), (5, 4)),
    ("Linear(4, 3, bias=False)", lambda L: L.Linear(4, 3, bias=False), (5, 4)),
    ("ReLU", lambda L: L.ReLU(), (2, 3, 2, 2)),
    ("LeakyReLU(0.2)", lambda L: L.LeakyReLU(0.2), (2, 3, 2, 2)),
    ("Tanh", lambda L: L.Tanh(), (2, 3, 2, 2)),
    ("Sigmoid", lambda L: L.Sigmoid(), (2, 3, 2, 2)),
    ("Flatten", lambda L: L.Flatten(), (2, 3, 2, 2)),
    ("Reshape(4, 2, 2)", lambda L: L.Reshape(4, 2, 2), (2, 16)),
]

# Every loss: (name, make(library) -> loss, input, target), host float64 arrays drawn once.
_rng = np.random.default_rng(2)
LOSS_CASES = [
    ("BCEWithLogits", lambda L: L.BCEWithLogits(), _rng.standard_normal((6, 1)) * 4,     # fairly saturated logits
     _rng.integers(0, 2, (6, 1)).astype(np.float64)),
    ("BCE (probabilities)", lambda L: L.BCE(), _rng.uniform(0.05, 0.95, (6, 1)), _rng.integers(0, 2, (6, 1)).astype(np.float64)),
    ("SoftmaxCrossEntropy", lambda L: L.SoftmaxCrossEntropy(), _rng.standard_normal((5, 4)) * 3, _rng.integers(0, 4, 5)),
]
del _rng


def planted_bug(function, old, new):
    """A copy of ``function`` (a function or method of nn/), compiled from its own source with the one
    occurrence of ``old`` replaced by ``new``: a bug planted in the real code, differing from it by
    exactly that. ``old == new`` gives the control, the real code recompiled unchanged.

    Raises ValueError unless ``old`` occurs exactly once in the source: when the code changes, a
    lesson whose bug no longer matches it fails loudly instead of planting something else. And
    TypeError for what it cannot copy: anything but a plain function or method, or one that calls
    ``super()`` (a copy compiled outside its class has no class to look up).
    """
    function = getattr(function, "__func__", function)            # a bound method: its function
    if not inspect.isfunction(function):
        raise TypeError(f"planted_bug copies a function or a method, not {type(function).__name__} "
                        f"{getattr(function, '__name__', function)!r} (for a layer: its class's method, "
                        "e.g. nn.BatchNorm2d.backward)")
    if "__class__" in function.__code__.co_freevars:
        raise TypeError(f"{function.__qualname__} calls super(): a copy compiled outside its class cannot; "
                        "plant the bug in a method that does not")
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != 1:
        raise ValueError(f"{old!r} occurs {source.count(old)} times in the source of {function.__qualname__} "
                         "(dedented, as inspect.getsource shows it), not exactly once: copy the text from "
                         "there; in a lesson, the planted bug no longer matches the code")
    namespace = dict(function.__globals__)
    exec(compile(source.replace(old, new), f"<{function.__qualname__}: {old!r} -> {new!r}>", "exec"), namespace)
    return namespace[function.__name__]
