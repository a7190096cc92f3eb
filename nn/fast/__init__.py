"""nn.fast: the same layers, written for speed: what a GPU runs.

``nn/`` is written to be read: each layer computes the maths in its
docstring, line by line, and that is what a NumPy training step runs. On a
GPU every array operation is a kernel launch, and at a DCGAN's size the
launches, not the arithmetic, decide the step time. So this package holds
the same layers rewritten for that (CS231n's ``fast_layers.py`` beside its
``layers.py``):

* ``fuse.py``: ``@fused``, a chain of element-wise operations as one GPU kernel;
* ``im2col.py``, ``conv.py``: images in (C, H, W, N) memory, so that no
  layout copy sits between the GEMMs, and im2col/col2im in one copy or a few adds;
* ``batchnorm.py``, ``activations.py``, ``losses.py``, ``optim.py``,
  ``ema.py``: the element-wise work fused, BatchNorm in fewer passes;
* ``cpu_kernels.py``, ``numba_loops.py``: the CPU's counterpart of a fused
  kernel, compiled loops on every core, used on NumPy when numba is installed
  (optional: ``requirements-numba.txt``; ``DCGAN_NUMBA=0`` turns them off).

Every class here is a subclass of the readable one with the same name, with
the same constructor, parameters, state and values; only ``forward`` and
``backward`` (``step``/``update`` for Adam and EMA, ``__call__`` for the
loss) differ. ``tests/test_fast_layers.py`` holds each to its readable
counterpart (values and dtypes), and ``tests/test_cupy_kernels.py`` compiles
every fused kernel for the GPU.

This module is a drop-in for ``nn`` wherever a model is built::

    import nn.fast as layers          # or: import nn as layers
    G = layers.Sequential(layers.ConvTranspose2d(100, 256, 4, 1, 0), layers.BatchNorm2d(256), ...)

``dcgan.py`` builds its models from ``nn.fast`` on CuPy and from ``nn`` on
NumPy (``gan/models.py``, ``layer_library``).
"""
from ..linear import Linear
from ..losses import BCE, SoftmaxCrossEntropy
from ..module import Module, Parameter, Sequential
from ..reshape import Flatten, Reshape
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d, ConvTranspose2d
from .ema import EMA
from .losses import BCEWithLogits
from .optim import Adam

__all__ = [
    "Module", "Parameter", "Sequential",
    "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "Linear", "Reshape", "Flatten",
    "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "BCEWithLogits", "BCE", "SoftmaxCrossEntropy", "Adam", "EMA",
    "sigmoid",
]
