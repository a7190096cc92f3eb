"""Every ``@fused`` kernel computes in float32 on every CuPy the project admits, proven without a GPU.

The calls come from real training steps on NumPy (32x32 conditional and 64x64 with a linear head,
both with the averaged generator, then sampling), so a new fused function or a new call is covered
without editing this file. For each CuPy wheel folder named by ``$DCGAN_CUPY_DIRS`` (``.ci/run``
installs the oldest admitted release and the newest, pinned, with NVRTC), ``tests/cupy_kernels.py``
runs each call through the project's ``@fused`` on CuPy: CuPy traces it and generates the CUDA,
NVRTC compiles it for sm_75, sm_80 and sm_90. Asserted per call: CuPy's old fusion (no silent
fallback to new fusion, no fallback of ours to unfused), compiled for every architecture, no
operation in float16 or float64, float32 results. ``tests/cupy_kernels.py`` says what this proves
and what it cannot (values at run time, launch limits, speed, device memory).

On the CPU backends, the same calls are checked to return arrays of their inputs' dtype.
"""
import importlib
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import nn
from nn import backend
from nn import fast
from nn.fast.fuse import fused
from tests import cupy_standin
from tests.backends import available, using
from tests.test_fuse import every_fused_layer_forward_backward

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = [f for f in os.environ.get(cupy_standin.ENV, "").split(os.pathsep) if f]
need_wheels = pytest.mark.skipif(not FOLDERS, reason=f"no CuPy wheel folder named by {cupy_standin.ENV} (see .ci/run)")


def all_fused_functions():
    """'module.name' of every @fused function defined in nn/ (all of them are in nn/fast/)."""
    found = set()
    for package in (nn, fast):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name == "numba_loops" and importlib.util.find_spec("numba") is None:
                continue                  # the CPU's loops: they need numba, and hold no @fused function
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found |= {f"{module.__name__}.{name}" for name, obj in vars(module).items()
                      if isinstance(obj, fused) and obj.fn.__module__ == module.__name__}
    return found


def describe(a):
    """One argument of a fused call as JSON: an array's dtype, shape and strides (in elements), or a number."""
    if isinstance(a, np.ndarray):
        return {"dtype": str(a.dtype), "shape": list(a.shape), "strides": [s // a.itemsize for s in a.strides]}
    if isinstance(a, np.generic):
        return {"scalar": str(a.dtype), "value": a.item()}
    return {"number": type(a).__name__, "value": a}


def watch_fused_calls(monkeypatch, on_call):
    """From now on, every @fused call also calls ``on_call(the fused function, args, result)``."""
    real_call = fused.__call__

    def watched_call(self, *args):
        result = real_call(self, *args)
        on_call(self, args, result)
        return result

    monkeypatch.setattr(fused, "__call__", watched_call)


def record_fused_calls(monkeypatch):
    """{'module.name': {key: call}}, filled by every @fused call from now on (each distinct call once)."""
    calls = {}

    def record(f, args, result):
        call = [describe(a) for a in args]
        key = json.dumps([{k: v for k, v in d.items() if k != "value"} for d in call])
        calls.setdefault(f"{f.fn.__module__}.{f.fn.__name__}", {}).setdefault(key, call)

    watch_fused_calls(monkeypatch, record)
    return calls


def training_steps():
    """What a run does with fused functions: train steps at 32x32 (conditional, label smoothing,
    instance noise) and 64x64 (linear head), each with the averaged generator, then sample; and every
    layer with a fused part in train and eval mode."""
    import dcgan
    from gan.config import Config
    rng = np.random.default_rng(0)
    for size, nc, extra in ((32, 1, dict(conditional=True, n_classes=10, real_label=0.9, instance_noise=0.1)),
                            (64, 3, dict(head="linear"))):
        cfg = Config(nc=nc, image_size=size, batch_size=4, nz=8, ngf=4, ndf=4, ema=0.999, **extra)
        images = rng.integers(0, 256, (8, nc, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, 8) if extra.get("conditional") else None
        trainer = dcgan.Trainer(cfg, images, labels, layers=fast)
        for _ in range(2):
            trainer.step(*trainer.next_batch())
        trainer.grid_images()
    every_fused_layer_forward_backward()


@pytest.fixture(scope="module")
def recorded_calls(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCGAN_NUMBA", "0")      # CuPy's calls: on NumPy, numba's loops would stand in for some of them
        calls = record_fused_calls(mp)
        with using("numpy"):
            training_steps()
    path = tmp_path_factory.mktemp("cupy-kernels") / "calls.json"
    path.write_text(json.dumps({name: list(c.values()) for name, c in calls.items()}))
    return calls, path


def test_every_fused_function_is_called_in_the_recorded_steps(recorded_calls):
    """A fused function no training step calls would go unchecked on CuPy: add its use to training_steps."""
    calls, _ = recorded_calls
    assert all_fused_functions() - set(calls) == set()
    assert len(all_fused_functions()) >= 14


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_fused_results_have_their_inputs_dtype_on_the_cpu(name, monkeypatch):
    """float32 in, float32 out, for every call a training step makes (``assert_allclose`` would not see it)."""
    usable, why = available(name)
    if not usable:
        pytest.skip(why)
    wrong = []

    def check(f, args, result):
        dtype = next(a.dtype for a in args if hasattr(a, "dtype"))
        for r in result if isinstance(result, tuple) else (result,):
            if r is not None and r.dtype != dtype:
                wrong.append(f"{f.__name__}: {dtype} in, {r.dtype} out")

    watch_fused_calls(monkeypatch, check)
    with using(name):
        backend.seed(0)
        every_fused_layer_forward_backward()
    if name == "numpy":
        training_steps()
    assert wrong == []


def run_check(folder, calls_path, *flags):
    """tests/cupy_kernels.py with the CuPy of ``folder``: (header, one result per call)."""
    env = dict(os.environ, PYTHONPATH=folder)
    done = subprocess.run([sys.executable, "-m", "tests.cupy_kernels", str(calls_path), *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return lines[0], lines[1:]


def problems(result):
    """What is wrong with one call's kernel, in words (empty: old fusion, compiled, float32 throughout)."""
    found = []
    if result["path"] != "old fusion":
        found.append(result["path"])
    if "error" in result:
        found.append(result["error"])
    found += [f"does not compile for sm_{arch}: {result['compile_log']}"
              for arch, ok in result.get("compiled", {}).items() if not ok]
    if result.get("ops_not_float32"):
        found.append(f"computes in {', '.join(result['ops_not_float32'])}")
    for dtypes in (result.get("results"), result.get("returned")):
        if dtypes and set(dtypes) != {"float32"}:
            found.append(f"returns {dtypes}")
    return found


@need_wheels
@pytest.mark.parametrize("folder", FOLDERS, ids=os.path.basename)
def test_every_fused_kernel_traces_compiles_and_computes_in_float32(folder, recorded_calls):
    header, results = run_check(folder, recorded_calls[1])
    print(header)
    for r in results:
        print(f"{r['function']}({r['call']}): {r['path']}, compiled {r.get('compiled')}, "
              f"not float32: {r.get('ops_not_float32')}, results {r.get('results')}")
    assert {r["function"] for r in results} == set(recorded_calls[0])
    bad = {f"{r['function']}({r['call']})": problems(r) for r in results if problems(r)}
    assert bad == {}, f"CuPy {header['cupy']}: " + json.dumps(bad, indent=1)


@need_wheels
def test_the_check_fails_on_planted_defects(tmp_path):
    """Defects a fused function could have, each caught; and this issue's own bug, put back
    (Python numbers passed to the kernel as they are), caught on the newest release."""
    folder = FOLDERS[-1]
    a = {"dtype": "float32", "shape": [8, 4], "strides": [4, 1]}
    calls = {"tests.fused_defects.reshapes": [[a]],
             "tests.fused_defects.branches_on_a_value": [[a, {"number": "float", "value": 0.2}]],
             "tests.fused_defects.undefined_device_function": [[a]],
             "tests.fused_defects.mixes_in_float64": [[a, {"scalar": "float64", "value": 0.2}]],
             "nn.fast.ema.move_towards": [[{"dtype": "float32", "shape": [829], "strides": [1]}] * 2
                                     + [{"number": "float", "value": 0.99}]]}
    path = tmp_path / "calls.json"
    path.write_text(json.dumps(calls))
    header, results = run_check(folder, path, "--arch", "75", "--untyped-numbers")
    found = {r["function"].rpartition(".")[2]: " / ".join(problems(r)) for r in results}
    print(header, json.dumps(found, indent=1))
    assert found["reshapes"].startswith("unfused") and found["branches_on_a_value"].startswith("unfused")
    assert "does not compile for sm_75" in found["undefined_device_function"]
    assert "multiply:double" in found["mixes_in_float64"] and "returns ['float64']" in found["mixes_in_float64"]
    assert "subtract:float16" in found["move_towards"]
