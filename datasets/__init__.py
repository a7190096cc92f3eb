"""Training data for the DCGAN, as uint8 NumPy arrays, with no framework.

    from datasets import load_dataset, DatasetError
    images, labels = load_dataset("mnist", image_size=32)   # (60000, 1, 32, 32) uint8

Datasets (``DATASETS``) and where they come from:

* ``"mnist"``: handwritten digits, four gzipped IDX files, downloaded from
  the first mirror that works: https://ossci-datasets.s3.amazonaws.com/mnist/,
  https://storage.googleapis.com/cvdf-datasets/mnist/,
  http://yann.lecun.com/exdb/mnist/.
* ``"fashion-mnist"``: Zalando's clothing images in the same format, from
  http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/.
* ``"cifar10"``: 32x32 colour photos, ``cifar-10-python.tar.gz`` from
  https://www.cs.toronto.edu/~kriz/.
* ``"folder"``: every PNG/JPEG under ``data_dir``, centre-cropped to a square.

The 28x28 MNIST-style images are zero-padded to 32x32 (black border) and,
for another ``image_size`` (16, 64 or 128: ``SUPPORTED_SIZES``), then resized;
CIFAR-10 is resized for any size but 32.

Every download is checked against its published MD5; it goes to a temporary
file first and is renamed into place only once verified, so an interrupted
download never leaves a broken file behind.  Files in ``data_dir`` are
checked for what they are (gzip intact, headers and sizes consistent, labels
matching images), not by MD5: a damaged file is refused in one line, a valid
one that is not the published file is used with one ``note:`` line (which
names the other dataset if it is, say, Fashion-MNIST given as MNIST).

Cache: downloads are kept in ``~/.cache/numpy-dcgan/<name>/``; set the
environment variable ``DCGAN_DATA_CACHE`` to use ``$DCGAN_DATA_CACHE/<name>/``
instead, or pass ``cache_dir``.  A file already in the cache with the right
MD5 is used without any network access.

Offline use: copy the dataset's files (for MNIST and Fashion-MNIST the four
``*-ubyte.gz`` files, gzipped or unpacked; for CIFAR-10 the tarball or its
extracted ``cifar-10-batches-py`` folder) into a folder and pass it as
``data_dir`` (the trainer's ``--data-dir DIR``): then nothing is downloaded.
Alternatively put them into the cache folder above.

Every failure (no network, missing, corrupt or truncated file, empty image
folder, unknown name, unsupported size) raises ``DatasetError`` with a
one-line message naming the file or setting at fault.

Modules, one idea each: ``load`` (the entry point and cache location),
``download`` (mirrors, temp file, MD5, atomic rename), ``idx`` (the IDX file
format), ``mnist``, ``cifar10``, ``folder`` (one per source), ``images``
(padding and resizing), ``hashing`` (MD5), ``errors``.
"""
from .download import download
from .errors import DatasetError
from .idx import read_idx, write_idx
from .images import SUPPORTED_SIZES, pad_or_resize, resize_note, size_problem
from .load import DATASETS, default_cache_dir, load_dataset

__all__ = [
    "DATASETS",
    "DatasetError",
    "SUPPORTED_SIZES",
    "default_cache_dir",
    "download",
    "load_dataset",
    "resize_note",
    "size_problem",
    "pad_or_resize",
    "read_idx",
    "write_idx",
]
