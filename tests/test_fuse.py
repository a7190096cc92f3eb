"""nn/fast/fuse.py: ``@fused`` runs the function as written where nothing can fuse, uses the backend's ``fuse``
where there is one, falls back loudly when that fails, and (on a real GPU) agrees with the unfused layers."""
import copy
import types

import numpy as np
import pytest

from nn import backend
from nn import fast
from nn.fast.fuse import fused
from tests.backends import available, using


@fused
def axpy(a, x, y):
    return a * x + y


def test_without_fuse_the_function_runs_as_written():
    x, y = np.arange(3.0), np.ones(3)
    np.testing.assert_array_equal(axpy(2.0, x, y), 2.0 * x + y)
    assert axpy.__name__ == "axpy" and "fuse" not in dir(backend.xp())


def fusing_namespace(calls, fails=False):
    """NumPy with a ``fuse`` like CuPy's: it records which functions it fused and each call of the result."""
    def fuse(fn):
        calls.append(("fuse", fn.__name__))

        def kernel(*args):
            calls.append(("kernel", fn.__name__))
            if fails:
                raise TypeError("cannot trace this")
            return fn(*args)
        return kernel
    return types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("_")}, fuse=fuse)


def test_a_backend_with_fuse_gets_one_kernel_made_once(monkeypatch):
    monkeypatch.delenv("DCGAN_FUSE", raising=False)
    calls = []
    with backend.stand_in("cupy", fusing_namespace(calls)), using("cupy"):
        f = fused(lambda a, x, y: a * x + y)
        assert f(2.0, np.ones(2), np.ones(2)).tolist() == [3.0, 3.0]
        f(2.0, np.ones(2), np.ones(2))
    assert [c[0] for c in calls] == ["fuse", "kernel", "kernel"]


def test_a_function_that_cannot_be_fused_says_so_once_and_runs_unfused(monkeypatch, capsys):
    monkeypatch.delenv("DCGAN_FUSE", raising=False)
    calls = []
    with backend.stand_in("cupy", fusing_namespace(calls, fails=True)), using("cupy"):
        f = fused(axpy.fn)
        for _ in range(3):
            assert f(2.0, np.ones(2), np.zeros(2)).tolist() == [2.0, 2.0]
    err = capsys.readouterr().err
    assert err.count("note: CuPy could not fuse axpy (TypeError: cannot trace this)") == 1
    assert [c[0] for c in calls] == ["fuse", "kernel"]                  # never tried again


def test_DCGAN_FUSE_0_turns_fusion_off(monkeypatch):
    monkeypatch.setenv("DCGAN_FUSE", "0")
    calls = []
    with backend.stand_in("cupy", fusing_namespace(calls)), using("cupy"):
        fused(axpy.fn)(2.0, np.ones(2), np.ones(2))
    assert calls == []


def test_the_launch_counter_counts_a_fused_call_as_one_kernel(monkeypatch):
    from benchmarks import launches
    for setting, expected in (("1", 1), ("0", 2)):                      # a * x + y: two operations unfused
        monkeypatch.setenv("DCGAN_FUSE", setting)
        launches.COUNTS.clear()
        with backend.stand_in("numpy", launches.CountingNamespace()), using("numpy"), \
                launches.fused_calls_count_once():
            x = backend.to_device(np.ones(4))
            axpy(2.0, x, x)
        assert launches.COUNTS["other"] == expected, setting


def every_fused_layer_forward_backward(nn=fast):
    """Outputs and gradients of every layer with a fused part, float32, train and eval BatchNorm;
    then Adam and the weight average (both update in place). ``nn``: the layer library, nn.fast or nn."""
    rng = np.random.default_rng(0)
    backend.seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Tanh(),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5), nn.BatchNorm1d(5), nn.Sigmoid())
    x = backend.to_device(rng.standard_normal((6, 3, 4, 4)))
    out = {}
    for mode in ("train", "eval"):
        model.train(mode == "train")
        model.zero_grad()
        y = model.forward(x)
        loss, dy = nn.BCEWithLogits()(y, 0.9)
        dx = model.backward(dy)
        out[mode] = [backend.to_numpy(a) for a in (y, loss, dx)] + [backend.to_numpy(p.grad) for p in model.parameters()]
    average = copy.deepcopy(model)
    ema, opt = nn.EMA(model, average, 0.9), nn.Adam(model, lr=0.01)
    for _ in range(3):
        opt.step()
        ema.update()
    out["updated"] = [backend.to_numpy(p.data) for p in model.parameters() + average.parameters()]
    out["buffers"] = [backend.to_numpy(b) for m in (model, average) for _, b in m.named_buffers()]   # BatchNorm's
    return out


def test_fused_layers_agree_with_unfused_on_cupy(monkeypatch):
    """Where CuPy runs (a GPU): every fused kernel against the same operations one by one, values and
    dtypes (float32 throughout: ``assert_allclose`` alone would not notice float64)."""
    usable, why = available("cupy")
    if not usable:
        pytest.skip(why)
    with using("cupy"):
        monkeypatch.setenv("DCGAN_FUSE", "1")
        fused_out = every_fused_layer_forward_backward()
        monkeypatch.setenv("DCGAN_FUSE", "0")
        plain_out = every_fused_layer_forward_backward()
    for mode in fused_out:
        for a, b in zip(fused_out[mode], plain_out[mode]):
            assert a.dtype == b.dtype == np.float32, (mode, a.dtype, b.dtype)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_same_layers_run_here():
    """The helper above runs on NumPy too (so the GPU test is not the first to run it)."""
    out = every_fused_layer_forward_backward()
    assert out["train"][0].shape == (6, 5) and np.isfinite(out["eval"][2]).all()
    assert {a.dtype for arrays in out.values() for a in arrays} == {np.dtype(np.float32)}
    assert len(out["updated"]) == 2 * len(out["train"]) - 6 and np.isfinite(np.concatenate([a.ravel() for a in out["updated"]])).all()


def test_results_keep_the_memory_order_of_the_first_argument(monkeypatch):
    """An NCHW view of (padded) CHWN memory in, NCHW views of CHWN memory out, even where every new
    result is C-contiguous (as on CuPy: the launch counter's namespace does that), so the next GEMM
    needs no transposed copy."""
    from benchmarks import launches
    from nn.fast.fuse import memory_order
    chwn = np.zeros((3, 6, 6, 2), dtype=np.float32)[:, 1:5, 1:5, :]             # padded, like col2im's result
    x = np.transpose(chwn, (3, 0, 1, 2))                                       # (N, C, H, W) view
    assert memory_order([x, np.ones((1, 3, 1, 1))]) == (1, 2, 3, 0)
    assert memory_order([x, 2.0]) == (1, 2, 3, 0)
    assert memory_order([np.ones((2, 3, 4, 4))]) is None                     # already in its memory order
    assert memory_order([np.ones((1, 3, 1, 1)), 1e-5]) is None               # one long axis: nothing to reorder
    assert memory_order([np.transpose(chwn[:, :, :1, :], (3, 0, 1, 2))]) == (1, 2, 0, 3)   # W of length 1 last
    assert memory_order([x, np.ones(3)]) is None                             # mixed ranks: left alone
    with backend.stand_in("numpy", launches.CountingNamespace()), using("numpy"), \
            launches.fused_calls_count_once():
        y, d = fast.activations.leaky_relu(launches.counted(x), 0.2)
    for r in (y, d):
        assert r.shape == x.shape and np.transpose(launches.plain(r), (1, 2, 3, 0)).flags.c_contiguous
