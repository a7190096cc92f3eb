"""Pictures in and out: uint8 pixels <-> [-1, 1] model range, sample grids, PNG and GIF files.

The models see images as float32 in [-1, 1] (G ends in Tanh); files hold
uint8 in [0, 255]. x = u / 127.5 - 1 one way, u = round((x + 1) * 127.5)
clipped to [0, 255] the other.
"""
import math

import numpy as np

from nn import backend


def to_model_range(batch_uint8):
    """uint8 images on the host -> float32 in [-1, 1] on the active device (the copy is 4x smaller as uint8)."""
    xp = backend.xp()
    x = backend.to_device(batch_uint8)
    return xp.astype(x, xp.float32) / 127.5 - 1.0


def to_uint8(images):
    """Host float array in [-1, 1], (N, C, H, W) -> uint8 (N, H, W, C)."""
    x = np.clip((np.asarray(images, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def image_grid(images, nrow=8, pad=2):
    """(N, C, H, W) in [-1, 1] -> one uint8 grid image (rows of ``nrow``), white-ish borders."""
    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    ncol = nrow
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = tiles[i]
    return grid


def _pil(array):
    from PIL import Image
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def save_png(array, path):
    """An (H, W, C) uint8 array as a PNG (grey when C == 1)."""
    _pil(array).save(path)


def save_gif(frames, path, duration_ms=400):
    """(H, W, C) uint8 frames as a looping GIF."""
    if frames:
        pil = [_pil(f) for f in frames]
        pil[0].save(path, save_all=True, append_images=pil[1:], duration=duration_ms, loop=0)
