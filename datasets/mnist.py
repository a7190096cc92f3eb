"""MNIST and Fashion-MNIST: 28x28 grayscale images in four IDX files.

Both datasets ship as the same four gzipped IDX files (see ``idx.py``)::

    train-images-idx3-ubyte.gz   60000 x 28 x 28 uint8
    train-labels-idx1-ubyte.gz   60000 uint8 in 0..9
    t10k-images-idx3-ubyte.gz    10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte.gz    10000 uint8 in 0..9

Where the files come from:

* ``data_dir`` given: from that folder only, never from the network.  Each
  file may be gzipped (``name.gz``) or not (``name``).  A local file is
  checked for what it is, not for what it hashes to: gzip integrity, the
  IDX magic number, sizes that match the header exactly (no byte missing,
  none left over), images N x 28 x 28 uint8 with N > 0, as many labels as
  images, labels integers 0 .. 9.  A damaged file is refused in one line
  (and nothing else is printed); a valid split that is not the published
  one (a subset of MNIST, EMNIST digits, KMNIST, Fashion-MNIST given as
  MNIST, your own 28x28 images of ten classes in this format) is used, with
  one ``note:`` line naming its files and, if their MD5s are another known
  dataset's, whose they are.  The dataset's name only decides where
  downloads come from.
* otherwise: from the cache folder, downloading what is missing from the
  mirrors, in order.  Downloads are checked against the archive MD5s.
"""
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .download import download_to_cache
from .errors import DatasetError, why
from .hashing import md5_bytes
from .idx import gunzip, is_gzip, read_idx

# The IDX files (without ".gz") that hold each split: (images, labels).
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_ARCHIVES = tuple(f"{name}.gz" for pair in FILES.values() for name in pair)


@dataclass(frozen=True)
class IdxDataset:
    """Where a dataset in the MNIST format lives and what its files hash to."""

    title: str
    mirrors: tuple
    checksums: dict = field(repr=False)  # file name -> MD5, for "x.gz" and for "x"


MNIST = IdxDataset(
    title="MNIST",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    checksums={
        # The gzipped archives, as published.
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        # What they decompress to.
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
)

FASHION_MNIST = IdxDataset(
    title="Fashion-MNIST",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    checksums={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
)


KNOWN = (MNIST, FASHION_MNIST)          # what a local file's MD5 is compared with, to say what it is
IMAGE_SIZE = 28                         # both datasets' images are 28x28 (padded to 32x32 for training)
CLASSES = 10                            # both have ten classes, labelled 0 .. 9


def load_idx_dataset(dataset, split, data_dir=None, cache_dir=None, mirrors=None, checksums=None):
    """Load one split as ``(images (N, 1, 28, 28) uint8, labels (N,) int64)``.

    ``mirrors`` and ``checksums`` replace ``dataset.mirrors`` and
    ``dataset.checksums`` when given (the tests point them at a local server
    and at tiny files of their own).
    """
    mirrors = tuple(dataset.mirrors if mirrors is None else mirrors)
    checksums = dataset.checksums if checksums is None else checksums
    names = FILES[split]
    if data_dir is not None:
        paths = _local_files(Path(data_dir), names)
        (images, image_md5s), (labels, label_md5s) = (_read_local(path) for path in paths)
        _check_shapes(images, labels, *paths, dataset.title)
        _note_unpublished(paths, (image_md5s, label_md5s), checksums, dataset.title, images.shape)
    else:
        paths = [_cached_file(dataset, Path(cache_dir), name, mirrors, checksums) for name in names]
        images, labels = (read_idx(path) for path in paths)
        _check_shapes(images, labels, *paths, dataset.title)
    return images[:, None, :, :], labels.astype(np.int64)


def _local_files(data_dir, names):
    """Paths of ``names`` in ``data_dir`` (``name.gz`` preferred); all must exist."""
    found, missing = [], []
    for name in names:
        candidates = [data_dir / f"{name}.gz", data_dir / name]
        path = next((p for p in candidates if p.is_file()), None)
        found.append(path)
        folders = [p for p in candidates if p.is_dir()]
        if path is None and folders:
            raise DatasetError(f"{folders[0]} is a folder, not the data file {folders[0].name} (move it away, "
                               f"and put the file there)")
        if path is None:
            missing.append(f"{name}.gz")
    if missing:
        raise DatasetError(f"missing in {data_dir}: {', '.join(missing)} (gzipped or not)")
    return found


def _read_local(path):
    """``(array, {MD5 of the file, MD5 of its content})`` for a user-supplied IDX file.

    The structure is checked by ``read_idx`` (damaged files are refused in one
    line); the MD5s only serve to say what the file is, never to refuse it.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {why(err)}") from None
    content = gunzip(data, str(path)) if is_gzip(data) else data
    return read_idx(content, name=str(path)), {md5_bytes(data), md5_bytes(content)}


def _note_unpublished(paths, digests, checksums, title, shape):
    """One ``note:`` line naming the files that are valid but not ``title``'s published ones, if any."""
    unknown = [(path, _whose(path, md5s, title) or f"not the published {title} file")
               for path, md5s in zip(paths, digests) if checksums and not md5s & _published(checksums, path)]
    size = f"{shape[0]} images of {shape[1]}x{shape[2]}"
    if len(unknown) == 1:
        (path, what), = unknown
        print(f"note: {path} is {what}; it is a valid IDX file ({size}), so training uses it as it is",
              file=sys.stderr)
    elif unknown:
        (first, what), (second, other) = unknown
        said = (f"{first} and {second.name} are {what + 's' if what.endswith(' file') else what}" if what == other
                else f"{first} is {what} and {second.name} is {other}")
        print(f"note: {said}; they are valid IDX files ({size}), so training uses them as they are", file=sys.stderr)


def _published(checksums, path):
    """The MD5s ``checksums`` knows for ``path`` (as ``name.gz`` or as ``name``)."""
    return {checksums.get(path.name), checksums.get(path.name.removesuffix(".gz"))} - {None}


def _whose(path, md5s, title):
    """"Fashion-MNIST's, not MNIST's" when the MD5s are another known dataset's file of that name, else None."""
    for known in KNOWN:
        if known.title != title and md5s & _published(known.checksums, path):
            return f"{known.title}'s, not {title}'s"
    return None


def _cached_file(dataset, cache_dir, name, mirrors, checksums):
    """Path of ``name.gz`` in the cache, downloading it first if needed."""
    where = mirrors[0] if mirrors else "the dataset's website"
    return download_to_cache(f"{name}.gz", cache_dir, mirrors, checksums,
                             f"To use {dataset.title} without internet access, download "
                             f"{', '.join(ALL_ARCHIVES)} from {where} and pass --data-dir DIR "
                             f"pointing at the folder that holds them")


def _check_shapes(images, labels, images_path, labels_path, title):
    """The two files must be one split of ``title``: N > 0 images of 28x28 uint8 and N labels 0 .. 9.

    Each check is one line naming the file: what ``read_idx`` accepts is only a
    well-formed IDX file, which may hold 0x0 images (training would see blank
    padding) or a label of 10 (a conditional model would get an 11th, empty class).
    """
    _check_images(images, images_path, title)
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path} does not hold a list of labels (got shape {labels.shape})")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    _check_labels(labels, labels_path, title)


def _check_images(images, path, title):
    """N x 28 x 28 uint8 (the IDX type 0x08 and 3 dimensions of MNIST's image files), N > 0."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{path} does not hold uint8 N x H x W images (got {images.dtype} {images.shape})")
    if len(images) == 0:
        raise DatasetError(f"{path} holds no images (its header says 0)")
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{path} holds {len(images)} images of {images.shape[1]}x{images.shape[2]} pixels; "
                           f"{title}'s images are {IMAGE_SIZE}x{IMAGE_SIZE} (a damaged header? images of another size "
                           "train with --dataset folder)")


def _check_labels(labels, path, title):
    """Integers 0 .. CLASSES - 1: the first label outside is named, with the image it belongs to."""
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{path} holds {labels.dtype} labels; {title}'s labels are the class numbers "
                           f"0 .. {CLASSES - 1} (IDX type 0x08, unsigned bytes)")
    outside = np.flatnonzero((labels < 0) | (labels >= CLASSES))
    if outside.size:
        first = outside[0]
        raise DatasetError(f"{path} holds the label {labels[first]} for image {first}; {title}'s labels are the "
                           f"class numbers 0 .. {CLASSES - 1}")
