"""``@fused``: a chain of element-wise operations as one GPU kernel on CuPy, the same code elsewhere.

On a GPU every array operation is a kernel launch, and at a DCGAN's size the
launches, not the arithmetic, decide the step time. A line such as::

    y = (x - mu) * inv_std * gamma + beta      # 4 operations: 4 kernels, 3 temporaries

costs four launches and three trips through memory. Written as a function of
its arrays and decorated with ``@fused``, it stays exactly this Python::

    @fused
    def scale_and_shift(x, mu, inv_std, gamma, beta):
        return (x - mu) * inv_std * gamma + beta

On NumPy (and any backend without ``fuse``) the function is simply called,
one operation at a time. On CuPy it goes through ``cupy.fuse``, which traces
the operations once per argument kind and compiles them into one kernel: one
launch, no temporaries. What a fused function may contain: arithmetic
operators and ``xp`` ufuncs (``xp.exp``, ``xp.maximum``, ``xp.clip``, ...) on
arrays that broadcast against each other, and Python numbers; several results
come back as a tuple; in-place updates (``m *= b1``) of its own temporaries or
of an argument (Adam updates its buffers so). No reductions, no reshapes, no
indexing: those stay outside, as ordinary operations.

Memory order: CuPy writes a new result C-contiguous in the shape it is
given, while NumPy keeps its inputs' memory order. The layers hand 4-D
arrays on as NCHW views of CHWN memory (see ``im2col.py``), the order the
GEMMs read; a C-contiguous NCHW result would cost a transposed copy before
the next GEMM. So on a backend that fuses, when every array argument has the
same number of axes, a fused function runs on the views that make the first
one's memory C-ordered (for CHWN memory: (C, H, W, N)), and its results come
back as views in the caller's axis order: NumPy's behaviour, on every backend.

Numbers: CuPy types a Python number inside a fused kernel by rules of its
own, which are not NumPy's and differ between releases: CuPy 14 computes an
expression of Python numbers alone (``1.0 - d`` for a number ``d``) in
float16. So on CuPy every Python number passed to a fused function reaches
the kernel as a NumPy scalar of its arrays' dtype (``numpy.float32`` in
training; ``typed_numbers``), and every operation of the kernel computes in
float32, as NumPy computes the same lines. Numbers written inside a function
(``1.0 - y * y``) need nothing: next to an array they take its dtype.
``tests/test_cupy_kernels.py`` proves this for every fused function and every
call a training step makes, on the oldest and newest CuPy the project admits,
without a GPU: CuPy traces and generates the CUDA, NVRTC compiles it.

The CPU: where numba is installed, a fused function may name a compiled loop
that stands in for it on NumPy (``@fused.with_cpu("relu")``: the function of
that name in ``cpu_kernels.py``, the same results in one pass on every core);
where numba is absent, off (``DCGAN_NUMBA=0``) or the arrays do not suit it,
the function runs as written.

Safety: if CuPy cannot fuse a function (a release that lacks something it
uses), it says so once on stderr and runs that function unfused from then on:
the same operations, more launches. ``DCGAN_FUSE=0`` turns fusion off (to
compare speeds, or to rule it out); ``tests/test_fuse.py`` checks fused
against unfused results wherever CuPy runs.
"""
import functools
import os
import sys

from .. import backend
from . import cpu_kernels


def enabled():
    """Fusion is on unless the environment says ``DCGAN_FUSE=0``."""
    return os.environ.get("DCGAN_FUSE", "1") != "0"


class fused:
    """Decorator: call ``fn`` as one kernel where the backend can fuse (CuPy), else as written."""

    def __init__(self, fn, cpu=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.cpu = cpu                 # the name of its compiled CPU loop in cpu_kernels.py, or None
        self.kernels = {}              # id(namespace) -> (namespace, its fused kernel or None: cannot fuse)

    @classmethod
    def with_cpu(cls, name):
        """``@fused.with_cpu("relu")``: fused on a GPU, and on NumPy ``cpu_kernels.relu`` where numba runs."""
        return lambda fn: cls(fn, cpu=name)

    def __call__(self, *args):
        if not hasattr(backend.xp(), "fuse"):         # NumPy: numba's loop if one stands in, else the function as written
            if self.cpu is not None and cpu_kernels.serves(args):
                result = getattr(cpu_kernels, self.cpu)(*args)
                if result is not cpu_kernels.UNSERVED:
                    return result
            return self.fn(*args)
        order = memory_order(args)
        if order is None:
            return self.run(*args)
        xp = backend.xp()
        back = tuple(order.index(i) for i in range(len(order)))             # the inverse permutation
        results = self.run(*[xp.permute_dims(a, order) if hasattr(a, "shape") else a for a in args])
        if isinstance(results, tuple):
            return tuple(xp.permute_dims(r, back) for r in results)
        return results if results is None else xp.permute_dims(results, back)   # None: updated in place

    def run(self, *args):
        kernel = self.kernel() if enabled() else None
        if kernel is None:
            return self.fn(*args)
        try:
            return kernel(*typed_numbers(args))
        except Exception as e:         # noqa: BLE001  any failure to trace or compile: fall back, once, loudly
            self.kernels[id(backend.xp())] = (backend.xp(), None)
            print(f"note: CuPy could not fuse {self.fn.__name__} ({type(e).__name__}: {str(e)[:200]}); "
                  "it runs as separate kernels from now on", file=sys.stderr)
            return self.fn(*args)

    def kernel(self):
        """The fused version of ``fn`` for the active backend, or None where there is none."""
        xp = backend.xp()
        if id(xp) not in self.kernels:                 # the namespace is kept, so its id stays its own
            fuse = getattr(xp, "fuse", None)
            self.kernels[id(xp)] = (xp, fuse(self.fn) if fuse is not None else None)
        return self.kernels[id(xp)][1]


def memory_order(args):
    """The order of the first array's axes from its largest stride to its smallest (its memory order:
    (1, 2, 3, 0) for an NCHW view of CHWN memory, padded or not; axes of length 1 go last), when that
    differs from the order it has, every array argument has as many axes, and the backend shows
    strides; else None."""
    arrays = [a for a in args if hasattr(a, "shape")]
    if not arrays or len({a.ndim for a in arrays}) != 1 or not hasattr(arrays[0], "strides"):
        return None
    first = arrays[0]
    long_axes = [i for i in range(first.ndim) if first.shape[i] != 1]
    by_stride = sorted(long_axes, key=lambda i: -abs(first.strides[i]))
    if by_stride == long_axes:
        return None
    return tuple(by_stride + [i for i in range(first.ndim) if first.shape[i] == 1])


def typed_numbers(args):
    """``args`` with every Python number (int or float, not bool) made a NumPy scalar of the first
    array's dtype: 0.1 -> numpy.float32(0.1) next to float32 arrays (see "Numbers" above)."""
    dtype = next(a.dtype for a in args if hasattr(a, "dtype"))
    return [dtype.type(a) if type(a) in (int, float) else a for a in args]
