"""Download a file from a list of mirrors, safely.

``download`` never leaves a half-written or unverified file behind: it streams
into a temporary file next to the destination, checks the MD5, and only then
renames it into place with ``os.replace`` (atomic on the same file system).
A file that is already there with the right MD5 is reused without touching
the network, so the cache also works offline.
"""
import http.client
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from .errors import DatasetError, why
from .hashing import md5_file

TIMEOUT_S = 30.0
_CHUNK = 1 << 20  # 1 MiB


def download_to_cache(name, cache_dir, mirrors, checksums, offline_advice):
    """``cache_dir/name``, downloaded from the first of ``mirrors`` (base URLs) that works if missing.

    ``checksums[name]`` must be known: nothing unverified is ever kept. If every
    mirror fails, the DatasetError ends with ``offline_advice`` (how to do without).
    """
    if name not in checksums:
        raise DatasetError(f"no checksum known for {name}; cannot verify a download")
    urls = [mirror.rstrip("/") + "/" + name for mirror in mirrors]
    try:
        return download(urls, Path(cache_dir) / name, checksums[name])
    except DatasetError as err:
        raise DatasetError(f"{err}. {offline_advice}") from None


def download(url_list, dest_path, md5, timeout=TIMEOUT_S):
    """Fetch ``dest_path`` from the first URL in ``url_list`` that works.

    Each URL is tried in order; an HTTP error, a refused connection, a timeout
    or a wrong MD5 moves on to the next one.  Returns ``dest_path`` as a Path.
    Raises ``DatasetError`` listing why each URL failed if none worked.
    """
    dest = Path(dest_path)
    if dest.is_file() and md5_file(dest) == md5:
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(f"cannot create the folder {dest.parent}: {why(err)}") from None

    failures = []
    for url in url_list:
        try:
            _fetch(url, dest, md5, timeout)
            return dest
        except _MirrorFailed as err:
            failures.append(f"{url}: {err}")
    raise DatasetError(f"could not download {dest.name} ({'; '.join(failures) or 'no URL given'})")


class _MirrorFailed(Exception):
    """One URL did not deliver a correct file; the message says why."""


def _fetch(url, dest, md5, timeout):
    """Stream ``url`` into a temp file beside ``dest``, verify, rename into place."""
    print(f"downloading {url}", file=sys.stderr)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                tmp.write(chunk)
        got = md5_file(tmp_name)                            # the one MD5 of a file (hashing.py)
        if got != md5:
            raise _MirrorFailed(f"checksum mismatch (MD5 {got}, expected {md5})")
        os.replace(tmp_name, dest)
    except (OSError, http.client.HTTPException, ValueError) as err:
        # urllib's HTTPError and URLError, timeouts and refused connections are
        # all OSErrors; a cut-off response is an HTTPException; a malformed URL
        # is a ValueError.
        raise _MirrorFailed(_reason(err)) from None
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


def _reason(err):
    """A short description of a network error, e.g. 'HTTP Error 404: Not Found'."""
    reason = getattr(err, "reason", None)  # URLError wraps the real cause
    if reason is not None and not hasattr(err, "code"):
        err = reason
    return str(err) or type(err).__name__
