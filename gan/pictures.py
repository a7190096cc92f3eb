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
    """losses.png from metrics.csv's rows: D and G loss; D(x) and D(G(z)) with their healthy bands shaded;
    the diversity of G's samples with the line below which G has collapsed; the FCD when scored. The bands
    and the line are gan/diagnosis.py's, what the doctor reads."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .diagnosis import BANDS, COLLAPSE_DIVERSITY
    if not rows:
        return
    col = {k: np.array([float(r.get(k) or "nan") for r in rows])
           for k in ("step", "loss_d", "loss_g", "d_x", "d_g_z", "fcd", "diversity")}
    panels = ["losses", "d"] + ["diversity"] * bool(np.isfinite(col["diversity"]).any()) \
        + ["fcd"] * bool(np.isfinite(col["fcd"]).any())
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels) + 0.8), sharex=True)
    ax = dict(zip(panels, axes))
    ax["losses"].plot(col["step"], col["loss_d"], label="D loss")
    ax["losses"].plot(col["step"], col["loss_g"], label="G loss")
    ax["losses"].set_ylabel("BCE loss")
    ax["losses"].legend()
    ax["losses"].set_title("DCGAN training (shaded: the healthy bands, docs/doctor.md)")
    for sign, colour, label in (("d_x", "C0", "D(x), real"), ("d_g_z", "C1", "D(G(z)), fake")):
        ax["d"].axhspan(*BANDS[sign], color=colour, alpha=0.12, lw=0)
        ax["d"].plot(col["step"], col[sign], color=colour, label=label)
    ax["d"].set_ylim(-0.02, 1.02)
    ax["d"].set_ylabel("mean D output")
    ax["d"].legend(loc="center right")
    if "diversity" in ax:
        ok = np.isfinite(col["diversity"])
        ax["diversity"].axhspan(BANDS["diversity"][0], max(1.2, np.nanmax(col["diversity"])), color="C2", alpha=0.12,
                                lw=0)
        ax["diversity"].axhline(COLLAPSE_DIVERSITY, color="C3", ls="--", lw=1, label="collapsed below")
        ax["diversity"].plot(col["step"][ok], col["diversity"][ok], color="C2", label="diversity of G's samples")
        ax["diversity"].set_ylabel("vs real images (1)")
        ax["diversity"].set_ylim(0, None)
        ax["diversity"].legend(loc="upper left")
    if "fcd" in ax:
        ok = np.isfinite(col["fcd"])
        ax["fcd"].plot(col["step"][ok], col["fcd"][ok], "o-", color="C3", label="Frechet classifier distance")
        ax["fcd"].set_ylabel("FCD (lower is better)")
        ax["fcd"].legend()
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
