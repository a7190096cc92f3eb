"""``@fused``: a chain of element-wise operations as one GPU kernel on CuPy, the same code elsewhere.

On a GPU every array operation is a kernel launch, and at a DCGAN's size the
launches, not the arithmetic, decide the step time. A line such as::

    y = (x - mu) * inv_std * gamma + beta      # 4 operations: 4 kernels, 3 temporaries

costs four launches and three trips through memory. Written as a function of
its arrays and decorated with ``@fused``, it stays exactly this Python::

    @fused
    def normalise(x, mu, inv_std, gamma, beta):
        return (x - mu) * inv_std * gamma + beta

On NumPy (and any backend without ``fuse``) the function is simply called,
one operation at a time. On CuPy it goes through ``cupy.fuse``, which traces
the operations once per argument kind and compiles them into one kernel: one
launch, no temporaries. What a fused function may contain: arithmetic
operators and ``xp`` ufuncs (``xp.exp``, ``xp.maximum``, ``xp.sign``, ...) on
arrays that broadcast against each other, and Python numbers; several results
come back as a tuple. No reductions, no reshapes, no indexing, no in-place
updates: those stay outside, as ordinary operations.

Safety: if CuPy cannot fuse a function (a release that lacks something it
uses), it says so once on stderr and runs that function unfused from then on:
the same operations, more launches. ``DCGAN_FUSE=0`` turns fusion off (to
compare speeds, or to rule it out); ``tests/test_fuse.py`` checks fused
against unfused results wherever CuPy runs.
"""
import functools
import os
import sys

from . import backend


def enabled():
    """Fusion is on unless the environment says ``DCGAN_FUSE=0``."""
    return os.environ.get("DCGAN_FUSE", "1") != "0"


class fused:
    """Decorator: call ``fn`` as one kernel where the backend can fuse (CuPy), else as written."""

    def __init__(self, fn):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.kernels = {}              # backend namespace id -> its fused kernel, or None (could not fuse)

    def __call__(self, *args):
        kernel = self.kernel() if enabled() else None
        if kernel is None:
            return self.fn(*args)
        try:
            return kernel(*args)
        except Exception as e:         # noqa: BLE001  any failure to trace or compile: fall back, once, loudly
            self.kernels[id(backend.xp())] = None
            print(f"note: CuPy could not fuse {self.fn.__name__} ({type(e).__name__}: {str(e)[:200]}); "
                  "it runs as separate kernels from now on", file=sys.stderr)
            return self.fn(*args)

    def kernel(self):
        """The fused version of ``fn`` for the active backend, or None where there is none."""
        xp = backend.xp()
        key = id(xp)
        if key not in self.kernels:
            fuse = getattr(xp, "fuse", None)
            self.kernels[key] = fuse(self.fn) if fuse is not None else None
        return self.kernels[key]
