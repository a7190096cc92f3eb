"""Parameters, the Module base class and Sequential.

How forward and backward pair up
--------------------------------
There is no autograd tape. Each layer's ``forward(x)`` keeps what its
``backward`` will need (its *cache*) and ``backward(dout)`` uses it up and
returns ``dx``. So a backward always belongs to the most recent forward of
that layer, and calling ``backward`` twice, or without a forward, raises.

Parameter gradients *accumulate* (``p.grad += dW``) until ``zero_grad()``,
exactly like PyTorch. That is what lets the discriminator see two batches
in one step, as in PyTorch's DCGAN example::

    D.zero_grad()
    loss_real, d = bce(D.forward(real), 1.0); D.backward(d)   # grads of real half
    loss_fake, d = bce(D.forward(fake), 0.0); D.backward(d)   # += grads of fake half
    opt_D.step()                                              # uses the sum

Skipping work nobody needs
--------------------------
An autograd framework computes every gradient it can reach; here a caller
can say what it does not need. ``model.requires_grad_(False)`` makes layers
skip their weight gradients. ``with frozen(D):`` does that for a block and
asks every layer for its input gradient: backpropagating *through* D into G
without training D, as the generator's update does. ``layer.needs_input_grad = False`` says nobody wants a layer's
input gradient (a network's first layer: nobody wants d/dimage): the layers
with a weight (``Conv2d``, ``ConvTranspose2d``, ``Linear``) then return None
from ``backward``, and ``Sequential`` stops there (for them dx is a GEMM).
The other layers ignore it and return dx.

Names, state_dict
-----------------
``named_parameters()`` lists every Parameter of a model by a dotted name
("0.weight", "3.running_mean" for buffers): a module's own first, then its children's in the order
they were assigned. ``state_dict()`` turns parameters and buffers (e.g.
BatchNorm running statistics) into a plain dict of host NumPy arrays, and
``load_state_dict`` copies such a dict back onto the active backend, so a
checkpoint written on the GPU loads on the CPU and vice versa.
"""
import math
from contextlib import contextmanager

import numpy as np

from . import backend


class Parameter:
    """A trainable array ``data`` and the gradient ``grad`` accumulated for it (None = zero)."""

    def __init__(self, data):
        self.data = data
        self.grad = None
        self.requires_grad = True          # False: layers skip computing this gradient

    def accumulate(self, g):
        """Add ``g`` (freshly computed by a layer's backward) to the gradient."""
        if self.grad is None:
            self.grad = g
        else:
            self.grad += g

    @property
    def shape(self):
        return tuple(self.data.shape)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={backend.dtype_name(self.data.dtype)})"


class Module:
    """Base class: subclasses assign Parameters, buffers and sub-Modules as attributes.

    Buffers are arrays that are state but not trained (BatchNorm's running
    statistics); a subclass lists their attribute names in ``buffers``.
    """

    buffers = ()
    needs_input_grad = True                # False: Conv2d, ConvTranspose2d and Linear return None for dx

    def __init__(self):
        self.training = True
        self._cache = None

    # -- forward / backward -------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def _save(self, *cache):
        self._cache = cache

    def clear_cache(self):
        """Drop what forward kept for backward, here and below: after inference-only forwards."""
        for m in self.modules():
            m._cache = None

    def _pop(self):
        """Return (and drop) what the last forward saved; a second backward is an error."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called without a matching forward()")
        cache, self._cache = self._cache, None
        return cache

    # -- the tree of modules ------------------------------------------------
    def children(self):
        """(name, Module) for each direct sub-module."""
        for key, value in vars(self).items():
            if isinstance(value, Module):
                yield key, value

    def modules(self):
        """This module and every module below it, depth first."""
        yield self
        for _, child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) for every parameter of this module and its children."""
        for key, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + key, value
        for key, child in self.children():
            yield from child.named_parameters(prefix + key + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """(dotted name, array) for every buffer of this module and its children."""
        for key in self.buffers:
            yield prefix + key, getattr(self, key)
        for key, child in self.children():
            yield from child.named_buffers(prefix + key + ".")

    def num_parameters(self):
        return sum(math.prod(p.shape) for p in self.parameters())

    # -- modes and gradients ------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag=True):
        """Switch the weight gradients of every parameter on or off (off: backward skips them)."""
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # -- dtype and checkpoints ----------------------------------------------
    def _set_buffer(self, dotted, value):
        *path, key = dotted.split(".")
        owner = self
        for part in path:
            owner = dict(owner.children())[part]
        setattr(owner, key, value)

    def astype(self, dtype):
        """Cast every parameter and buffer to ``dtype`` (float64 for gradient checks)."""
        xp = backend.xp()
        for _, p in self.named_parameters():
            p.data = xp.astype(p.data, dtype)
            p.grad = None
        for n, b in list(self.named_buffers()):
            self._set_buffer(n, xp.astype(b, dtype))
        return self

    def state_dict(self):
        """Every parameter and buffer as a host NumPy array, by dotted name."""
        state = {n: backend.to_numpy(p.data).copy() for n, p in self.named_parameters()}
        state.update({n: backend.to_numpy(b).copy() for n, b in self.named_buffers()})
        return state

    def load_state_dict(self, state):
        """Copy a ``state_dict()`` (from any backend) into this model, on the active backend.

        Raises ValueError naming the first missing, unexpected or mis-shaped entry,
        so a checkpoint of another architecture fails in one clear line.
        """
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = {**{n: p.shape for n, p in params.items()},
                    **{n: tuple(b.shape) for n, b in buffers.items()}}
        missing = [n for n in expected if n not in state]
        unexpected = [n for n in state if n not in expected]
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
        for n, shape in expected.items():
            if tuple(np.shape(state[n])) != shape:
                raise ValueError(f"state dict entry {n!r} has shape {tuple(np.shape(state[n]))}, "
                                 f"the model expects {shape}")
        for n, p in params.items():
            p.data[...] = backend.to_device(state[n], p.data.dtype)     # in place: p.data stays the same array
            p.grad = None
        for n, b in buffers.items():
            self._set_buffer(n, backend.to_device(state[n], b.dtype))

    def __repr__(self):
        inner = "".join(f"\n  ({k}): " + repr(m).replace("\n", "\n  ") for k, m in self.children())
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"

    def extra_repr(self):
        return ""


@contextmanager
def frozen(model):
    """Inside the block, backpropagate through ``model`` without training it: its backward computes no
    weight gradients (``requires_grad_(False)``) and returns its input gradient from every layer
    (``needs_input_grad``); afterwards both are as they were. PyTorch gets the same by backpropagating
    G's loss through D and not stepping D's optimizer."""
    was = {m: m.needs_input_grad for m in model.modules()}
    needed = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    for m in was:
        m.needs_input_grad = True
    try:
        yield model
    finally:
        for m, flag in was.items():
            m.needs_input_grad = flag
        for p, flag in zip(model.parameters(), needed):
            p.requires_grad = flag


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse. Children are named "0", "1", ..."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
            if dout is None:               # a layer whose input gradient nobody needs: stop here
                break
        return dout

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)
