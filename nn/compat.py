"""The array-API names an older CuPy lacks, filled in from the names it has.

The layers speak the Python array API standard (``xp.permute_dims``,
``xp.matrix_transpose``, ``xp.astype``, ``xp.concat``, ...). NumPy 2 and
CuPy 14.1+ have all of it; CuPy 14.0.x, the oldest release the project admits
(``requirements-gpu.txt``: older ones compute the fused kernels in float64),
lacks one name::

    array API name           CuPy 14.0.x
    matrix_transpose(x)      swapaxes(x, -1, -2)

``fill_gaps(xp)`` returns ``xp`` itself when nothing is missing, and
otherwise a thin namespace that answers the missing names from this table and
every other name from ``xp``. So the layers are written once, against the
standard, and run unchanged on every admitted CuPy.
"""


def _matrix_transpose(xp):
    def matrix_transpose(x):
        """Swap the last two axes: (..., M, N) -> (..., N, M)."""
        return xp.swapaxes(x, -1, -2)
    return matrix_transpose


# array API name -> a function of the namespace that builds it from older parts
BUILT = {"matrix_transpose": _matrix_transpose}


class FilledNamespace:
    """``xp`` with some names added: reads like the module it wraps (``ns.float32``, ``ns.random``)."""

    def __init__(self, xp, added):
        self.__dict__.update(added)
        self._wrapped = xp
        self.__name__ = getattr(xp, "__name__", "namespace")
        self.added = sorted(added)            # which names were filled in, for messages and tests

    def __getattr__(self, name):              # only called for names not added above
        return getattr(self._wrapped, name)

    def __repr__(self):
        return f"<{self.__name__} with {', '.join(self.added)} filled in>"


def missing_names(xp):
    """The names of the table above that ``xp`` lacks."""
    return [n for n in BUILT if not hasattr(xp, n)]


def fill_gaps(xp):
    """``xp`` itself if it has every name of the table, else ``xp`` with the missing ones filled in."""
    added = {name: BUILT[name](xp) for name in missing_names(xp)}
    return FilledNamespace(xp, added) if added else xp
