"""One pass per core on a CPU: NumPy's element-wise work and copies split over threads.

The GEMMs use every core (the BLAS runs its own threads), but NumPy runs
every other operation on one: im2col's copy, col2im's adds, BatchNorm, the
activations, Adam. NumPy releases Python's lock inside its loops and copies,
so the same operation on slices of an array's outermost (memory-order) axis,
one slice per thread, uses more cores with plain NumPy. This module is the
only place that does so; the layers call it where they would call the
operation itself:

    each_core(fn, *args)     fn(*args), split over the cores on NumPy where fn is
                             marked ``@per_core`` (``@fused`` functions go through here)
    add_into(target, value)  target += value, split over the cores (col2im's adds)

Only what pays is marked (measured in docs/benchmarks.md, "Every core"): a
function that updates its arguments in place (Adam, the weight average), and
a chain of several operations that returns one new array (BatchNorm's
normalisation and input gradient). A single operation that returns a new
array (``dy * d``) and a function returning two arrays pay less than the copy
that assembles their slices costs, and stay on one core, as does im2col's copy
(two threads copy no faster than one here).

On CuPy (one kernel on a GPU), array_api_strict, for arrays under
``MIN_SIZE`` elements (a thread hand-off costs tens of microseconds) and at
one thread, each is exactly the operation it names. Split, each slice is the
same operation on fewer elements, so the results are the same, bit for bit
(``tests/test_cores.py``).

A result that ``fn`` returns as a new array is assembled from the slices'
results: slices about 2 MiB long (``CHUNK_BYTES``), so a chain of
operations stays in the core's cache and the copy into the result costs
less than the trips through memory it saves.

Threads: ``DCGAN_THREADS``, else the BLAS's own setting (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``), else the cores this process may use; ``set_threads(n)``
changes it (1: everything on one core, as written).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import backend

MIN_SIZE = 1 << 17            # elements: smaller arrays are not split
CHUNK_BYTES = 1 << 21         # about this many bytes of the first array per slice

_settings = {"threads": None, "pool": None}
lock = threading.Lock()
local = threading.local()


def default_threads():
    """``DCGAN_THREADS``, else the BLAS's thread setting, else the cores this process may use."""
    for name in ("DCGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads():
    """How many threads the work around the GEMMs uses."""
    if _settings["threads"] is None:
        set_threads(default_threads())
    return _settings["threads"]


def set_threads(n):
    """Use ``n`` threads from now on (1: no threads at all)."""
    n = max(1, int(n))
    if n != _settings["threads"] and _settings["pool"] is not None:
        _settings["pool"].shutdown()
        _settings["pool"] = None
    _settings["threads"] = n


def pool():
    if _settings["pool"] is None:
        _settings["pool"] = ThreadPoolExecutor(threads() - 1, thread_name_prefix="nn-core")
    return _settings["pool"]


def each_core(fn, *args):
    """``fn(*args)``; where fn is marked ``@per_core``, on NumPy, for a large first array, as one call per slice of that array's outermost
    axis in memory, over ``threads()`` threads. ``fn`` must be element-wise (what ``@fused`` admits):
    every array argument is sliced alike where it has that axis's length, passed whole where it has
    length 1 there. In-place updates of the arguments land in place; returned arrays are assembled
    into arrays laid out like the first argument."""
    mark = getattr(fn, "per_core", False)
    axis = split_axis(args, channels=(mark == "channels")) if mark and not getattr(local, "inside", False) else None
    if axis is None:
        return fn(*args)
    first = next(a for a in args if isinstance(a, np.ndarray))
    slices = chunks(first, axis)

    def part(s):
        index = (slice(None),) * axis + (s,)
        local.inside = True
        try:
            return fn(*[a[index] if isinstance(a, np.ndarray) and a.shape[axis] != 1 else a for a in args])
        finally:
            local.inside = False

    made = {}                                          # the arrays fn returns, made by the first slice done

    def work(s):
        results = part(s)
        if results is None:                            # fn updated its arguments in place
            return
        several = isinstance(results, tuple)
        results = results if several else (results,)
        with lock:
            if not made:
                n = first.shape[axis]
                made.update(several=several, outs=tuple(
                    np.empty_like(first, dtype=r.dtype) if r.ndim == first.ndim and r.shape[axis] == s.stop - s.start
                    and r.shape[:axis] + r.shape[axis + 1:] == first.shape[:axis] + first.shape[axis + 1:]
                    else np.empty(r.shape[:axis] + (n,) + r.shape[axis + 1:], r.dtype) for r in results))
        index = (slice(None),) * axis + (s,)
        for out, r in zip(made["outs"], results):
            out[index] = r

    run(work, slices)
    if not made:
        return None
    return made["outs"] if made["several"] else made["outs"][0]


def per_core(fn):
    """Mark an element-wise function as worth splitting over the cores (see above); returns it."""
    fn.per_core = True
    return fn


def add_into(target, value):
    """``target += value`` (in place), split over the cores for large NumPy arrays."""
    each_core(add, target, value)


@per_core
def add(target, value):
    target += value


def per_channel(fn):
    """Mark a function that works channel by channel (axis 1), reductions included: split on channels."""
    fn.per_core = "channels"
    return fn


def split_axis(args, channels=False):
    """The axis to split ``args`` along, or None to run them whole: on the NumPy backend, with more than
    one thread, every array argument a NumPy array of the first one's shape or broadcasting to it, the
    first of ``MIN_SIZE`` elements or more; the axis is the first array's outermost in memory."""
    arrays = [a for a in args if hasattr(a, "shape")]
    if not arrays or backend.name() != "numpy" or threads() < 2:
        return None
    first = arrays[0]
    if type(first) is not np.ndarray or first.size < MIN_SIZE:
        return None
    if any(type(a) is not np.ndarray or a.ndim != first.ndim for a in arrays):
        return None
    if np.broadcast_shapes(*(a.shape for a in arrays)) != first.shape:
        return None
    axis = 1 if channels else max(range(first.ndim), key=lambda i: (first.shape[i] > 1, abs(first.strides[i])))
    if any(a.shape[axis] not in (1, first.shape[axis]) for a in arrays) or first.shape[axis] < 2:
        return None
    return axis


def chunks(first, axis):
    """Slices of ``axis``: about ``CHUNK_BYTES`` of ``first`` each, at least one per thread."""
    n = first.shape[axis]
    count = max(threads(), min(n, first.nbytes // CHUNK_BYTES))
    step = -(-n // count)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def run(work, slices):
    """``work(s)`` for every slice, on this thread and ``threads() - 1`` others, each taking the next
    slice not yet taken; returns when all are done."""
    todo = iter(slices)                    # one iterator: next() hands each slice to one thread only

    def take():
        for s in todo:
            work(s)

    helpers = [pool().submit(take) for _ in range(threads() - 1)]
    take()
    for helper in helpers:
        helper.result()


def copy(x):
    if backend.name() != "numpy" or threads() < 2 or x.size < MIN_SIZE:
        return x.copy()
    out = np.empty(x.shape, x.dtype)
    n = x.shape[0]
    count = max(threads(), min(n, x.nbytes // CHUNK_BYTES))
    step = -(-n // count)
    def work(s):
        out[s] = x[s]
    run(work, [slice(i, min(i + step, n)) for i in range(0, n, step)])
    return out


gemm = np.matmul                # one BLAS call (bound at import: shared_pool replaces np.matmul)


def matmul(a, b):
    """a @ b for 2-D arrays, its output rows (or columns, when there are more of them) split over the
    threads, each part one single-threaded BLAS call (run with OPENBLAS_NUM_THREADS=1): the GEMMs and
    the element-wise work share one pool, so no BLAS worker spins beside ours."""
    if a.ndim != 2 or b.ndim != 2 or threads() < 2:
        return gemm(a, b)
    M, N = a.shape[0], b.shape[1]
    out = np.empty((M, N), np.result_type(a, b))
    axis = 0 if M >= N else 1
    n = out.shape[axis]
    step = -(-n // threads())

    def work(s):
        if axis == 0:
            gemm(a[s], b, out=out[s])
        else:
            gemm(a, b[:, s], out=out[:, s])

    run(work, [slice(i, min(i + step, n)) for i in range(0, n, step)])
    return out
