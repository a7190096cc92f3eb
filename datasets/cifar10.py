"""CIFAR-10: 32x32 colour images in 10 classes, from the "python version".

The official archive ``cifar-10-python.tar.gz`` (163 MiB) holds six pickled
batches in ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``
(10000 training images each) and ``test_batch`` (10000 test images).  Each
batch is a dict with ``b"data"``, a (10000, 3072) uint8 array whose rows are
the 1024 red, then 1024 green, then 1024 blue pixels of one image, row by
row, so a plain reshape gives NCHW; and ``b"labels"``, a list of ints 0..9.

The batches are read straight out of the tarball, so nothing is extracted.
With ``data_dir`` the tarball, or an already extracted
``cifar-10-batches-py`` folder, is taken from there and nothing is downloaded.
A local tarball is checked for what it is (gzip and tar intact, each batch a
uint8 (n, 3072) array with n labels), not by its MD5: a valid one that is not
the published file is used, with one ``note:`` line.  Downloads are
MD5-checked.
"""
import io
import pickle
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .download import download_to_cache
from .errors import DatasetError, why
from .hashing import md5_file

TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CHECKSUMS = {TARBALL: "c58f30108f718f92721af3b95e74349a"}
BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


def load_cifar10(split, data_dir=None, cache_dir=None, mirrors=None, checksums=None):
    """Load one split as ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``."""
    mirrors = tuple(MIRRORS if mirrors is None else mirrors)
    checksums = CHECKSUMS if checksums is None else checksums
    names = BATCHES[split]
    if data_dir is not None:
        batches = _read_local(Path(data_dir), names, checksums)
    else:
        batches = _read_tarball(_cached_tarball(Path(cache_dir), mirrors, checksums), names)
    images = np.concatenate([data for data, _ in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([labels for _, labels in batches]).astype(np.int64)
    return images, labels


def _read_local(data_dir, names, checksums):
    """Batches from ``data_dir``: its tarball, else an extracted batch folder."""
    tarball = data_dir / TARBALL
    if tarball.is_file():
        batches = _read_tarball(tarball, names)            # refuses a damaged tarball, in one line
        _note_unpublished(tarball, checksums.get(TARBALL))
        return batches
    for folder in (data_dir / FOLDER, data_dir):
        if (folder / names[0]).is_file():
            return [_read_batch_file(folder / name) for name in names]
    raise DatasetError(f"missing in {data_dir}: {TARBALL} (or its extracted {FOLDER} folder)")


def _note_unpublished(tarball, md5):
    """One ``note:`` line if the (valid) local ``tarball`` is not the published one; never a refusal."""
    if md5 is not None and md5_file(tarball) != md5:
        print(f"note: {tarball} is not the published CIFAR-10 tarball; its batches are valid, "
              f"so training uses them as they are", file=sys.stderr)


def _cached_tarball(cache_dir, mirrors, checksums):
    """Path of the tarball in the cache, downloading it first if needed."""
    where = mirrors[0].rstrip("/") + "/" + TARBALL if mirrors else "the CIFAR-10 website"
    return download_to_cache(TARBALL, cache_dir, mirrors, checksums,
                             f"To use CIFAR-10 without internet access, download {where} "
                             f"and pass --data-dir DIR pointing at the folder that holds it")


def _read_tarball(tarball, names):
    """Unpickle the batches ``names`` from the tarball, in that order."""
    found = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:  # one pass: seeking backwards in a .gz is slow
                batch = member.name.rsplit("/", 1)[-1]
                if member.isfile() and batch in names:
                    found[batch] = _unpickle_batch(tar.extractfile(member).read(), f"{tarball}:{member.name}")
            while tar.fileobj.read(1 << 20):  # to the end, so gzip checks its CRC and length: a cut-off file is caught
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{tarball} is corrupt or truncated ({err})") from None
    missing = [name for name in names if name not in found]
    if missing:
        raise DatasetError(f"{tarball} lacks the batches {', '.join(missing)}; is it the CIFAR-10 python version?")
    return [found[name] for name in names]


def _read_batch_file(path):
    try:
        return _unpickle_batch(path.read_bytes(), str(path))
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {why(err)}") from None


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that can only build NumPy arrays and plain containers.

    Unpickling can run arbitrary code, so files from the internet are only
    allowed the few globals a CIFAR batch needs.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),   # pickled by NumPy 1.x
        ("numpy._core.multiarray", "_reconstruct"),  # pickled by NumPy 2.x
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),                        # bytes in protocol-2 pickles
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle_batch(payload, name):
    """``(data (n, 3072) uint8, labels (n,))`` from one pickled batch."""
    try:
        batch = _BatchUnpickler(io.BytesIO(payload), encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except Exception as err:  # a damaged pickle can fail in many different ways
        raise DatasetError(f"{name} is not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise DatasetError(f"{name} is not a CIFAR-10 batch (data {data.dtype} {data.shape}, labels {labels.shape})")
    return data, labels
