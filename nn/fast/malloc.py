"""keep_freed_memory(): glibc's malloc keeps freed memory for the next training step (CPU only)."""
import ctypes
import sys


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
