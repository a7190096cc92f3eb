"""CuPy's stand-in on a machine without a GPU: NumPy cut down to exactly the names a CuPy release has.

A CuPy wheel imports without a GPU, so its namespace can be read here: which
functions ``cupy`` and ``cupy.random`` offer. ``numpy_as_cupy(names)`` builds
a namespace holding NumPy's function under each of those names and nothing
else; ``backend.stand_in("cupy", it)`` then makes ``--backend cupy`` run on it.

What this proves: every ``xp.<name>`` the code reaches exists in that CuPy
release; a name CuPy lacks is an
AttributeError here, on the CPU, instead of on a student's GPU.
What it cannot prove: that CuPy's function computes what NumPy's does
(dtype promotion, memory order of outputs, in-place semantics), device
memory, host-device transfers and syncs, speed. Those need a GPU
(``benchmarks/gpu_check.sh``).

The wheels are installed by ``.ci/run`` (``pip install --target DIR
cupy-cuda12x==VERSION``, one folder per release, no GPU needed) and named by
``DCGAN_CUPY_DIRS`` (folders separated by ``os.pathsep``).
"""
import json
import os
import subprocess
import sys
import types

import numpy as np

ENV = "DCGAN_CUPY_DIRS"

_DUMP = ("import json, cupy, cupy.random; "
         "names = lambda m: sorted(n for n in dir(m) if not n.startswith('_')); "
         "print(json.dumps({'version': cupy.__version__, 'top': names(cupy), 'random': names(cupy.random)}))")


def read_names(folder):
    """{'version', 'top', 'random'}: the public names of the CuPy installed in ``folder``."""
    env = dict(os.environ, PYTHONPATH=folder)
    out = subprocess.run([sys.executable, "-c", _DUMP], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"cannot import the CuPy in {folder}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def installed_releases():
    """The names of every CuPy named by $DCGAN_CUPY_DIRS, oldest release first."""
    folders = [f for f in os.environ.get(ENV, "").split(os.pathsep) if f]
    releases = [read_names(f) for f in folders]
    return sorted(releases, key=lambda r: tuple(int(p) for p in r["version"].split(".")[:2]))


def numpy_as_cupy(names):
    """A namespace with NumPy's object under every name the CuPy release has (where NumPy has one)."""
    ns = types.SimpleNamespace(__name__=f"numpy-as-cupy-{names['version']}")
    for name in names["top"]:
        if name != "random" and hasattr(np, name):
            setattr(ns, name, getattr(np, name))
    ns.random = types.SimpleNamespace(**{n: getattr(np.random, n) for n in names["random"]
                                         if hasattr(np.random, n)})
    return ns
