"""Fused functions with the defects ``tests/cupy_kernels.py`` must catch (``tests/test_cupy_kernels.py``
plants them). Imported only where CuPy is installed."""
from cupy._core import core

from nn import backend
from nn.fast.fuse import fused


@fused
def reshapes(x):
    """Not element-wise: CuPy cannot fuse it, @fused falls back to unfused."""
    return backend.xp().reshape(x, (-1,)) * 2.0


@fused
def branches_on_a_value(x, a):
    """Python control flow on a traced value: cannot be traced."""
    return x * a if x > 0 else x


undefined = core.create_ufunc("undefined_device_function", ("f->f",), "out0 = no_such_device_function(in0)")


@fused
def undefined_device_function(x):
    """Traces; its CUDA does not compile."""
    return undefined(x) + 1.0


@fused
def mixes_in_float64(x, s):
    """Called with a NumPy float64 scalar: float64 arithmetic, a float64 result."""
    return x * s
