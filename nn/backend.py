"""The array backend: which array library the layers compute with.

Every layer asks this module for its array namespace, ``xp``, and never
imports NumPy itself, so the same layer code runs on

* ``"numpy"``            the CPU (the default),
* ``"cupy"``             an NVIDIA GPU (optional; ``pip install cupy-cuda12x``),
* ``"array_api_strict"`` a deliberately minimal implementation of the Python
                         array API standard, used by the tests to prove that
                         ``nn/`` only calls functions that CuPy also has.

The namespaces are used through the array API standard subset
(``xp.permute_dims``, ``xp.reshape``, ``xp.sum(..., axis=...)``, ``a @ b``,
``a.T``), which NumPy 2, CuPy 14.0+ and ``array_api_strict`` provide. Older
CuPy is refused with one line: CuPy 13 computes the fused kernels in float64
(and 13.2 to 13.3 cannot fuse most of them), see ``nn/fast/fuse.py``.

Randomness always comes from one host-side NumPy ``Generator`` (``rng()``) and
is copied to the device with ``to_device``: the same seed draws the same
weights and noise on every backend, and its state is one small dict that a
checkpoint can store.

Usage::

    from nn import backend
    backend.use("cupy")           # raises BackendError if CuPy or a GPU is missing
    xp = backend.xp()
    x = backend.to_device(np.zeros((2, 3)))   # float32 on the active device
    y = backend.to_numpy(x)                   # back to host NumPy
"""
import re

import numpy as np

BACKENDS = ("numpy", "cupy", "array_api_strict")


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine (one-line reason)."""


MIN_CUPY = (14, 0)          # the oldest CuPy whose fused kernels compute in float32 (see requirements-gpu.txt)

_active = {"name": "numpy", "xp": np}
_stand_ins = {}             # backend name -> namespace, for tests (see ``stand_in``)
_rng = np.random.default_rng(0)


def _import_cupy():
    """Import CuPy and make sure a GPU is usable, or raise BackendError saying which is missing."""
    try:
        import cupy
    except ImportError as e:
        raise BackendError(
            "backend 'cupy' asked for, but CuPy is not installed "
            f"({e}); install it with: pip install -r requirements-gpu.txt") from None
    except Exception as e:         # e.g. CuPy 13.0 with NumPy 2: AttributeError: np.float_ was removed
        raise BackendError(
            f"backend 'cupy' asked for, but CuPy cannot be imported next to NumPy {np.__version__} "
            f"({type(e).__name__}: {e}); install CuPy {MIN_CUPY[0]}.{MIN_CUPY[1]} or newer: "
            "pip install -r requirements-gpu.txt") from None
    version = getattr(cupy, "__version__", "")
    if parse_release(version) < MIN_CUPY:
        raise BackendError(
            f"CuPy {version} is too old: this project needs CuPy {MIN_CUPY[0]}.{MIN_CUPY[1]} or newer "
            "(older releases compute its fused kernels in float64): pip install -U -r requirements-gpu.txt")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
        if n == 0:
            raise RuntimeError("no CUDA device found")
        cupy.zeros(1).sum().item()   # actually touch the device
    except Exception as e:
        raise BackendError(
            f"backend 'cupy' asked for, CuPy is installed, but no GPU is usable: {e}") from None
    return cupy


def parse_release(version):
    """'13.6.0' -> (13, 6); '14.0.0rc1' -> (14, 0); unreadable -> (0, 0)."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return tuple(int(g) for g in match.groups()) if match else (0, 0)


def _import(name):
    """The namespace for backend ``name`` (a test's stand-in for it, if one is set)."""
    if name in _stand_ins:
        return _stand_ins[name]
    return _import_module(name)


def _import_module(name):
    if name == "numpy":
        return np
    if name == "cupy":
        return _import_cupy()
    if name == "array_api_strict":
        try:
            import array_api_strict
        except ImportError:
            raise BackendError("backend 'array_api_strict' needs: pip install array-api-strict") from None
        return array_api_strict
    raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def use(name):
    """Make ``name`` the active backend for every layer created or called from now on."""
    _active["xp"] = _import(name)
    _active["name"] = name
    return _active["xp"]


class stand_in:
    """``with backend.stand_in("cupy", namespace): ...``: inside, backend "cupy" means ``namespace``.

    The one hook for running the program on another namespace than the one a
    name imports: for tests that have no GPU, a NumPy namespace cut down to
    exactly the names a CuPy release offers stands in for CuPy; the launch
    counter (``benchmarks/launches.py``) stands a counting NumPy in for NumPy.
    """

    def __init__(self, name, namespace):
        self.name, self.namespace = name, namespace

    def __enter__(self):
        self.previous = _stand_ins.get(self.name)
        _stand_ins[self.name] = self.namespace
        return self

    def __exit__(self, *exc):
        if self.previous is None:
            del _stand_ins[self.name]
        else:
            _stand_ins[self.name] = self.previous


def xp():
    """The active array namespace (``numpy``, ``cupy`` or ``array_api_strict``)."""
    return _active["xp"]


def name():
    """The active backend's name."""
    return _active["name"]


def float_dtype():
    """The default floating-point dtype: float32 (training is float32 end to end)."""
    return _active["xp"].float32


def to_device(a, dtype=None):
    """Copy a host array (or anything NumPy accepts) to the active backend.

    Floating-point input becomes float32 unless ``dtype`` says otherwise;
    integer and boolean input keeps its dtype. Always a copy, on NumPy too:
    the result may be updated in place (parameters, optimizer moments) and
    must not change the caller's array.
    """
    host = np.asarray(a)
    if dtype is None and host.dtype.kind == "f":
        dtype = np.float32
    host = np.array(host, dtype=None if dtype is None else np.dtype(dtype_name(dtype)))   # the copy
    return _active["xp"].asarray(host)


def to_numpy(a):
    """Copy an array of any backend to a host NumPy array."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np.asarray(a)
    if hasattr(a, "get"):          # cupy.ndarray
        return a.get()
    return np.from_dlpack(a)       # array_api_strict and other DLPack arrays on the CPU


def dtype_name(dtype):
    """'float32' for np.float32, cupy.float32, array_api_strict.float32, 'float32', ..."""
    if isinstance(dtype, str):
        return dtype
    text = str(dtype)
    for known in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                  "uint8", "uint16", "uint32", "uint64", "bool"):
        if text.endswith(known) or text.endswith(known + "'>"):
            return known
    return np.dtype(dtype).name


def concat(arrays, axis=0):
    """Join arrays along an axis (``xp.concat``)."""
    return _active["xp"].concat(list(arrays), axis=axis)


def seed(n):
    """Seed every source of randomness the library uses (the host generator, and CuPy's if active)."""
    global _rng
    _rng = np.random.default_rng(n)
    device_random = getattr(_active["xp"], "random", None)
    if _active["name"] == "cupy" and device_random is not None:
        device_random.seed(n)


def rng():
    """The host NumPy Generator all random draws come from."""
    return _rng


def get_rng_state():
    """The generator's state as a plain dict (picklable, JSON-able)."""
    return _rng.bit_generator.state


def set_rng_state(state):
    """Restore a state returned by ``get_rng_state``."""
    _rng.bit_generator.state = state


class preserved_rng:
    """``with backend.preserved_rng(): ...`` gives back every draw the block made.

    For building a model whose weights are about to be overwritten by a
    checkpoint: construction draws initial weights, and those draws must not
    shift the random numbers a training run sees afterwards.
    """

    def __enter__(self):
        self.state = get_rng_state()

    def __exit__(self, *exc):
        set_rng_state(self.state)


def randn(shape, std=1.0, mean=0.0, dtype=None):
    """Normal draws from the host generator, returned on the active device (float32 by default)."""
    host = _rng.standard_normal(shape) * std + mean
    return to_device(host, dtype)


def uniform(shape, low, high, dtype=None):
    """Uniform draws in [low, high) from the host generator, on the active device."""
    return to_device(_rng.uniform(low, high, shape), dtype)
