"""Your own images: every PNG or JPEG under a folder, cropped and resized.

Every file whose name ends in .png, .jpg or .jpeg (any case) anywhere under
``data_dir`` is loaded, turned upright by its EXIF orientation, cropped to
the centred largest square (never squashed) and resized to ``image_size``
with Lanczos filtering; one ``note:`` line counts the images far from square
(more than 2:1), whose crop cut off more than half, and names the one that
lost the most.  The result is RGB (C=3), unless every image is grayscale, in
which case it is C=1.  Transparency is dropped; 16-bit and floating-point
images are scaled from their real range to 0..255 (never clipped); each
conversion is said once, with a count.

A file that cannot be read as an image (or a subfolder that cannot be
listed, a broken link, a named pipe, an image over PIL's pixel limit
against decompression bombs, ``PIL.Image.MAX_IMAGE_PIXELS``) is skipped,
and one ``warning:`` line says how many, which (the first few), why in a
few words, and which classes lost every image; ``strict=True``
(``--strict-data``) refuses instead.  Finding no readable image at all is
always an error.

Labels follow the torchvision ``ImageFolder`` convention: the images in the
first-level subfolder ``data_dir/<class>/...`` get the index of ``<class>``
among the sorted class names, and images lying directly in ``data_dir`` form
one more class named ".".  A flat folder of images therefore has all labels 0.
"""
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .errors import DatasetError, name_some
from .images import grey_or_rgb, load_image

EXTENSIONS = (".png", ".jpg", ".jpeg")


SHOWN = 3                        # bad files named in a message; the rest are counted
FAR_FROM_SQUARE = 2              # a longer side more than this many times the shorter: the crop is said in a note


class Square(NamedTuple):
    """One image file, loaded: its centre square resized, and what the note lines say about it."""

    pixels: np.ndarray           # (size, size, 3) uint8
    is_gray: bool
    converted: object            # what was converted ("16-bit, scaled to 8 bits"), or None
    original: tuple              # (width, height) before the crop, upright


def load_folder(data_dir, image_size, strict=False):
    """Load all images as ``(images (N, C, S, S) uint8, labels (N,) int64)``."""
    if data_dir is None:
        raise DatasetError("the folder dataset needs --data-dir DIR, the folder that holds your images")
    root = Path(data_dir)
    paths, bad = find_images(root)
    if not paths and not bad:
        raise DatasetError(f"no PNG or JPEG images found in {root} (searched subfolders too)")

    pixels, kept, conversions, grayscale, far = [], [], {}, True, []
    for path in paths:
        try:
            square = _load_square(path, image_size)
        except DatasetError as err:
            bad.append((path, str(err)))
            continue
        pixels.append(square.pixels)
        kept.append(path)
        grayscale = grayscale and square.is_gray
        if square.converted:
            conversions[square.converted] = conversions.get(square.converted, 0) + 1
        if _far_from_square(*square.original):
            far.append((path, square.original))
    _report(root, paths, kept, bad, conversions, strict)
    if far:
        print(_crop_note(root, far), file=sys.stderr)
    images = np.stack(pixels).transpose(0, 3, 1, 2)  # NHWC -> NCHW
    if grayscale:
        images = images[:, :1]  # the three channels of a gray image are equal
    return np.ascontiguousarray(images), _labels(root, kept)


def find_images(root):
    """(sorted paths of the PNG/JPEG files anywhere under ``root``, [(path, why) for what cannot be read]).

    A folder that cannot be listed, a broken link or anything else that is not
    a regular file (a named pipe would hang the read) is returned as unreadable.
    """
    if not root.is_dir():
        raise DatasetError(f"the image folder {root} does not exist or is not a folder")
    found, unreadable = [], []
    for folder, _, files in os.walk(root, onerror=lambda err: unreadable.append((Path(err.filename), err.strerror))):
        found += [Path(folder) / f for f in files if Path(f).suffix.lower() in EXTENSIONS]
    unreadable += [(p, _not_a_file(p)) for p in found if not p.is_file()]
    return sorted(p for p in found if p.is_file()), unreadable


def _not_a_file(path):
    """Why ``path``, listed but not a regular file, cannot be read: "broken link" or "not a regular file"."""
    return "broken link" if path.is_symlink() and not path.exists() else "not a regular file"


def _report(root, paths, kept, bad, conversions, strict):
    """Refuse (strict, or nothing readable) or skip with one warning what could not be read; then say what was converted.

    A refusal comes alone: no note is printed before it.
    """
    if bad or not kept:
        _refuse_or_warn(root, paths, kept, bad, strict)
    for what, count in sorted(conversions.items()):
        print(f"note: {count} image(s) in {root} were {what}", file=sys.stderr)


def _refuse_or_warn(root, paths, kept, bad, strict):
    """``DatasetError`` naming the first few ``bad`` (strict, or no image kept); else one ``warning:`` line."""
    names = name_some([f"{p.relative_to(root) if p != root else p} ({why})" for p, why in bad], SHOWN)
    if strict or not kept:
        reason = "none of the images could be read" if not kept else "--strict-data"
        raise DatasetError(f"{len(bad)} unreadable file(s) or folder(s) in {root} ({reason}): {names}")
    had = set(_classes(root, paths)) | {_entry_class(root, p) for p, _ in bad}
    lost = sorted(had - set(_classes(root, kept)))
    gone = f"; class(es) {', '.join(lost)} lost every image" if lost else ""
    print(f"warning: skipped {len(bad)} unreadable file(s) or folder(s) in {root}: {names}{gone} "
          f"(training on the other {len(kept)}; --strict-data stops instead)", file=sys.stderr)


def _load_square(path, size):
    """The ``Square`` of one file; ``DatasetError`` with a short reason if it cannot be read
    (``images.load_image``: a decompression bomb too)."""
    image, converted = grey_or_rgb(load_image(path))
    is_gray = image.mode == "L"
    square = _centre_square(image).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return Square(np.asarray(square), is_gray, converted, image.size)


def _centre_square(image):
    """The largest square in the middle of ``image``: what a far-from-square image loses is said by _crop_note."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _far_from_square(width, height):
    """True if the longer side is more than FAR_FROM_SQUARE times the shorter: the crop cuts more than half."""
    return max(width, height) > FAR_FROM_SQUARE * min(width, height)


def _crop_note(root, far):
    """One ``note:`` line for the ``far`` [(path, (width, height))]: how many, and the one whose crop cut the most."""
    path, (width, height) = max(far, key=lambda item: _cut(*item[1]))
    side = min(width, height)
    return (f"note: {len(far)} image(s) in {root} were far from square (more than {FAR_FROM_SQUARE}:1), so "
            f"centre-cropping them to a square cut off up to {int(100 * _cut(width, height))}% of each (the most: "
            f"{path.relative_to(root)}, {width}x{height} cropped to {side}x{side})")


def _cut(width, height):
    """The share of an image's pixels that its centre square leaves out (0.75 for 28x112)."""
    return 1 - min(width, height) / max(width, height)


def _classes(root, paths):
    """The class name of each image: its first-level subfolder, or "." if none."""
    return [names[0] if len(names) > 1 else "." for names in (p.relative_to(root).parts for p in paths)]


def _entry_class(root, path):
    """The class an unreadable file or unlistable folder would have fed: a folder ``root/<class>`` is its own."""
    names = path.relative_to(root).parts
    return names[0] if len(names) > 1 or (names and path.is_dir()) else "."


def _labels(root, paths):
    """Class index of each image: the index of its class among the sorted class names."""
    classes = _classes(root, paths)
    index = {name: i for i, name in enumerate(sorted(set(classes)))}
    return np.array([index[name] for name in classes], dtype=np.int64)
