"""The array-API names an older CuPy lacks, filled in from the names it has.

The layers speak the Python array API standard (``xp.permute_dims``,
``xp.matrix_transpose``, ``xp.astype``, ``xp.concat``, ...). NumPy 2 and
CuPy 14.1+ have all of it; older CuPy releases have the same functions
under their NumPy-1 names::

    array API name           CuPy 13.x                     CuPy 14.0.x
    permute_dims(x, axes)    transpose(x, axes)            has it
    matrix_transpose(x)      swapaxes(x, -1, -2)           swapaxes(x, -1, -2)
    astype(x, dtype)         x.astype(dtype)               has it
    concat(arrays, axis)     concatenate(arrays, axis)     has it
    pow, acos, asin, ...     power, arccos, arcsin, ...    has it
    bool                     bool_                         has it

``fill_gaps(xp)`` returns ``xp`` itself when nothing is missing, and
otherwise a thin namespace that answers the missing names from this table and
every other name from ``xp``. So the layers are written once, against the
standard, and run unchanged on every CuPy from 13.2 on.
"""

# array API name -> the older name of the same function
RENAMED = {
    "permute_dims": "transpose",
    "concat": "concatenate",
    "pow": "power",
    "acos": "arccos", "acosh": "arccosh", "asin": "arcsin", "asinh": "arcsinh",
    "atan": "arctan", "atan2": "arctan2", "atanh": "arctanh",
    "bitwise_invert": "invert", "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift",
    "bool": "bool_",
}


def _matrix_transpose(xp):
    def matrix_transpose(x):
        """Swap the last two axes: (..., M, N) -> (..., N, M)."""
        return xp.swapaxes(x, -1, -2)
    return matrix_transpose


def _astype(xp):
    def astype(x, dtype, /, *, copy=True):
        """The array method under its array-API name."""
        return x.astype(dtype, copy=copy)
    return astype


# array API name -> a function of the namespace that builds it from older parts
BUILT = {"matrix_transpose": _matrix_transpose, "astype": _astype}


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
    return [n for n in (*RENAMED, *BUILT) if not hasattr(xp, n)]


def fill_gaps(xp):
    """``xp`` itself if it has every name of the table, else ``xp`` with the missing ones filled in."""
    added = {}
    for name in missing_names(xp):
        if name in BUILT:
            added[name] = BUILT[name](xp)
        elif hasattr(xp, RENAMED[name]):
            added[name] = getattr(xp, RENAMED[name])
    return FilledNamespace(xp, added) if added else xp
