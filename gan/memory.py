"""Sizes a person asked for, checked against the machine before anything is allocated.

``--ngf 100000`` or ``generate --n 100000000`` would end in a MemoryError deep
inside NumPy; where the memory can be estimated beforehand, ``check_fits``
says in one line what was asked, roughly how much it needs and how much the
machine has. The estimate is a lower bound (what cannot be avoided), so a
size that is refused could never have worked.

And ``keep_freed_memory``: on the CPU, glibc keeps the memory a training step
frees for the next step, instead of returning it to the system.
"""
import ctypes
import os
import sys

from nn import backend

from .errors import UserError

FLOAT32 = 4


def machine_memory():
    """Bytes of memory the active backend can use: the GPU's for CuPy, else the machine's RAM; None if unknown."""
    if backend.name() == "cupy":
        try:
            return int(backend.xp().cuda.runtime.memGetInfo()[1])
        except Exception:                                  # a stand-in for CuPy, or no device: the host's figure
            pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human(nbytes):
    """1.6e12 -> "1.6 TB"."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000


def check_fits(nbytes, asked, what):
    """UserError "``asked``: ``what`` need about N GB; this machine has M GB" if ``nbytes`` exceeds the memory."""
    available = machine_memory()
    if available is not None and nbytes > available:
        raise UserError(f"{asked}: {what} need about {human(nbytes)}, more than the {human(available)} of memory "
                        f"{'on this GPU' if backend.name() == 'cupy' else 'this machine has'}: ask for less")


def keep_freed_memory(mmap_threshold=64 << 20, trim_threshold=1 << 30, top_pad=256 << 20):
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Why: NumPy allocates every large temporary (im2col columns, activations)
    with malloc, and by default glibc serves big blocks with a fresh mmap and
    gives them back on free, so every training step page-faults tens of
    megabytes in again: about 15% of a CPU step here. Raising the mmap and
    trim thresholds lets the next step reuse the same pages. Linux/glibc
    only; elsewhere this does nothing. Returns True if glibc accepted it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    return all(libc.mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold), (M_TOP_PAD, top_pad)))
