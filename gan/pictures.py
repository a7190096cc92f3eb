"""Pictures in and out: uint8 pixels <-> [-1, 1] model range, sample grids, PNG and GIF files, the loss plot.

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


def plot_losses(rows, path):
    """losses.png from metrics.csv's rows: D and G loss, D(x) and D(G(z)), and the FCD when scored."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not rows:
        return
    col = {k: np.array([float(r.get(k) or "nan") for r in rows]) for k in ("step", "loss_d", "loss_g", "d_x", "d_g_z", "fcd")}
    has_fcd = np.isfinite(col["fcd"]).any()
    fig, axes = plt.subplots(3 if has_fcd else 2, 1, figsize=(9, 8.5 if has_fcd else 6), sharex=True)
    ax1, ax2 = axes[0], axes[1]
    ax1.plot(col["step"], col["loss_d"], label="D loss")
    ax1.plot(col["step"], col["loss_g"], label="G loss")
    ax1.set_ylabel("BCE loss")
    ax1.legend()
    ax1.set_title("DCGAN training")
    ax2.plot(col["step"], col["d_x"], label="D(x), real")
    ax2.plot(col["step"], col["d_g_z"], label="D(G(z)), fake")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("mean D output")
    ax2.legend()
    if has_fcd:
        ok = np.isfinite(col["fcd"])
        axes[2].plot(col["step"][ok], col["fcd"][ok], "o-", color="C3", label="Frechet classifier distance")
        axes[2].set_ylabel("FCD (lower is better)")
        axes[2].legend()
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
