"""The CPU's fused kernels (numba), behind nn.fast's interfaces: when they run, on which arrays, with what.

On NumPy the GEMMs run on every core (the BLAS's threads), but the work
around them (BatchNorm, the activations, Adam, the average) ran on one,
one pass over memory per operation. numba compiles such a chain into one
loop on every core, what ``cupy.fuse`` does on a GPU: ``numba_loops.py``
holds those loops, this module chooses them.

* Optional, like CuPy: with numba installed (``pip install -r
  requirements-numba.txt``), ``nn.fast``'s layers on the NumPy backend use it
  (``python dcgan.py --layers fast``; ``status()`` is what the run's opening
  line says). Without numba everything runs as before. ``DCGAN_NUMBA=0``
  turns it off (to compare speeds, or to rule it out).
* Behind the same interfaces: a ``@fused`` function that names a kernel
  here (``@fused.with_cpu("relu")``) calls it instead of its own lines when
  the arrays suit (``serves``); BatchNorm's training forward and backward
  call ``batchnorm_forward``/``batchnorm_backward`` (its sums and its
  element-wise pass in one kernel). Anything else (another backend, a
  dtype other than float32, shapes that broadcast) runs the NumPy lines.
* Compiled once per machine: the first run compiles only the kernels it
  calls (a second or so each) and keeps them in the user's cache folder,
  ``$XDG_CACHE_HOME/numpy-dcgan/numba`` (``~/.cache/...``), or
  ``$NUMBA_CACHE_DIR`` if set; never in the checkout. Later runs load them.
* Threads: numba's (``NUMBA_NUM_THREADS``, all cores by default), at most
  ``OMP_NUM_THREADS`` when that is set, so one variable sets the BLAS's and
  these loops' threads alike. Every result is the same on any number of
  threads (each channel, each element is one thread's work), so a resumed run
  equals the uninterrupted one.
* Threads that wait, not spin: on more than one thread, numba's
  ``workqueue`` threading layer unless ``NUMBA_THREADING_LAYER`` says
  otherwise. numba's default here, OpenMP, keeps its threads spinning after
  each loop, on the cores the BLAS's GEMMs need next: at 2 threads that made
  the step slower with numba than without. On one thread numba's default
  stays (it runs the loop in place; the workqueue hands it to a worker, which
  cost a third more). Figures: docs/benchmarks.md, "The CPU's compiled kernels".
"""
import importlib.util
import math
import os
import sys

import numpy as np

from .. import backend

ENV = "DCGAN_NUMBA"
THREADING_LAYER = "workqueue"            # numba's threading layer on 2+ threads, unless NUMBA_THREADING_LAYER is set (above)
UNSERVED = object()                      # a kernel's answer when these arrays are not for it: run the NumPy lines
_loaded = {}                             # "loops": numba_loops, or None (numba absent, broken or off)


def wanted():
    """numba is used unless the environment says ``DCGAN_NUMBA=0``."""
    return os.environ.get(ENV, "1") != "0"


def cache_dir():
    """Where compiled kernels are kept: ``$NUMBA_CACHE_DIR``, else ``$XDG_CACHE_HOME/numpy-dcgan/numba``
    (``~/.cache/numpy-dcgan/numba`` when XDG_CACHE_HOME is unset)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "numpy-dcgan", "numba")


def loops():
    """The numba loops (``numba_loops``), imported on first use, or None: numba not installed, not
    importable, or turned off."""
    if not wanted():
        return None
    if "loops" not in _loaded:
        _loaded["loops"] = _import_loops()
    return _loaded["loops"]


def _import_loops():
    os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir())       # before numba reads its configuration
    try:
        import numba
    except ImportError:
        return None
    except Exception as e:       # noqa: BLE001  e.g. a numba too old for this NumPy: say so once, run without
        print(f"note: numba is installed but cannot be imported ({type(e).__name__}: {str(e)[:200]}); "
              "nn.fast runs its NumPy lines", file=sys.stderr)
        return None
    numba.config.CACHE_DIR = cache_dir()                      # also when numba was imported before us
    n = threads(numba.config.NUMBA_NUM_THREADS)
    if n > 1 and not os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER = THREADING_LAYER           # read when the threads start: the next line
    numba.set_num_threads(n)
    from . import numba_loops
    return numba_loops


def threads(available):
    """numba's threads: ``available`` (NUMBA_NUM_THREADS), at most OMP_NUM_THREADS when that is set."""
    try:
        omp = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return available
    return max(1, min(available, omp))


def status():
    """What the opening line says when nn.fast's layers train on NumPy: "numba 0.61.0 on 2 threads",
    or None when the NumPy lines run (another backend, numba absent or ``DCGAN_NUMBA=0``)."""
    if backend.xp() is not np or loops() is None:
        return None
    import numba
    n = numba.get_num_threads()
    return f"numba {numba.__version__} on {n} thread{'' if n == 1 else 's'}"


def in_words():
    """What the run's opening line says of nn.fast's layers on NumPy: "numba 0.61.0 on 2 threads", or why
    its NumPy lines run instead (turned off, not installed, installed but not importable); None on another
    backend, where none of this applies."""
    if backend.xp() is not np:
        return None
    if loops() is not None:
        return status()
    if not wanted():
        return f"numba off ({ENV}=0)"
    if importlib.util.find_spec("numba") is None:
        return "without numba: pip install -r requirements-numba.txt for compiled loops on every core"
    return "without numba: it is installed but cannot be imported (the note above says why)"


def serves(arrays):
    """Do the compiled loops take these arrays? NumPy itself is the backend (not a stand-in), numba is on,
    and every array is a float32 NumPy array of one shape (the loops do not broadcast)."""
    found = [a for a in arrays if hasattr(a, "shape")]
    return (backend.xp() is np and bool(found) and loops() is not None
            and all(type(a) is np.ndarray and a.dtype == np.float32 and a.shape == found[0].shape for a in found))


# ------------------------------------------------------------------ element-wise: the @fused functions' stand-ins

def relu(x):
    """``activations.relu``: (y, d), d = [x > 0]."""
    return elementwise(loops().relu_flat, None, [x], [], 2)


def leaky_relu(x, a):
    """``activations.leaky_relu``: (y, d), d = 1 where x > 0, else a."""
    return elementwise(loops().leaky_relu_flat, None, [x], [np.float32(a)], 2)


def times_derivative(dy, d):
    """``activations.times_derivative``: dy * d."""
    return elementwise(loops().times_flat, loops().times_rows, [dy, d], [], 1)


def times_tanh_derivative(dy, y):
    """``activations.times_tanh_derivative``: dy * (1 - y^2)."""
    return elementwise(loops().times_tanh_derivative_flat, loops().times_tanh_derivative_rows, [dy, y], [], 1)


def elementwise(flat, rows, arrays, numbers, outputs):
    """Run an element-wise loop over ``arrays`` in the first one's memory order, results new arrays
    in that order (as NumPy's own operations leave them): flat when every array is contiguous in that
    order, as 4-D views (``rows``; a padded image, say) otherwise; UNSERVED where neither fits."""
    order = memory_order(arrays[0])
    views = [np.permute_dims(a, order) for a in arrays]
    results = [np.empty(views[0].shape, dtype=np.float32) for _ in range(outputs)]
    if all(v.flags.c_contiguous for v in views):
        flat(*[np.reshape(v, (-1,)) for v in views], *numbers, *[np.reshape(r, (-1,)) for r in results])
    elif rows is not None and views[0].ndim == 4:
        rows(*views, *numbers, *results)
    else:
        return UNSERVED
    back = tuple(np.argsort(order))
    results = [np.permute_dims(r, back) for r in results]
    return tuple(results) if outputs > 1 else results[0]


def memory_order(a, first=None):
    """a's axes from the largest stride to the smallest (axes of length 1 last, in place), with axis
    ``first`` put first if given: the order that walks a's memory forwards."""
    axes = [i for i in range(a.ndim) if i != first]
    by_stride = sorted(axes, key=lambda i: (a.shape[i] == 1, -abs(a.strides[i])))
    return tuple(([first] if first is not None else []) + by_stride)


# ------------------------------------------------------------------ in place: Adam and the average

def adam_update(p, m, v, g, b1, b2, step_size, sqrt_c2, eps):
    """``optim.adam_update``, in place on p, m and v (which must be contiguous: else UNSERVED)."""
    if not all(a.flags.c_contiguous for a in (p, m, v)):
        return UNSERVED
    f = np.float32
    flat = lambda a: np.reshape(a, (-1,))
    loops().adam_update(flat(p), flat(m), flat(v), flat(np.ascontiguousarray(g)),
                        f(b1), f(b2), f(step_size), f(sqrt_c2), f(eps))
    return None


def move_towards(a, w, d):
    """``ema.move_towards``: a = d a + (1 - d) w, in place on a (contiguous: else UNSERVED)."""
    if not a.flags.c_contiguous:
        return UNSERVED
    loops().move_towards(np.reshape(a, (-1,)), np.reshape(np.ascontiguousarray(w), (-1,)), np.float32(d))
    return None


# ------------------------------------------------------------------ BatchNorm: sums and element-wise pass in one

def batchnorm_forward(x, gamma, beta, eps):
    """BatchNorm's training forward over every axis but 1: (y, mu, var, inv_std, saved), mu, var and
    inv_std of shape (C,), ``saved`` what ``batchnorm_backward`` needs; None where x's memory cannot be
    seen as rows of each channel (then the NumPy lines run)."""
    order = memory_order(x, first=1)
    xv = np.permute_dims(x, order)                            # (C, ...) in memory order
    x3 = channel_rows(xv)
    if x3 is None:
        return None
    C = x3.shape[0]
    y = np.empty(xv.shape, dtype=np.float32)
    mu, var, inv_std = (np.empty(C, dtype=np.float32) for _ in range(3))
    loops().batchnorm_forward(x3, gamma, beta, float(eps), np.reshape(y, x3.shape), mu, var, inv_std)
    return np.permute_dims(y, tuple(np.argsort(order))), mu, var, inv_std, (x3, order, xv.shape)


def batchnorm_backward(dy, gamma, mu, inv_std, saved):
    """BatchNorm's training backward from what the forward saved: (dx, dgamma, dbeta)."""
    x3, order, shape = saved
    dyv = np.permute_dims(np.asarray(dy, dtype=np.float32), order)
    try:
        dy3 = np.reshape(dyv, x3.shape, copy=False)
    except ValueError:                                       # dy's memory is not x's order: one copy
        dy3 = np.reshape(np.ascontiguousarray(dyv), x3.shape)
    dx = np.empty(shape, dtype=np.float32)
    dgamma, dbeta = np.empty_like(mu), np.empty_like(mu)
    m = np.float32(x3.shape[1] * x3.shape[2])
    loops().batchnorm_backward(dy3, x3, mu, inv_std, gamma, m, np.reshape(dx, x3.shape), dgamma, dbeta)
    return np.permute_dims(dx, tuple(np.argsort(order))), dgamma, dbeta


# ------------------------------------------------------------------ im2col and col2im

def im2col(x, kh, kw, stride, pad):
    """``nn.fast.im2col.im2col``'s (C*kh*kw, OH*OW*N) columns in one parallel copy, or None (x not
    float32 NumPy: the NumPy lines run)."""
    if not serves([x]):
        return None
    from ..im2col import conv_output_size
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    cols = np.empty((C, kh, kw, OH, OW, N), dtype=np.float32)
    loops().im2col(np.permute_dims(x, (1, 2, 3, 0)), stride, pad, cols)
    return np.reshape(cols, (C * kh * kw, OH * OW * N))


def col2im(cols, x_shape, kh, kw, stride, pad):
    """``nn.fast.im2col.col2im``'s image, an NCHW view of contiguous (C, H, W, N) memory, each pixel the
    sum of its windows' columns gathered in one pass; or None (cols not float32 NumPy)."""
    if not serves([cols]):
        return None
    from ..im2col import conv_output_size
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    x = np.empty((C, H, W, N), dtype=np.float32)
    loops().col2im(np.reshape(np.ascontiguousarray(cols), (C, kh, kw, OH, OW, N)), stride, pad, x)
    return np.permute_dims(x, (3, 0, 1, 2))


def channel_rows(v):
    """A (C, ...) view as (C, R, L) without a copy, rows of L values as long as the memory allows
    (each channel whole where it is contiguous), or None."""
    C = v.shape[0]
    for split in range(1, v.ndim):
        shape = (C, math.prod(v.shape[1:split]), math.prod(v.shape[split:]))
        try:
            return np.reshape(v, shape, copy=False)
        except ValueError:
            continue
    return None
