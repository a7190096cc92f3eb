"""MD5 digests of bytes and files, the checksums datasets are published with.

MD5 is no defence against an attacker, but it reliably catches what goes wrong
in practice: truncated downloads, damaged files and wrong files.
"""
import hashlib

_CHUNK = 1 << 20  # read files 1 MiB at a time


def md5_bytes(data):
    """Hex MD5 digest of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path):
    """Hex MD5 digest of the file at ``path``, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
