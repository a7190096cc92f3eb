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
dict holding a uint8 (n, 3072) array, n > 0, and n labels, each an integer
0..9), not by its MD5: a valid one that is not the published file is used,
with one ``note:`` line.  Downloads are MD5-checked, and their batches are
checked the same way.
"""
import io
import pickle
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .download import download_to_cache
from .errors import DatasetError, name_some, why
from .hashing import md5_file

TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CHECKSUMS = {TARBALL: "c58f30108f718f92721af3b95e74349a"}
PIXELS = 3 * 32 * 32                       # the values of one image: a row of a batch's b"data"
CLASSES = 10                               # labels are the class numbers 0 .. 9
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
        ("__builtin__", "bytes"),                     # empty bytes in protocol-2 pickles (an empty array)
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle_batch(payload, name):
    """``(data (n, 3072) uint8, labels (n,) int64)`` from one pickled batch, every field checked.

    A batch is a dict whose ``b"data"`` is uint8 rows of 3072 values, one per image, and whose
    ``b"labels"`` is one class number 0 .. 9 per image: anything else is refused here, in one line
    naming the file, rather than becoming a traceback in training (a label of -1 or "cat") or
    silently wrong data (the label "3", or 1.5, read as a class).
    """
    try:
        batch = _BatchUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except Exception as err:  # a damaged pickle can fail in many different ways
        raise DatasetError(f"{name} is not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from None
    data, labels = _fields(batch, name)
    data = _check_data(_as_array(data, "image data", name), name)
    return data, _check_labels(_as_array(labels, "labels", name), len(data), name)


def _fields(batch, name):
    """The batch's ``b"data"`` and ``b"labels"``: a batch is a dict that has both."""
    if not isinstance(batch, dict):
        raise DatasetError(f"{name} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, "
                           f"not a dict with b'data' and b'labels'")
    missing = [key for key in (b"data", b"labels") if key not in batch]
    if missing:
        raise DatasetError(f"{name} is not a CIFAR-10 batch: it has no {' or '.join(map(repr, missing))} "
                           f"(its keys: {name_some([repr(key) for key in batch], 5) or 'none'})")
    return batch[b"data"], batch[b"labels"]


def _as_array(value, what, name):
    """``value`` as a NumPy array; a ragged list, say, cannot be one."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as err:
        raise DatasetError(f"{name} is not a CIFAR-10 batch: its {what} cannot be read as an array ({err})") from None


def _check_data(data, name):
    """``data`` if it is uint8 rows of 3072 values (1024 red, 1024 green, 1024 blue), one row per image, and at
    least one row."""
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        raise DatasetError(f"{name} is not a CIFAR-10 batch: its image data is {data.dtype} {data.shape}; "
                           f"CIFAR-10's are uint8 rows of {PIXELS} values (3x32x32), one row per image")
    if len(data) == 0:
        raise DatasetError(f"{name} holds no images")
    return data


def _check_labels(labels, n, name):
    """One class number per image, each an integer 0 .. 9 (not a bool, float or string: NumPy would quietly
    turn True, 1.5 or "3" into a class); returned as int64.  The first bad label is named, with its image."""
    if labels.shape != (n,):
        got = (f"{len(labels)} labels" if labels.ndim == 1
               else f"labels of shape {labels.shape}, not one label per image")
        raise DatasetError(f"{name} holds {n} images but {got}")
    for i, label in enumerate(labels.tolist()):
        if not _is_class_number(label):
            raise DatasetError(f"{name} holds the label {label!r} for image {i}; CIFAR-10's labels are the "
                               f"class numbers 0 .. {CLASSES - 1}")
    return labels.astype(np.int64)


def _is_class_number(label):
    """True for an integer 0 .. CLASSES - 1 (Python's or NumPy's; a bool is no class number)."""
    integer = isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_))
    return integer and 0 <= label < CLASSES
