"""Bring image batches to the square size the DCGAN trains on (a power of two from 16 to 128).

All arrays here are uint8 in NCHW layout (N images, C channels, H rows,
W columns), the layout the network consumes.  PIL does the resampling, one
image at a time, because it is fast, exact for uint8 and needs no extra
dependency.
"""
import re
import warnings

import numpy as np
from PIL import Image, ImageOps

SUPPORTED_SIZES = (16, 32, 64, 128)  # the one list of image sizes: G doubles 4x4 maps up to one of these
BASE_SIZE = 32  # smaller images (MNIST's 28x28) are padded up to this first


def size_problem(size):
    """The one check of an image size: None if the DCGAN can train on it, else the reason in one line, naming
    the nearest sizes it can (the paper's rule: one stride-2 layer per doubling from 4x4, so a power of two)."""
    if size in SUPPORTED_SIZES:
        return None
    allowed = ", ".join(map(str, SUPPORTED_SIZES))
    if not isinstance(size, int):
        return f"image size {size!r} is not supported; use one of {allowed}"
    below = [s for s in SUPPORTED_SIZES if s < size]
    above = [s for s in SUPPORTED_SIZES if s > size]
    nearest = " or ".join(str(s) for s in (below[-1:] + above[:1]))
    return (f"image size {size} is not supported: G and D double or halve 4x4 maps, so the size is a power of "
            f"two from {SUPPORTED_SIZES[0]} to {SUPPORTED_SIZES[-1]} ({allowed}); the nearest: {nearest}")


NATIVE_SIZES = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32}   # an image folder's vary


def resize_note(name, size):
    """One line saying how dataset ``name``'s images are brought to ``size`` where that means resizing them
    (28x28 -> 32x32 is padding, kept as it is: no note); None otherwise."""
    native = NATIVE_SIZES.get(name)
    if native is None or size == max(native, BASE_SIZE):
        return None
    padded = f"padded to {BASE_SIZE}x{BASE_SIZE} and " if native < BASE_SIZE else ""
    return f"{name}'s {native}x{native} images are {padded}resized to {size}x{size} (--image-size {size})"


def pad_to(images, size):
    """Zero-pad (black) each image evenly on all sides to ``size`` x ``size``."""
    n, c, h, w = images.shape
    top, left = (size - h) // 2, (size - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot pad {h}x{w} images down to {size}x{size}")
    padded = np.zeros((n, c, size, size), dtype=images.dtype)
    padded[:, :, top:top + h, left:left + w] = images
    return padded


def resize(images, size, resample=Image.Resampling.BILINEAR):
    """Resize each image to ``size`` x ``size`` with PIL (1 or 3 channels)."""
    n, c = images.shape[:2]
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        pixels = image[0] if c == 1 else image.transpose(1, 2, 0)  # HW or HWC for PIL
        resized = np.asarray(Image.fromarray(pixels).resize((size, size), resample))
        out[i] = resized[None] if c == 1 else resized.transpose(2, 0, 1)
    return out


def pad_or_resize(images, image_size):
    """Return ``images`` (N, C, H, W) as (N, C, image_size, image_size) uint8.

    Images smaller than 32x32 (MNIST's 28x28) are first zero-padded to 32x32,
    which keeps the digit at its native resolution on a black background, as
    in the classic LeNet-5 input.  Whatever is then not yet ``image_size`` is
    resized with bilinear interpolation, so a 28x28 digit at size 64 is the
    32x32 padded digit scaled up by two: the same framing at both sizes.
    """
    h, w = images.shape[-2:]
    if h < BASE_SIZE and w < BASE_SIZE:
        images = pad_to(images, BASE_SIZE)
    if images.shape[-2:] != (image_size, image_size):
        images = resize(images, image_size)
    return np.ascontiguousarray(images, dtype=np.uint8)


def grey_or_rgb(image):
    """(a PIL image as 8-bit "L" (grey) or "RGB", what was converted or None): every image file is read this way.

    Black-and-white and grey (with or without alpha) become "L"; palettes,
    CMYK, YCbCr and colour with alpha become "RGB". 16-bit greyscale ("I;16",
    or "I" holding values above 255) is scaled by 255/65535; floating point
    ("F") from [0, 1] (or its own maximum if larger); an alpha channel is dropped.
    """
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode == "F":
            top, what = (1.0 if values.max(initial=0) <= 1.0 else values.max()), "floating point, scaled to 0..255"
        elif mode.startswith("I;16") or values.max(initial=0) > 255:
            top, what = 65535.0, "16-bit, scaled to 8 bits"
        else:
            top, what = 255.0, None
        scaled = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L"), what
    what = None
    if mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info:
        what = "transparent: the alpha channel was dropped"
    return image.convert("L" if mode in ("1", "L", "LA") else "RGB"), what


def load_image(path):
    """The image file at ``path`` as a loaded PIL image (turned upright by its EXIF orientation), or a
    DatasetError with a short reason that does not repeat the path (the caller's line names it).

    PIL's DecompressionBombWarning (over ``Image.MAX_IMAGE_PIXELS``) is made an error here, so such a file is
    refused like any unreadable one, by name, rather than warned about without one and loaded.
    """
    from .errors import DatasetError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image)
                image.load()
                return image
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise DatasetError(_too_large(err)) from None
    except Exception as err:  # PIL raises many different errors for bad files
        raise DatasetError(_why(err, path)) from None


def _too_large(err):
    """PIL's decompression-bomb warning or error in a few words: its text names no file (the caller's line does)."""
    pixels = re.search(r"\((\d+) pixels\)", str(err))     # PIL: "Image size (144000000 pixels) exceeds limit ..."
    count = f"{pixels.group(1)} pixels, over" if pixels else "over"
    return f"too large: {count} PIL's limit of {Image.MAX_IMAGE_PIXELS} against decompression bombs"


def _why(err, path):
    """A short reason: the OS's words ("Permission denied") or PIL's, without the path repeated."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err).replace(repr(str(path)), "").replace(str(path), "").strip(" :")
    return text or type(err).__name__
