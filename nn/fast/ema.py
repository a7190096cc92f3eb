"""The averaged generator, fast: ``nn/ema.py``'s update a = d a + (1 - d) w as one GPU kernel per array
(with numba on NumPy, one compiled loop on every core: ``cpu_kernels.py``)."""
from .. import ema
from .fuse import fused


@fused.with_cpu("move_towards")
def move_towards(a, w, d):
    """a = d a + (1 - d) w, in place on a (one kernel on CuPy)."""
    a *= d
    a += (1.0 - d) * w


class EMA(ema.EMA):
    __doc__ = ema.EMA.__doc__

    def move_towards(self, a, w, d):
        move_towards(a, w, d)
