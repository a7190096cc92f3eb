"""nn: a tiny, autograd-free layer library on a pluggable array backend.

Every layer has a hand-written ``forward`` and ``backward`` that computes the
maths in its docstring; see ``module.py`` for how they pair up and how
gradients accumulate, and ``gradcheck.py`` for how each backward is proven
against numerical gradients. ``nn.fast`` holds the same layers rewritten for
a GPU (``import nn.fast``; tested equal to these).
"""
from . import backend, init
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .batchnorm import BatchNorm, BatchNorm1d, BatchNorm2d, frozen_running_stats
from .conv import Conv2d, ConvTranspose2d
from .ema import EMA
from .linear import Linear
from .losses import BCE, BCEWithLogits, SoftmaxCrossEntropy, log_softmax, softmax
from .module import Module, Parameter, Sequential, frozen
from .optim import Adam
from .reshape import Flatten, Reshape

__all__ = [
    "backend", "init", "Module", "Parameter", "Sequential",
    "Conv2d", "ConvTranspose2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "Linear", "Reshape", "Flatten",
    "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "BCEWithLogits", "BCE", "SoftmaxCrossEntropy",
    "sigmoid", "log_softmax", "softmax", "Adam", "EMA",
    "frozen", "frozen_running_stats",
]
