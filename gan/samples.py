"""Samples to score: a samples.npy or a folder of PNGs read as (N, C, H, W), and what generate says about them.

``load_samples`` takes what ``generate`` writes and what training would take
with a note: float32 in [-1, 1], uint8 pixels 0..255 (a note), PNGs with an
alpha channel (dropped, a note) or a palette. ``generate`` also writes
``generated.json`` (``GENERATED``: the checkpoint, its dataset, the seed);
``generated_dataset`` reads the dataset back, so ``evaluate`` can warn when
the classifier was trained on other data.
"""
import glob
import json
import os
import sys

import numpy as np

from .errors import UserError
from .writing import numpy_file_kind

GENERATED = "generated.json"
TOLERANCE = 1e-3                   # float samples may overshoot [-1, 1] by rounding, not more


def note(message):
    print(f"note: {message}", file=sys.stderr)


def check_samples(images, source):
    """Samples to score must be at least 2, finite, and uint8 or floats in [-1, 1]: else one line, not a score."""
    if len(images) < 2:
        raise UserError(f"{source}: {len(images)} sample(s); a Frechet distance needs at least 2")
    if images.dtype == np.uint8:
        return
    if not np.all(np.isfinite(images)):
        raise UserError(f"{source}: {int(np.sum(~np.isfinite(images)))} values are NaN or infinite")
    low, high = float(images.min()), float(images.max())
    if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
        raise UserError(f"{source}: samples range over [{low:g}, {high:g}], not [-1, 1] (what G draws and "
                        "generate's samples.npy holds); rescale them, e.g. x / 127.5 - 1 for 0..255")


def load_samples(path):
    """A samples.npy (float in [-1, 1], or uint8 pixels) or a folder of PNGs (uint8) as (N, C, H, W)."""
    if os.path.isdir(path):
        return load_png_folder(path)
    return load_samples_npy(path)


def load_samples_npy(path):
    if not os.path.isfile(path):
        raise UserError(f"samples {path} does not exist")
    kind = numpy_file_kind(path)
    if kind != "npy":
        held = "an .npz archive" if kind == "npz" else "not a NumPy .npy file"
        raise UserError(f"samples {path} cannot be read: it is {held}, not a samples file "
                        "(an (N, C, H, W) array in a .npy, as generate writes, or a folder of PNGs)")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        why = "it holds Python objects, not numbers" if "allow_pickle" in str(e) else f"{type(e).__name__}: {e}"
        raise UserError(f"samples {path} cannot be read ({why})") from None
    if x.ndim != 4 or not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8):
        raise UserError(f"samples {path} must be a float or uint8 array (N, C, H, W), got {x.dtype} {x.shape}")
    if x.dtype == np.uint8:
        note(f"samples {path} are uint8: read as pixels 0..255 (0 is -1, 255 is 1), as training reads images")
        return x
    return x.astype(np.float32)


def numbered_pngs(folder):
    """The PNGs generate numbers (00000.png, ...), or every PNG when there are none of those."""
    files = sorted(glob.glob(os.path.join(folder, "*.png")))
    return [f for f in files if os.path.basename(f)[:-4].isdigit()] or files


def load_png_folder(folder):
    files = numbered_pngs(folder)
    if not files:
        raise UserError(f"no PNG images in {folder}")
    arrays, dropped = [], 0
    for f in files:
        array, had_alpha = read_png(f)
        arrays.append(array)
        dropped += had_alpha
    if any(a.dtype != np.uint8 for a in arrays):
        raise UserError(f"the PNG images in {folder} must be 8-bit (found {sorted({str(a.dtype) for a in arrays})}): "
                        "score what generate writes, or a samples.npy in [-1, 1]")
    if len({a.shape for a in arrays}) != 1:
        raise UserError(f"the PNG images in {folder} do not all have the same size")
    if dropped:
        note(f"{dropped} image(s) in {folder} were transparent: the alpha channel was dropped")
    say_if_samples_npy_disagrees(folder, len(files))
    x = np.stack(arrays)
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


def read_png(path):
    """(pixels (H, W) or (H, W, 3), had an alpha channel?): a palette becomes grey or RGB, alpha is dropped."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            had_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            if image.mode in ("1", "L", "LA"):
                image = image.convert("L")
            elif image.mode in ("P", "PA", "RGBA", "RGBa", "CMYK", "YCbCr"):
                image = image.convert("RGB")
            return np.array(image), had_alpha
    except Exception as e:
        raise UserError(f"{path} cannot be read as an image ({type(e).__name__}: {e})") from None


def say_if_samples_npy_disagrees(folder, n_pngs):
    """A note when the folder's samples.npy holds another number of images than the PNGs scored (stale PNGs)."""
    npy = os.path.join(folder, "samples.npy")
    try:
        n_npy = len(np.load(npy, mmap_mode="r", allow_pickle=False))
    except Exception:
        return
    if n_npy != n_pngs:
        note(f"{folder} holds {n_pngs} numbered PNG images but its samples.npy holds {n_npy}: scoring the "
             f"{n_pngs} PNGs (some may be left from an earlier generate; score {npy} to use the array)")


def generated_dataset(path):
    """The dataset of the model that generated the samples at ``path``, from generate's generated.json; None if unknown."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        with open(os.path.join(folder, GENERATED)) as f:
            return json.load(f).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None
