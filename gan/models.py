"""The DCGAN's two networks, built from nn/ layers, their initialisation, and sampling from G.

G: z (N, nz, 1, 1) -> image (N, nc, S, S) in [-1, 1]: transposed convolutions
doubling the size (4 -> 8 -> ... -> S), BatchNorm + ReLU after each but the
last, Tanh at the end. D mirrors it: strided convolutions halving the size,
BatchNorm (not on the input layer) + LeakyReLU(0.2), one logit at the end.
S is any power of two from 16 to 128 (``IMAGE_SIZES``): the paper's rule,
one stride-2 layer per doubling, so log2(S) - 2 hidden widths, the widest
next to the 4x4 maps. ``shapes`` and ``model_table`` show each layer's output.
Weights are drawn as the paper says (section 4): N(0, 0.02), BatchNorm's
gamma N(1, 0.02), biases 0.
"""
import math

import numpy as np

import nn
from datasets.images import SUPPORTED_SIZES, size_problem
from nn import backend
from nn.batchnorm import is_batchnorm

from .errors import UserError
from .memory import FLOAT32, check_fits

IMAGE_SIZES = SUPPORTED_SIZES      # 16 to 128: G doubles 4x4 maps 2 to 5 times (one list, in datasets/images.py)
LAYER_LIBRARIES = ("nn", "fast")
_chosen_layers = [None]            # set by use_layers (--layers); None: the backend's default


def use_layers(choice):
    """Build models from these layers from now on: "nn", "fast", a library of layers (a module like nn: a folder
    of exercises, as ``exercises.library.layer_library`` makes it), or None for the backend's default."""
    if isinstance(choice, str) and choice not in LAYER_LIBRARIES:
        raise UserError(f"--layers {choice}: choose nn (the readable layers), fast (nn/fast/), or a folder of "
                        "exercises (python -m exercises)")
    _chosen_layers[0] = choice


def chosen_layers():
    """What --layers said: "nn", "fast", a library of layers, or None (the backend's default)."""
    return _chosen_layers[0]


def layers_name(layers):
    """The --layers value of a layer library: "nn" for nn, "fast" for nn.fast, the folder of a student's."""
    if getattr(layers, "student_folder", None):
        return layers.student_folder
    return "fast" if layers.__name__ == "nn.fast" else "nn"


def layer_library():
    """The module models are built from, and trained with (its Adam, EMA and BCEWithLogits): ``nn``, the
    readable layers a student reads and steps through (the default on NumPy), or ``nn.fast``, the same
    interfaces and values with fused kernels and a copy-free layout (nn/fast/__init__.py; the default on
    CuPy), or a student's (``python -m exercises``). ``use_layers`` (``--layers``) chooses on any backend."""
    choice = _chosen_layers[0] or ("fast" if backend.name() == "cupy" else "nn")
    if not isinstance(choice, str):
        return choice
    if choice == "fast":
        from nn import fast
        return fast
    return nn


def build_generator(nz=100, ngf=64, nc=1, image_size=32, head="conv", layers=nn):
    """z (N, nz, 1, 1) -> image (N, nc, S, S) in [-1, 1].

    S = 16: nz -> 2ngf x 4x4 -> ngf x 8x8 -> nc x 16x16
    S = 32: nz -> 4ngf x 4x4 -> 2ngf x 8x8 -> ngf x 16x16 -> nc x 32x32
    S = 64: nz -> 8ngf x 4x4 -> 4ngf x 8x8 -> 2ngf x 16x16 -> ngf x 32x32 -> nc x 64x64
    S = 128: one more, 16ngf x 4x4 first

    head="linear" (the "linear DCGAN" variant) makes the first step z -> 4x4
    maps a Linear layer with BatchNorm1d instead of a (4, 1, 0) transposed conv.
    ``layers``: the library the layers come from, ``nn`` itself or ``nn.fast`` (``layer_library``).
    """
    widths = hidden_widths(ngf, image_size)                # e.g. [4ngf, 2ngf, ngf] at 32
    w0 = widths[0]
    if head == "linear":
        net = [layers.Flatten(), layers.Linear(nz, w0 * 16, bias=False), layers.BatchNorm1d(w0 * 16),
               layers.ReLU(), layers.Reshape(w0, 4, 4)]
    else:
        net = [layers.ConvTranspose2d(nz, w0, 4, 1, 0, bias=False), layers.BatchNorm2d(w0), layers.ReLU()]
    for cin, cout in zip(widths, widths[1:]):
        net += [layers.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), layers.BatchNorm2d(cout), layers.ReLU()]
    net += [layers.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), layers.Tanh()]
    return layers.Sequential(*net)


def build_discriminator(ndf=64, nc=1, image_size=32, head="conv", layers=nn):
    """image (N, nc, S, S) -> logit (N, 1): the mirror image of the generator, no BN on the input layer.

    head="linear" ends in Flatten + Linear(widest*4*4 -> 1) instead of a (4, 1, 0) conv (widest: 4ndf
    at 32, 8ndf at 64). ``layers``: the library the layers come from, as for ``build_generator``.
    """
    widths = hidden_widths(ndf, image_size)[::-1]          # e.g. [ndf, 2ndf, 4ndf] at 32
    net = [layers.Conv2d(nc, widths[0], 4, 2, 1, bias=False), layers.LeakyReLU(0.2)]
    for cin, cout in zip(widths, widths[1:]):
        net += [layers.Conv2d(cin, cout, 4, 2, 1, bias=False), layers.BatchNorm2d(cout), layers.LeakyReLU(0.2)]
    if head == "linear":
        net += [layers.Flatten(), layers.Linear(widths[-1] * 16, 1)]
    else:
        net += [layers.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), layers.Flatten()]
    return layers.Sequential(*net)


def check_image_size(image_size):
    """The models' guard on ``IMAGE_SIZES`` (a checkpoint's config may hold any number): datasets' one check."""
    if size_problem(image_size):
        raise UserError(f"{size_problem(image_size)} (--image-size)")


def hidden_widths(base, image_size):
    """G's hidden widths from its 4x4 maps out, e.g. [4base, 2base, base] at 32: log2(S) - 2 of them."""
    check_image_size(image_size)
    n = int(math.log2(image_size)) - 2                     # 2 at 16, 3 at 32, 4 at 64, 5 at 128
    return [base * 2 ** i for i in reversed(range(n))]


def model_weights(nz, ngf, ndf, nc, image_size, d_channels=None):
    """How many weights G (nz -> nc channels) and D (``d_channels``, default nc -> 1) of these sizes have:
    their convolutions (or the linear head's equal count); BatchNorm's few are left out."""
    g = [nz] + hidden_widths(ngf, image_size) + [nc]
    d = [d_channels or nc] + hidden_widths(ndf, image_size)[::-1] + [1]
    return sum(16 * a * b for a, b in zip(g, g[1:])) + sum(16 * a * b for a, b in zip(d, d[1:]))


def shapes(model, input_shape):
    """(layer, output shape without the batch axis) for each layer of a Sequential ``model``, from one
    forward of two zero inputs of ``input_shape`` (no batch axis) in eval mode: no state changes."""
    was_training = model.training
    model.eval()
    x = backend.xp().zeros((2, *input_shape), dtype=backend.float_dtype())
    out = []
    for layer in model.layers:
        x = layer.forward(x)
        out.append((layer, tuple(x.shape[1:])))
    model.clear_cache()
    model.train(was_training)
    return out


def shape_line(name, model, input_shape):
    """"G: 100x1x1 -> 256x4x4 -> ... -> 1x32x32": the input, then the output of each layer with weights
    (BatchNorm's aside) and of each Reshape (the linear head's 4x4 maps)."""
    text = lambda shape: "x".join(map(str, shape))
    shown = lambda layer: (getattr(layer, "weight", None) is not None and not is_batchnorm(layer)
                           or isinstance(layer, nn.Reshape) and not isinstance(layer, nn.Flatten))
    steps = [text(shape) for layer, shape in shapes(model, input_shape) if shown(layer)]
    return f"{name}: {text(input_shape)} -> " + " -> ".join(steps)


def model_table(cfg, layers=None):
    """G's and D's layers for a Config, as ``print(netG)`` shows them, with each one's output shape and
    parameter count: what ``python dcgan.py --show-model`` prints."""
    G, D = build_models(cfg, layers)
    k, nc = cfg.n_classes, cfg.nc
    lines = []
    for name, model, input_shape in (("G", G, (cfg.nz + k, 1, 1)), ("D", D, (nc + k, cfg.image_size, cfg.image_size))):
        lines.append(f"{name}: {model.num_parameters():,} parameters, input {tuple(input_shape)}")
        for i, (layer, shape) in enumerate(shapes(model, input_shape)):
            lines.append(f"  ({i:>2}) {repr(layer):76s} -> {str(shape):14s} {layer.num_parameters():>10,}")
    return "\n".join(lines)


def build_models(cfg, layers=None):
    """G and D for a Config; a conditional model (n_classes K > 0) takes K more input channels in both.
    ``layers``: ``nn`` or ``nn.fast``; by default ``layer_library()``'s choice."""
    check_models_fit(cfg)
    layers = layers or layer_library()
    k = cfg.n_classes
    G = build_generator(cfg.nz + k, cfg.ngf, cfg.nc, cfg.image_size, cfg.head, layers)
    D = build_discriminator(cfg.ndf, cfg.nc + k, cfg.image_size, cfg.head, layers)
    return dcgan_init(G), dcgan_init(D)


def check_models_fit(cfg):
    """One line instead of a MemoryError when G's and D's weights alone cannot fit in memory."""
    k, nc = cfg.n_classes, cfg.nc or 1
    check_image_size(cfg.image_size)
    n = model_weights(cfg.nz + k, cfg.ngf, cfg.ndf, nc, cfg.image_size, d_channels=nc + k)
    check_fits(n * FLOAT32, f"--nz {cfg.nz} --ngf {cfg.ngf} --ndf {cfg.ndf} at {cfg.image_size}x{cfg.image_size}",
               f"G's and D's {n:.2g} parameters (float32)")


def dcgan_init(model, std=0.02):
    """The paper's initialisation: conv and linear weights ~ N(0, std), BatchNorm gamma ~ N(1, std), biases 0.

    What PyTorch's DCGAN example does in ``weights_init``; in place, as every update of a Parameter is.
    """
    for layer in model.modules():
        if getattr(layer, "weight", None) is None:
            continue
        w = layer.weight
        w.data[...] = backend.randn(w.shape, std=std, mean=1.0 if is_batchnorm(layer) else 0.0,
                                    dtype=w.data.dtype)
        if layer.bias is not None:
            layer.bias.data[...] = 0.0
    return model


def grid_noise(cfg, n):
    """The fixed noise the sample grids are drawn from: n latent vectors (n, nz, 1, 1) from the run's seed + 1,
    apart from every draw training makes, so that each grid shows G at the same z."""
    return np.random.default_rng(cfg.seed + 1).standard_normal((n, cfg.nz, 1, 1)).astype(np.float32)


def with_labels(x, labels, n_classes):
    """Append one-hot label channels, constant over H and W: (N, C, H, W) -> (N, C + K, H, W).

    This is how the conditional DCGAN sees the class: G gets it next to z
    (H = W = 1), D gets it as K extra image channels.
    """
    xp = backend.xp()
    n, _, h, w = x.shape
    onehot = backend.to_device(np.eye(n_classes, dtype=np.float32)[labels])       # (N, K)
    maps = xp.broadcast_to(xp.reshape(onehot, (n, n_classes, 1, 1)), (n, n_classes, h, w))
    return backend.concat([x, xp.astype(maps, x.dtype)], axis=1)


def first_weighted_layer(model):
    return next(m for m in model.layers if getattr(m, "weight", None) is not None)


def sample(G, z, bn_stats="batch", chunk=512, labels=None, n_classes=0):
    """G(z) as a host float32 array, without changing any state of G.

    For a conditional G pass the class of each sample in ``labels``.

    bn_stats="batch" normalises with each chunk's own batch statistics (what
    G saw in training: the default, see docs/usage.md), "running" with BatchNorm's
    running averages. Either way the running statistics are left as they were.
    """
    was_training = G.training
    G.train(bn_stats == "batch")
    out = []
    n_chunks = -(-z.shape[0] // chunk)
    edges = np.linspace(0, z.shape[0], n_chunks + 1).astype(int)   # equal chunks: no tiny last batch
    with nn.frozen_running_stats(G):
        for a, b in zip(edges[:-1], edges[1:]):
            zc = backend.to_device(z[a:b])
            if labels is not None:
                zc = with_labels(zc, labels[a:b], n_classes)
            out.append(backend.to_numpy(G.forward(zc)))
    G.clear_cache()                                        # nothing will backpropagate through this
    G.train(was_training)
    return np.concatenate(out).astype(np.float32)


def slerp(a, b, t):
    """Spherical interpolation between latent vectors a and b (what N(0, I) samples lie near)."""
    a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
