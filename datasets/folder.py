"""Your own images: every PNG or JPEG under a folder, cropped and resized.

Every file whose name ends in .png, .jpg or .jpeg (any case) anywhere under
``data_dir`` is loaded, turned upright by its EXIF orientation, cropped to
the centred largest square and resized to ``image_size`` with Lanczos
filtering.  The result is RGB (C=3), unless every image is grayscale, in
which case it is C=1.  Transparency is dropped.

Labels follow the torchvision ``ImageFolder`` convention: the images in the
first-level subfolder ``data_dir/<class>/...`` get the index of ``<class>``
among the sorted class names, and images lying directly in ``data_dir`` form
one more class named ".".  A flat folder of images therefore has all labels 0.
"""
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import DatasetError

EXTENSIONS = (".png", ".jpg", ".jpeg")
GRAYSCALE_MODES = ("1", "L", "LA")


def load_folder(data_dir, image_size):
    """Load all images as ``(images (N, C, S, S) uint8, labels (N,) int64)``."""
    if data_dir is None:
        raise DatasetError("the folder dataset needs --data-dir DIR, the folder that holds your images")
    root = Path(data_dir)
    paths = find_images(root)
    if not paths:
        raise DatasetError(f"no PNG or JPEG images found in {root} (searched subfolders too)")

    images, grayscale = np.empty((len(paths), image_size, image_size, 3), np.uint8), True
    for i, path in enumerate(paths):
        images[i], is_gray = _load_square(path, image_size)
        grayscale = grayscale and is_gray
    images = images.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    if grayscale:
        images = images[:, :1]  # the three channels of a gray image are equal
    return np.ascontiguousarray(images), _labels(root, paths)


def find_images(root):
    """Sorted paths of the PNG/JPEG files anywhere under ``root``."""
    if not root.is_dir():
        raise DatasetError(f"the image folder {root} does not exist or is not a folder")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _load_square(path, size):
    """``(pixels (size, size, 3) uint8, was it grayscale?)`` for one file."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            is_gray = image.mode in GRAYSCALE_MODES
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            box = (left, top, left + side, top + side)  # the centred square
            square = image.crop(box).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(square), is_gray
    except Exception as err:  # PIL raises many different errors for bad files
        raise DatasetError(f"cannot read the image {path} ({type(err).__name__}: {err})") from None


def _labels(root, paths):
    """Class index of each image: its first-level subfolder, or "." if none."""
    parts = [p.relative_to(root).parts for p in paths]
    classes = [names[0] if len(names) > 1 else "." for names in parts]
    index = {name: i for i, name in enumerate(sorted(set(classes)))}
    return np.array([index[name] for name in classes], dtype=np.int64)
