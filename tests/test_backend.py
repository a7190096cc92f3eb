"""The backend module: selection, clear errors, transfers, seeding."""
import subprocess
import sys

import numpy as np
import pytest

from nn import backend


def test_import_nn_works_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None; import nn; "
            "print(nn.backend.name(), nn.backend.xp().__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "numpy"]


def test_cupy_not_installed_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)          # makes `import cupy` fail
    with pytest.raises(backend.BackendError, match="CuPy is not installed"):
        backend.use("cupy")
    assert backend.name() == "numpy"


def test_cupy_without_gpu_says_so(monkeypatch):
    class FakeRuntime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    class FakeCupy:
        __version__ = "14.2.0"

        class cuda:
            runtime = FakeRuntime

    monkeypatch.setitem(sys.modules, "cupy", FakeCupy)
    with pytest.raises(backend.BackendError, match="CuPy is installed, but no GPU is usable"):
        backend.use("cupy")


def test_unknown_backend():
    with pytest.raises(backend.BackendError, match="unknown backend 'jax'"):
        backend.use("jax")


def test_transfers_and_default_dtype(xp_backend):
    a = backend.to_device(np.arange(6.0).reshape(2, 3))
    assert a.dtype == backend.xp().float32 == backend.float_dtype()
    back = backend.to_numpy(a)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, np.arange(6.0).reshape(2, 3))
    assert backend.to_device(np.arange(3)).dtype == backend.xp().int64
    assert backend.to_device(np.zeros(2), "float64").dtype == backend.xp().float64


def test_seed_makes_draws_repeatable_and_state_restorable(xp_backend):
    backend.seed(42)
    a = backend.to_numpy(backend.randn((3, 4)))
    state = backend.get_rng_state()
    b = backend.to_numpy(backend.randn((3, 4)))
    backend.seed(42)
    np.testing.assert_array_equal(backend.to_numpy(backend.randn((3, 4))), a)
    backend.set_rng_state(state)
    np.testing.assert_array_equal(backend.to_numpy(backend.randn((3, 4))), b)
    assert a.dtype == np.float32


def test_same_seed_same_weights_on_every_backend(xp_backend):
    import nn
    backend.seed(7)
    here = nn.Conv2d(2, 3, 4).state_dict()
    backend.use("numpy")
    backend.seed(7)
    ref = nn.Conv2d(2, 3, 4).state_dict()
    for k in ref:
        np.testing.assert_array_equal(here[k], ref[k])


def test_keep_freed_memory_is_harmless():
    """glibc accepts the settings on Linux; elsewhere the call is a no-op returning False."""
    from gan.memory import keep_freed_memory
    result = keep_freed_memory()
    assert result in (True, False)
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert result is True
    a = np.ones((4096, 4096), np.float32)     # 64 MiB: still allocates and frees normally
    del a


def test_concat(xp_backend):
    a = backend.to_device(np.ones((2, 1, 3)))
    b = backend.to_device(np.zeros((2, 2, 3)))
    c = backend.concat([a, b], axis=1)
    assert tuple(c.shape) == (2, 3, 3) and c.dtype == backend.xp().float32
    np.testing.assert_array_equal(backend.to_numpy(c)[:, 0], 1)


def test_preserved_rng_gives_draws_back():
    backend.seed(5)
    with backend.preserved_rng():
        backend.randn((10,))
    a = backend.to_numpy(backend.randn((3,)))
    backend.seed(5)
    np.testing.assert_array_equal(backend.to_numpy(backend.randn((3,))), a)


def test_cupy_older_than_supported_is_refused_in_one_line(monkeypatch):
    class OldCupy:
        __version__ = "12.3.0"

    monkeypatch.setitem(sys.modules, "cupy", OldCupy)
    with pytest.raises(backend.BackendError, match=r"CuPy 12.3.0 is too old: this project needs CuPy 14.0 or newer"):
        backend.use("cupy")
    assert backend.name() == "numpy"


def test_cupy_that_cannot_import_next_to_numpy_2_says_so(monkeypatch):
    """CuPy 13.0 and 13.1 die on import under NumPy 2 (AttributeError: np.float_ was removed)."""
    import builtins
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "cupy":
            raise AttributeError("`np.float_` was removed in the NumPy 2.0 release.")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(backend.BackendError, match="CuPy cannot be imported next to NumPy"):
        backend.use("cupy")


def test_parse_release():
    assert backend.parse_release("13.6.0") == (13, 6)
    assert backend.parse_release("14.0.0rc1") == (14, 0)
    assert backend.parse_release("") == (0, 0)
