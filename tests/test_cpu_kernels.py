"""The CPU's fused kernels (numba, nn/fast/cpu_kernels.py): each equal to the readable layer it stands in for,
float32 in and out, actually run, the same on any number of threads; numba optional and switchable; its
compile cache outside the checkout; a resumed --layers fast run equal to the uninterrupted one.

Without numba installed the kernel tests skip and the plumbing tests check that nothing changes.
"""
import collections
import os
import subprocess
import sys

import numpy as np
import pytest

import nn
from nn import backend, fast
from nn.fast import cpu_kernels

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
numba_here = cpu_kernels.loops() is not None
needs_numba = pytest.mark.skipif(not numba_here, reason="numba not installed (or DCGAN_NUMBA=0)")
KERNELS = ["relu_flat", "leaky_relu_flat", "times_flat", "times_rows", "times_tanh_derivative_flat",
           "times_tanh_derivative_rows", "batchnorm_forward", "batchnorm_backward", "adam_update", "move_towards", "im2col", "col2im"]


@pytest.fixture
def ran(monkeypatch):
    """Counts the calls of each numba loop (so a test sees that the compiled path, not NumPy's, ran)."""
    calls = collections.Counter()
    loops = cpu_kernels.loops()
    for name in KERNELS:
        def counted(*args, _kernel=getattr(loops, name), _name=name):
            calls[_name] += 1
            return _kernel(*args)
        monkeypatch.setattr(loops, name, counted)
    return calls


def chwn(shape, pad=0, seed=0):
    """An (N, C, H, W) float32 array as the fast layers hand it on: a view of (C, H, W, N) memory,
    inside a zero border of ``pad`` (as col2im leaves it)."""
    N, C, H, W = shape
    memory = np.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=np.float32)
    inner = memory[:, pad:pad + H, pad:pad + W, :]
    inner[...] = np.random.default_rng(seed).standard_normal(inner.shape).astype(np.float32) * 2 + 0.5
    return np.permute_dims(inner, (3, 0, 1, 2))


LAYOUTS = {"chwn": lambda s, seed=0: chwn(s, 0, seed), "padded": lambda s, seed=0: chwn(s, 1, seed),
           "nchw": lambda s, seed=0: np.ascontiguousarray(chwn(s, 0, seed))}


def forward_backward(layer, x, dy):
    y = layer.forward(x)
    return y, layer.backward(dy)


def assert_close_float32(a, b, rtol=1e-5, atol=1e-6):
    assert a.dtype == b.dtype == np.float32, (a.dtype, b.dtype)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@needs_numba
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dy_layout", ["padded", "chwn"])
def test_batchnorm2d_training_forward_and_backward_equal_the_readable_layer(layout, dy_layout, ran):
    x, dy = LAYOUTS[layout]((6, 5, 4, 3)), LAYOUTS[dy_layout]((6, 5, 4, 3), seed=1)
    slow, quick = nn.BatchNorm2d(5), fast.BatchNorm2d(5)
    for bn in (slow, quick):
        bn.weight.data[...] = np.linspace(0.5, 2, 5, dtype=np.float32)
        bn.bias.data[...] = np.linspace(-1, 1, 5, dtype=np.float32)
    (ya, dxa), (yb, dxb) = forward_backward(slow, x, dy), forward_backward(quick, x, dy)
    assert ran["batchnorm_forward"] == ran["batchnorm_backward"] == 1
    assert_close_float32(ya, yb)
    assert_close_float32(dxa, dxb, rtol=1e-4, atol=1e-5)
    for a, b in [(slow.weight.grad, quick.weight.grad), (slow.bias.grad, quick.bias.grad),
                 (slow.running_mean, quick.running_mean), (slow.running_var, quick.running_var)]:
        assert_close_float32(a, b, rtol=1e-5, atol=1e-5)
    if layout != "nchw":                     # the fast layers hand on CHWN memory, as they got it
        assert np.permute_dims(yb, (1, 2, 3, 0)).flags.c_contiguous


@needs_numba
def test_batchnorm1d_and_eval_mode_equal_the_readable_layer(ran):
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((7, 4)).astype(np.float32)
    (ya, dxa), (yb, dxb) = forward_backward(nn.BatchNorm1d(4), x, dy), forward_backward(fast.BatchNorm1d(4), x, dy)
    assert ran["batchnorm_forward"] == 1
    assert_close_float32(ya, yb)
    assert_close_float32(dxa, dxb, rtol=1e-4, atol=1e-5)
    slow, quick = nn.BatchNorm2d(5).train(False), fast.BatchNorm2d(5).train(False)     # eval: NumPy's lines
    x4 = chwn((3, 5, 2, 2))
    assert_close_float32(slow.forward(x4), quick.forward(x4))
    assert ran["batchnorm_forward"] == 1


@needs_numba
@pytest.mark.parametrize("layer", ["ReLU", "LeakyReLU", "Tanh"])
@pytest.mark.parametrize("dy_layout", ["padded", "chwn", "nchw"])
def test_activations_equal_the_readable_ones(layer, dy_layout, ran):
    x, dy = chwn((4, 3, 5, 5)), LAYOUTS[dy_layout]((4, 3, 5, 5), seed=1)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]                    # the edges: 0, -0 and NaN (NaN stays NaN)
    dy[0, 0, 0, 3] = np.nan
    (ya, dxa), (yb, dxb) = forward_backward(getattr(nn, layer)(), x, dy), forward_backward(getattr(fast, layer)(), x, dy)
    np.testing.assert_array_equal(ya, yb)                  # one multiply each: equal to the bit
    if layer == "Tanh":                                    # dy * (1 - y^2): a fused multiply-add may round once less
        np.testing.assert_allclose(dxa, dxb, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(dxa, dxb)
    assert ya.dtype == yb.dtype == dxa.dtype == dxb.dtype == np.float32
    assert sum(ran.values()) == (1 if layer == "Tanh" else 2)


@needs_numba
def test_adam_and_the_average_equal_the_readable_ones_in_place(ran):
    def run(lib):
        backend.seed(0)
        model = lib.Sequential(lib.Conv2d(3, 4, 4, 2, 1), lib.BatchNorm2d(4))
        average = lib.Sequential(lib.Conv2d(3, 4, 4, 2, 1), lib.BatchNorm2d(4))
        arrays = [p.data for p in model.parameters() + average.parameters()]
        opt, ema = lib.Adam(model, lr=0.01, betas=(0.5, 0.999)), lib.EMA(model, average, 0.9)
        rng = np.random.default_rng(0)
        for _ in range(3):
            for p in model.parameters():
                p.grad = rng.standard_normal(p.shape).astype(np.float32)
            opt.step()
            ema.update()
        assert all(p.data is a for p, a in zip(model.parameters() + average.parameters(), arrays))   # in place
        return [p.data for p in model.parameters() + average.parameters()] + list(opt.m.values()) + list(opt.v.values())
    for a, b in zip(run(nn), run(fast)):
        assert_close_float32(a, b, rtol=1e-5, atol=1e-6)
    assert ran["adam_update"] == 3 * 4 and ran["move_towards"] == 3 * 6       # 4 parameters; 4 + 2 buffers


@needs_numba
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape, k, s, p", [((3, 4, 8, 8), 4, 2, 1), ((2, 3, 5, 5), 3, 1, 1), ((2, 2, 7, 7), 3, 2, 0)])
def test_im2col_and_col2im_equal_the_readable_ones(layout, shape, k, s, p, ran):
    """The columns (reordered: the fast ones run (oh, ow, n)) and the image: equal to the bit, the image in
    contiguous CHWN memory."""
    from nn import im2col as readable
    from nn.fast import im2col as quick
    x = LAYOUTS[layout](shape)
    N, C, H, W = shape
    OH, OW = readable.conv_output_size(H, k, s, p), readable.conv_output_size(W, k, s, p)
    slow, cols = readable.im2col(x, k, k, s, p), quick.im2col(x, k, k, s, p)
    assert cols.dtype == np.float32 and cols.shape == slow.shape
    np.testing.assert_array_equal(np.reshape(np.transpose(np.reshape(cols, (-1, OH, OW, N)), (0, 3, 1, 2)), slow.shape), slow)
    grads = np.random.default_rng(1).standard_normal(slow.shape).astype(np.float32)         # (n, oh, ow) order
    as_quick = np.reshape(np.transpose(np.reshape(grads, (-1, N, OH, OW)), (0, 2, 3, 1)), grads.shape)
    image = quick.col2im(as_quick, shape, k, k, s, p)
    assert image.dtype == np.float32 and np.permute_dims(image, (1, 2, 3, 0)).flags.c_contiguous
    np.testing.assert_allclose(image, readable.col2im(grads, shape, k, k, s, p), rtol=1e-6, atol=1e-6)
    assert ran["im2col"] == ran["col2im"] == 1


@needs_numba
def test_results_are_the_same_on_one_thread_and_two():
    """Each channel and each element is one thread's work: a resumed run on other threads continues exactly."""
    import numba
    from tests.test_fast_layers import every_fused_layer_forward_backward
    before = numba.get_num_threads()
    try:
        outputs = []
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            outputs.append(every_fused_layer_forward_backward(fast))
    finally:
        numba.set_num_threads(before)
    for part in outputs[0]:
        for a, b in zip(outputs[0][part], outputs[-1][part]):
            np.testing.assert_array_equal(a, b)


@needs_numba
def test_a_dcgan_step_with_numba_equals_one_without(monkeypatch, ran):
    from benchmarks.cases import make_trainer

    def run():
        backend.seed(0)
        trainer = make_trainer(32, 1, 8, ema=True, layers=fast)
        losses = [backend.to_numpy(trainer.step(*trainer.next_batch())) for _ in range(2)]
        return losses, trainer.G_avg.state_dict()
    (losses_on, on) = run()
    assert all(ran[k] > 0 for k in ("batchnorm_backward", "times_flat", "adam_update", "move_towards", "im2col", "col2im"))
    monkeypatch.setenv(cpu_kernels.ENV, "0")
    calls = sum(ran.values())
    losses_off, off = run()
    assert sum(ran.values()) == calls                            # DCGAN_NUMBA=0: not one compiled loop
    np.testing.assert_allclose(losses_on, losses_off, rtol=1e-4, atol=1e-5)
    for name in on:
        assert on[name].dtype == off[name].dtype == np.float32
        np.testing.assert_allclose(on[name], off[name], rtol=1e-4, atol=2e-4, err_msg=name)


@needs_numba
def test_the_loops_threads_wait_rather_than_spin():
    """numba's threads must not spin on the cores the BLAS needs next: the workqueue layer, unless the user chose."""
    import numba
    if os.environ.get("NUMBA_THREADING_LAYER"):
        pytest.skip("NUMBA_THREADING_LAYER is set: the user's choice stands")
    fast.ReLU().forward(chwn((3, 2, 4, 4)))                      # a parallel loop: its threads start
    if cpu_kernels.threads(numba.config.NUMBA_NUM_THREADS) > 1:
        assert numba.threading_layer() == cpu_kernels.THREADING_LAYER == "workqueue"
    else:                                                        # one thread: numba's own choice, run in place
        assert numba.config.THREADING_LAYER == "default"


def test_status_says_numba_only_where_it_runs(monkeypatch):
    import importlib.util
    if numba_here:
        assert cpu_kernels.status().startswith("numba ") and "thread" in cpu_kernels.status()
    else:
        assert cpu_kernels.status() is None
    monkeypatch.setenv(cpu_kernels.ENV, "0")
    assert cpu_kernels.status() is None and cpu_kernels.loops() is None
    assert not cpu_kernels.serves([np.zeros(3, dtype=np.float32)])
    assert (importlib.util.find_spec("numba") is not None) == numba_here


def test_without_numba_the_fast_layers_run_their_numpy_lines(monkeypatch):
    """numba absent (its import fails) is numba off: the same values as nn, no note."""
    monkeypatch.setitem(sys.modules, "numba", None)               # import numba -> ImportError
    monkeypatch.setattr(cpu_kernels, "_loaded", {})
    assert cpu_kernels.loops() is None and cpu_kernels.status() is None
    x = chwn((2, 3, 4, 4))
    np.testing.assert_array_equal(fast.ReLU().forward(x), nn.ReLU().forward(x))


def test_in_words_says_what_runs_and_why(monkeypatch):
    """The opening line's words: numba and its threads where it runs; else why not, each case its own words."""
    if numba_here:
        assert cpu_kernels.in_words() == cpu_kernels.status()
    monkeypatch.setenv(cpu_kernels.ENV, "0")
    assert cpu_kernels.in_words() == "numba off (DCGAN_NUMBA=0)"
    monkeypatch.delenv(cpu_kernels.ENV)
    monkeypatch.setattr(cpu_kernels, "_loaded", {"loops": None})     # installed, but its import failed
    monkeypatch.setattr(cpu_kernels.importlib.util, "find_spec", lambda name: object())
    assert "installed but cannot be imported" in cpu_kernels.in_words()
    monkeypatch.setattr(cpu_kernels.importlib.util, "find_spec", lambda name: None)
    assert cpu_kernels.in_words().startswith("without numba: pip install -r requirements-numba.txt")
    from tests.backends import using
    with using("array_api_strict"):
        assert cpu_kernels.in_words() is None                          # not NumPy: nothing to say


def test_the_opening_line_of_a_fast_run_on_numpy_says_what_runs_its_elementwise_work(noise_folder, tmp_path, capsys):
    from tests.conftest import train_tiny
    assert train_tiny(noise_folder, tmp_path / "run", "--layers", "fast", "--max-steps", "1") == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"layers fast ({cpu_kernels.in_words()})" in first, first


def test_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_kernels.threads(8) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "16")
    assert cpu_kernels.threads(8) == 8
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu_kernels.threads(2) == 2


def test_the_compile_cache_goes_to_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cpu_kernels.cache_dir() == str(tmp_path / "xdg" / "numpy-dcgan" / "numba")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cpu_kernels.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "numpy-dcgan", "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cpu_kernels.cache_dir() == str(tmp_path / "mine")


@needs_numba
def test_a_compiled_kernel_is_kept_in_the_cache_folder_not_the_checkout(tmp_path):
    """A fresh process compiles one kernel: its files land under $XDG_CACHE_HOME, none in the checkout
    (numba's default would be nn/fast/__pycache__)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    code = ("import numpy as np; from nn.fast import ema;"
            "a = np.ones(4, np.float32); ema.move_towards(a, np.zeros(4, np.float32), 0.5); assert (a == 0.5).all()")
    pycache = os.path.join(CHECKOUT, "nn", "fast", "__pycache__")
    numba_files = lambda: {f for f in (os.listdir(pycache) if os.path.isdir(pycache) else []) if ".nb" in f}
    before = numba_files()
    subprocess.run([sys.executable, "-c", code], cwd=CHECKOUT, env=env, check=True, timeout=300)
    kept = [f for _, _, files in os.walk(tmp_path / "numpy-dcgan" / "numba") for f in files]
    assert any(f.startswith("numba_loops.move_towards") for f in kept), kept
    assert numba_files() == before


@needs_numba
def test_resume_with_the_compiled_kernels_gives_identical_weights(tmp_path):
    """--layers fast with numba: 7 steps straight == 3 steps, stop, resume to 7."""
    import dcgan
    from PIL import Image
    from tests.test_dcgan import TINY, weights
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(folder / f"{i:02d}.png")
    run = lambda out, *extra: dcgan.main(["--dataset", "folder", "--data-dir", str(folder), "--out", str(out),
                                          *TINY, "--layers", "fast", *extra])
    assert run(tmp_path / "straight", "--max-steps", "7") == 0
    assert run(tmp_path / "split", "--max-steps", "3") == 0
    assert dcgan.main(["--resume", str(tmp_path / "split"), "--max-steps", "7", "--no-progress", "--layers", "fast"]) == 0
    a, b = weights(tmp_path / "straight/checkpoint.npz"), weights(tmp_path / "split/checkpoint.npz")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
