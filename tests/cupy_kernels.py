"""What CuPy would run for every ``@fused`` function, checked without a GPU: traced, generated, compiled, typed.

Run by ``tests/test_cupy_kernels.py``, once per CuPy release, in a subprocess whose ``PYTHONPATH`` is
that release's wheel folder (``.ci/run`` installs ``cupy-cuda12x`` there, with the
``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-runtime-cu12`` wheels: NVRTC and the CUDA headers)::

    PYTHONPATH=WHEELS python -m tests.cupy_kernels CALLS.json --arch 75 80 90

``CALLS.json`` holds what each fused function was given in real training steps on NumPy
(``{"nn.fast.ema.move_towards": [[argument, ...], ...]}``, recorded by the test). For every call this
prints one JSON line: the fusion path CuPy took, whether the CUDA it generated compiled for each
architecture, the operations that do not compute in float32, and the dtypes of the results.

How, with no GPU and no driver:

* the arguments are real ``cupy.ndarray`` objects of the recorded shapes, dtypes and strides, over
  made-up device addresses (``cupy.cuda.UnownedMemory``; temporaries from a fake allocator),
  never read or written;
* the call goes through the project's own ``@fused`` object on the CuPy backend, exactly as a layer
  makes it (memory order, ``typed_numbers``, ``cupy.fuse``), and CuPy's own tracer runs unmodified:
  its old fusion (``cupy/_core/fusion.pyx``), or its silent fallback to new fusion;
* the two places where CuPy would touch the device are replaced: old fusion's ``ElementwiseKernel``
  call (it asks for the device, allocates and launches; here CuPy's own generator
  ``_kernel._get_elementwise_kernel_code`` writes the source) and new fusion's ``_cuda_compile``
  (memoised per device); both sources then go through ``cupy._core.core.compile_with_cache``
  (CuPy's headers and options), whose last step, ``compiler._compile_module_with_cache``, asks the
  device for its architecture: here NVRTC (``cupy.cuda.nvrtc``) compiles for each ``--arch`` instead.

What it proves: CuPy traces the function with its old fusion (no silent fallback), the kernel it
generates compiles for sm_75 (a T4), sm_80 and sm_90, no operation in it computes in float16 or
float64, and every result is float32. What it cannot: the values at run time, launch limits, speed,
device memory, a GPU host's own driver and toolchain. It relies on CuPy internals (named above),
so CI pins the releases it checks (``.ci/run``).
"""
import argparse
import ctypes
import glob
import importlib
import io
import json
import os
import re
import string
import sys
from contextlib import redirect_stderr

import numpy


def load_nvrtc_from_wheels():
    """Make the NVRTC of the ``nvidia-cuda-nvrtc-cu12`` wheel loadable, and point CuPy at the CUDA
    headers of ``nvidia-cuda-runtime-cu12`` (CuPy 14.0 looks for neither in wheels)."""
    for folder in sys.path:
        for lib in sorted(glob.glob(os.path.join(folder, "nvidia", "*", "lib", "libnvrtc.so.*"))):   # cuda_nvrtc, cu13
            if "alt" not in lib and "builtins" not in lib:
                ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        for include in glob.glob(os.path.join(folder, "nvidia", "*", "include", "cuda_runtime.h")):
            os.environ.setdefault("CUDA_PATH", os.path.dirname(os.path.dirname(include)))


load_nvrtc_from_wheels()
import cupy                                                                             # noqa: E402
from cupy._core import _carray, _fusion_kernel, _kernel, _scalar, core, fusion          # noqa: E402
from cupy.cuda import compiler, nvrtc                                                   # noqa: E402

import nn.fast.fuse                                                                     # noqa: E402
from nn import backend                                                                  # noqa: E402
from nn.fast.fuse import fused                                                          # noqa: E402
from tests.backends import using                                                       # noqa: E402


# ------------------------------------------------------------------------------------ fake device memory

class FakeHeap:
    """Distinct, never-dereferenced device addresses."""

    def __init__(self):
        self.next = 0x7F0000000000

    def alloc(self, size):
        ptr, size = self.next, max(size, 1)
        self.next += (size + 0xFFFF) // 0x10000 * 0x10000 + 0x10000
        return cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(ptr, size, None, device_id=0), 0)


HEAP = FakeHeap()


def fake_array(shape, dtype, strides):
    """A cupy.ndarray of this shape, dtype and strides (in elements) over fake device memory."""
    dtype = numpy.dtype(dtype)
    span = 1 + sum((n - 1) * abs(s) for n, s in zip(shape, strides)) if all(shape) else 1
    return cupy.ndarray(tuple(shape), dtype, memptr=HEAP.alloc(span * dtype.itemsize),
                        strides=tuple(s * dtype.itemsize for s in strides))


def make_args(call):
    """The recorded description of one call (``tests/test_cupy_kernels.describe``) as arguments."""
    numbers = {"int": int, "float": float, "bool": bool}
    return [fake_array(a["shape"], a["dtype"], a["strides"]) if "shape" in a
            else numbers[a["number"]](a["value"]) if "number" in a else numpy.dtype(a["scalar"]).type(a["value"])
            for a in call]


# ------------------------------------------------------------------------------------------------ NVRTC

ARCHS = ["90"]
COMPILED = {}           # (source, options, arch) -> (ok, first lines of the log)
CAPTURED = {}           # what the current call generated: path, source, ops, result dtypes


def nvrtc_compile(source, options, arch):
    """Compile with NVRTC for sm_<arch>, as CuPy would on such a device; never load the result."""
    key = (source, tuple(options), arch)
    if key not in COMPILED:
        opts = tuple(options) + ("-ftz=true", f"-arch=sm_{arch}", "--device-as-default-execution-space")
        prog = nvrtc.createProgram(source, "kernel.cu", [], [])
        try:
            try:
                nvrtc.compileProgram(prog, opts)
                ok = True
            except nvrtc.NVRTCError:
                ok = False
            log = nvrtc.getProgramLog(prog)
        finally:
            nvrtc.destroyProgram(prog)
        errors = [line for line in log.splitlines() if "error" in line]
        COMPILED[key] = (ok, "" if ok else "; ".join(errors[:4]) or log.strip()[-500:])
    return COMPILED[key]


def compile_like_cupy(code, options=(), cooperative=False):
    """``core.compile_with_cache`` (CuPy adds its headers and options) ending in NVRTC, per arch."""
    def compile_module(source, options=(), *args, **kwargs):
        CAPTURED["compiled"] = {arch: nvrtc_compile(source, options, arch) for arch in ARCHS}

    real = compiler._compile_module_with_cache
    compiler._compile_module_with_cache = compile_module
    try:
        core.compile_with_cache(code, tuple(options), enable_cooperative_groups=cooperative)
    finally:
        compiler._compile_module_with_cache = real


# ------------------------------------------- old fusion: the ElementwiseKernel it builds, generated here

def reduced_shape_and_strides(shape, strides_per_array):
    """CuPy's ``_reduced_view_core``: merge adjacent axes that are contiguous in every array."""
    shape, strides = list(shape), [list(s) for s in strides_per_array]
    for i in range(len(shape) - 1, 0, -1):
        if all(st[i - 1] == st[i] * shape[i] for st in strides):
            shape[i] *= shape[i - 1]
            for st in strides:
                st[i - 1:i + 1] = [st[i]]
            del shape[i - 1]
    return shape, strides


def c_strides(shape):
    return [int(numpy.prod(shape[i + 1:])) for i in range(len(shape))]


class GeneratingElementwiseKernel(_kernel.ElementwiseKernel):
    """What old fusion builds and calls; here its call writes CuPy's source, compiles it, and returns
    results over fake memory instead of launching."""

    def __call__(self, *args, **kwargs):
        inputs = list(args[:self.nin])
        arrays = [a for a in inputs if isinstance(a, cupy.ndarray)]
        shape = numpy.broadcast_shapes(*[a.shape for a in arrays])
        in_types, out_types, type_map = self._decide_params_type(
            tuple(a.dtype if isinstance(a, cupy.ndarray) else None for a in inputs), ())

        def broadcast_strides(a):
            full = (1,) * (len(shape) - a.ndim) + a.shape
            own = [0] * (len(shape) - a.ndim) + [s // a.itemsize for s in a.strides]
            return [0 if n == 1 and big != 1 else s for n, big, s in zip(full, shape, own)]

        red_shape, red_strides = reduced_shape_and_strides(
            shape, [broadcast_strides(a) for a in arrays] + [c_strides(shape) for _ in out_types])
        ndim = len(red_shape)
        contiguous = [all(s == e or n == 1 for s, e, n in zip(st, c_strides(red_shape), red_shape))
                      for st in red_strides]
        ND, INDEXER, SCALAR = 1, 2, 3                  # CuPy's _ArgInfo kinds
        infos, k = [], 0
        for i, a in enumerate(inputs):
            if isinstance(a, cupy.ndarray):
                infos.append(_kernel._ArgInfo(ND, cupy.ndarray, a.dtype, ndim, contiguous[k], True))
                k += 1
            else:
                infos.append(_kernel._ArgInfo(SCALAR, _scalar.CScalar, numpy.dtype(in_types[i]), 0, True, True))
        for t in out_types:
            infos.append(_kernel._ArgInfo(ND, cupy.ndarray, numpy.dtype(t), ndim, True, True))
        infos.append(_kernel._ArgInfo(INDEXER, _carray.Indexer, None, ndim, True, True))
        code = _kernel._get_elementwise_kernel_code(tuple(infos), type_map, self.params, self.operation,
                                                    self.name, self.preamble, **self.kwargs)
        CAPTURED.update(path="old fusion", body=self.operation, source=code,
                        results=[str(numpy.dtype(t)) for t in out_types])
        compile_like_cupy(code, self.kwargs.get("options", ()))
        outs = [cupy.ndarray(shape, t, memptr=HEAP.alloc(int(numpy.prod(shape)) * numpy.dtype(t).itemsize))
                for t in out_types]
        if self.no_return:
            return None
        return outs[0] if len(outs) == 1 and not self.return_tuple else tuple(outs)


# ------------------------------------------------------ new fusion: its _cuda_compile, ending in NVRTC

class NewFusionCaptured(BaseException):
    """New fusion would launch now; a BaseException so that ``@fused``'s fallback does not catch it."""


def generating_cuda_compile(preamble, name, cuda_params, cuda_body, use_grid_sync):
    template = '${preamble}\n\nextern "C" __global__ void ${name}(${cuda_params}) ${cuda_body}\n'
    if use_grid_sync:
        template = "#include <cooperative_groups.h>\n\n" + template
    code = string.Template(template).substitute(preamble=preamble, name=name, cuda_params=cuda_params,
                                                cuda_body=cuda_body)
    CAPTURED.update(path="new fusion (CuPy's silent fallback: old fusion failed: "
                         f"{CAPTURED.get('old_fusion_error', '?')})", body=cuda_body, source=code, results=None)
    compile_like_cupy(code, (), cooperative=use_grid_sync)
    raise NewFusionCaptured()


REAL_GET_FUSION = fusion._FusionHistory.get_fusion


def recording_get_fusion(self, func, args, name):
    try:
        return REAL_GET_FUSION(self, func, args, name)
    except Exception as e:        # noqa: BLE001  CuPy catches this and silently tries new fusion
        CAPTURED["old_fusion_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
        raise


class generating_instead_of_launching:
    """Inside the block, fused calls generate and compile their CUDA instead of touching a device."""

    def __enter__(self):
        self.saved = _kernel.ElementwiseKernel, _fusion_kernel._cuda_compile, fusion._FusionHistory.get_fusion
        _kernel.ElementwiseKernel = GeneratingElementwiseKernel
        _fusion_kernel._cuda_compile = generating_cuda_compile
        fusion._FusionHistory.get_fusion = recording_get_fusion

    def __exit__(self, *exc):
        _kernel.ElementwiseKernel, _fusion_kernel._cuda_compile, fusion._FusionHistory.get_fusion = self.saved


# -------------------------------------------------------------------------------------- dtypes of the ops

def ops_not_float32(body, source):
    """The operations of a generated kernel that do not compute in float32, e.g. ['subtract:float16'].

    Old fusion writes each operation as a call ``cupy_<ufunc>(vN_0, ...)`` on temporaries declared
    ``T vN_0;``; new fusion writes one device function per operation, ``cupy_<ufunc>_<N>(...)``,
    whose first line ``typedef T in0_type;`` is the type it computes in.
    """
    types = {m.group(2): m.group(1) for m in re.finditer(r"\b(\w+) v(\d+)_0;", body)}
    calls = {m.group(2): m.group(1) for m in re.finditer(r"\b(\w+)\(v(\d+)_0\b", body)}
    if calls and types:
        ops = [(calls[i].replace("cupy_", ""), types.get(i, "?")) for i in sorted(calls, key=int)]
    else:
        ops = [(name, t) for name, _, t in sorted(
            re.findall(r"__device__ void cupy_(\w+?)_(\d+)\([^)]*\)\s*\{\s*typedef (\w+) in0_type;", source),
            key=lambda o: int(o[1]))]
    return [f"{name}:{t}" for name, t in ops if t != "float"]


# ------------------------------------------------------------------------------------------------ checks

def find_fused(qualname):
    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(module), name)


def check(qualname, call):
    """One recorded call of one fused function, through the project's ``@fused`` on CuPy."""
    f = find_fused(qualname)
    assert isinstance(f, fused), f"{qualname} is not a @fused function"
    xp = backend.xp()
    f.kernels.pop(id(xp), None)                         # trace afresh: a new cupy.fuse object
    CAPTURED.clear()
    notes = io.StringIO()
    result = {"function": qualname, "call": signature(call)}
    try:
        with generating_instead_of_launching(), redirect_stderr(notes):
            out = f(*make_args(call))
        result["returned"] = [str(r.dtype) for r in (out if isinstance(out, tuple) else (out,)) if r is not None]
    except NewFusionCaptured:
        pass
    except Exception as e:                              # noqa: BLE001  reported, and the test fails on it
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    if f.kernels.get(id(xp), (None, True))[1] is None:  # @fused gave up on CuPy: runs unfused from now on
        result["path"] = "unfused (" + notes.getvalue().strip()[:300] + ")"
    else:
        result["path"] = CAPTURED.get("path", "nothing generated")
    if "source" in CAPTURED:
        result["compiled"] = {arch: ok for arch, (ok, _) in CAPTURED["compiled"].items()}
        result["compile_log"] = next((log for ok, log in CAPTURED["compiled"].values() if not ok), "")
        result["ops_not_float32"] = ops_not_float32(CAPTURED["body"], CAPTURED["source"])
        result["results"] = CAPTURED["results"]
    return result


def signature(call):
    return ", ".join(f"{a['dtype']}{tuple(a['shape'])}" if "shape" in a else a.get("number") or a["scalar"]
                     for a in call)


def main(argv=None):
    global ARCHS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calls", help="JSON: fused function -> list of recorded calls")
    parser.add_argument("--arch", nargs="+", default=["75", "80", "90"])
    parser.add_argument("--untyped-numbers", action="store_true",
                        help="a planted defect: Python numbers reach the kernel as they are (no typed_numbers)")
    args = parser.parse_args(argv)
    ARCHS = args.arch
    if args.untyped_numbers:
        nn.fast.fuse.typed_numbers = lambda args: args
    cupy.cuda.set_allocator(HEAP.alloc)
    with open(args.calls) as f:
        calls = json.load(f)
    print(json.dumps({"cupy": cupy.__version__, "numpy": numpy.__version__,
                      "nvrtc": ".".join(map(str, nvrtc.getVersion())), "arch": ARCHS}), flush=True)
    with backend.stand_in("cupy", cupy), using("cupy"):   # CuPy's namespace, no GPU asked for
        for qualname in sorted(calls):
            for call in calls[qualname]:
                print(json.dumps(check(qualname, call)), flush=True)


if __name__ == "__main__":
    main()
