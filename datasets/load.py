"""``load_dataset``: one entry point that picks the loader and the cache."""
import os
from pathlib import Path

from .cifar10 import load_cifar10
from .errors import DatasetError
from .folder import load_folder
from .images import pad_or_resize, size_problem
from .mnist import FASHION_MNIST, MNIST, load_idx_dataset

DATASETS = ("mnist", "fashion-mnist", "cifar10", "folder")
SPLITS = ("train", "test")
CACHE_ENV = "DCGAN_DATA_CACHE"
DEFAULT_CACHE_ROOT = "~/.cache/numpy-dcgan"
_IDX_DATASETS = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}


def default_cache_dir(name):
    """``$DCGAN_DATA_CACHE/<name>``, or ``~/.cache/numpy-dcgan/<name>``."""
    root = os.environ.get(CACHE_ENV) or DEFAULT_CACHE_ROOT
    return Path(root).expanduser() / name


def load_dataset(name, data_dir=None, cache_dir=None, image_size=32, split="train",
                 mirrors=None, checksums=None, strict=False):
    """Load a dataset as ``(images, labels)`` ready for training.

    ``images`` is a uint8 array (N, C, image_size, image_size), C = 1 for
    MNIST and Fashion-MNIST, 3 for CIFAR-10, 1 or 3 for a folder;
    ``labels`` is int64 (N,).

    name        one of ``DATASETS``
    data_dir    a folder holding the dataset's files: then nothing is
                downloaded.  Required for "folder" (the images).
    cache_dir   where downloads are kept (default ``default_cache_dir(name)``)
    image_size  16, 32, 64 or 128 (``SUPPORTED_SIZES``)
    split       "train" or "test" ("folder" has no splits and ignores it)
    mirrors     base URLs to download from, replacing the built-in list
    checksums   {file name: MD5} replacing the built-in table of published
                checksums (for tests, or files of your own in that format)
    strict      "folder" only: refuse unreadable images instead of skipping
                them with a warning (--strict-data)

    Raises ``DatasetError`` with a one-line reason if anything goes wrong.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if size_problem(image_size):
        raise DatasetError(size_problem(image_size))
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use {' or '.join(SPLITS)}")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DatasetError(f"the data folder {data_dir} does not exist or is not a folder")

    if name == "folder":
        return load_folder(data_dir, image_size, strict)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(name)
    if name == "cifar10":
        images, labels = load_cifar10(split, data_dir, cache_dir, mirrors, checksums)
    else:
        images, labels = load_idx_dataset(_IDX_DATASETS[name], split, data_dir, cache_dir, mirrors, checksums)
    return pad_or_resize(images, image_size), labels
