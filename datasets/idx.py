"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a tiny header followed by the raw array, all big-endian::

    bytes 0-1   0x00 0x00
    byte  2     element type (0x08 = unsigned byte, see ``_TYPES``)
    byte  3     number of dimensions, ndim
    then        ndim sizes, each a 4-byte big-endian unsigned int
    then        prod(sizes) elements, row-major (C order)

So MNIST's image files start with the magic number 0x00000803 (uint8, 3 dims:
N x 28 x 28) and its label files with 0x00000801 (uint8, 1 dim: N).
The files are usually distributed gzipped; ``read_idx`` recognises gzip data
by its first two bytes and decompresses it first.
"""
import gzip
import math
import os
import struct
import zlib

import numpy as np

from .errors import DatasetError, why

# IDX type code -> big-endian NumPy dtype.
_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(source, name=None):
    """Parse an IDX file (gzipped or not) into a NumPy array.

    ``source`` is a path or the file's bytes; ``name`` is what error messages
    call it (default: the path, or "IDX data").  Raises ``DatasetError`` if the
    data cannot be decompressed, has a bad magic number, or its payload is not
    exactly as long as the header's sizes say (cut short, or with bytes after
    the data).  What the array must hold (MNIST's 28x28 images, labels 0..9)
    is for its reader to check (``mnist.py``).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "IDX data"
    else:
        name = name or os.fspath(source)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as err:
            raise DatasetError(f"cannot read {name}: {why(err)}") from None

    if is_gzip(data):
        data = gunzip(data, name)

    dtype, shape, header_size = _header(data, name)
    _check_length(len(data) - header_size, dtype, shape, name)
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _check_length(actual, dtype, shape, name):
    """The ``actual`` bytes after the header must be exactly what its sizes promise: not fewer (a file cut
    short, or a damaged size), not more (a damaged size, or data appended).

    The product is Python's exact one: sizes of up to 2**32 - 1 each would wrap around in 64 bits (to 0,
    say, and a header-only file would pass).
    """
    expected = math.prod(shape) * dtype.itemsize
    dims = "x".join(map(str, shape))
    if actual and 0 in shape:
        raise DatasetError(f"{name} is corrupt: its IDX header says {len(shape)} dimensions, {shape.count(0)} of "
                           f"them of size 0, yet {actual} bytes of data follow (a damaged dimension count, byte 4?)")
    if actual < expected:
        raise DatasetError(f"{name} is corrupt or truncated: its header promises {expected} bytes "
                           f"of {dims} {dtype.name} data but it holds {actual}")
    if actual > expected:
        raise DatasetError(f"{name} is corrupt: {actual - expected} bytes follow the {expected} bytes of {dims} "
                           f"{dtype.name} data its IDX header promises (a damaged header, or data appended?)")


def _header(data, name):
    """(dtype, shape, header size) of IDX ``data``; DatasetError saying what is wrong with the header."""
    if not data:
        raise DatasetError(f"{name} is empty (no data{' after decompressing' if name.endswith('.gz') else ''}): "
                           "not an IDX file")
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DatasetError(f"{name} is not an IDX file (it starts with bytes {data[:4].hex()}; IDX files start "
                           "with 00 00, a type byte and a dimension count)")
    if data[2] not in _TYPES:
        known = ", ".join(f"0x{code:02x} {dtype.name}" for code, dtype in _TYPES.items())
        raise DatasetError(f"{name} is corrupt: unknown IDX element type 0x{data[2]:02x} in its header "
                           f"(byte 3; known: {known})")
    dtype, ndim = _TYPES[data[2]], data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DatasetError(f"{name} is truncated (its IDX header is cut short)")
    return dtype, struct.unpack(f">{ndim}I", data[4:header_size]), header_size


def is_gzip(data):
    """True if ``data`` starts like a gzip file (IDX data starts with 0x0000)."""
    return data[:2] == _GZIP_MAGIC


def gunzip(data, name):
    """Decompress gzip ``data``; ``DatasetError`` naming ``name`` if it is damaged."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:  # bad header, CRC error, cut short
        raise DatasetError(f"{name} is corrupt or truncated (gzip: {err})") from None


def write_idx(path, array):
    """Write ``array`` as an IDX file; gzip it if ``path`` ends in ``.gz``.

    Handy for building small test files or exporting your own data in the
    MNIST format.  The dtype must be one of the IDX types (uint8, int8, int16,
    int32, float32, float64).
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload = array.astype(_TYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + payload)
    return path
