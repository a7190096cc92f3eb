"""dcgan.py end to end on tiny networks and tiny generated data: outputs, resume, errors, generate."""
import csv
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import checkpoint, errors, models
from gan.config import Config
from gan.run_folder import METRIC_FIELDS
import nn
from nn import backend

TINY = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--image-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """40 small grayscale PNGs: blobs at random places (5 steps per epoch at batch 8)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    for i in range(40):
        cy, cx = rng.integers(6, 22, 2)
        img = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)).astype(np.uint8)
        Image.fromarray(img, "L").save(root / f"{i:02d}.png")
    return str(root)


def run_train(folder, out, *extra):
    return dcgan.main(["--dataset", "folder", "--data-dir", folder, "--out", str(out), *TINY, *extra])


def weights(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(("G/", "D/", "opt_G/", "opt_D/"))}


@pytest.fixture(scope="module")
def trained_run(image_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert run_train(image_folder, out, "--epochs", "2", "--log-every", "2") == 0
    return out


def test_architecture_matches_pytorch_dcgan_example():
    backend.use("numpy")
    for size, n_convs in ((16, 3), (32, 4), (64, 5), (128, 6)):
        G = models.build_generator(nz=100, ngf=64, nc=1, image_size=size)
        D = models.build_discriminator(ndf=64, nc=1, image_size=size)
        assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.layers) == n_convs
        assert sum(isinstance(m, nn.Conv2d) for m in D.layers) == n_convs
        assert isinstance(D.layers[1], nn.LeakyReLU)            # no BatchNorm on D's input layer
        assert isinstance(G.layers[-1], nn.Tanh)
        assert G[0].weight.shape == (100, 64 * 2 ** (n_convs - 2), 4, 4)
    G = models.build_generator(8, 4, 3, 64)
    D = models.build_discriminator(4, 3, 64)
    x = G.forward(backend.randn((2, 8, 1, 1)))
    assert x.shape == (2, 3, 64, 64)
    assert D.forward(x).shape == (2, 1)
    with pytest.raises(errors.UserError, match="the nearest: 32 or 64"):
        models.build_generator(image_size=48)


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_any_supported_size_trains_and_shows_its_shapes(size, tiny_mnist, no_checksums, tmp_path, capsys):
    """Every power of two from 16 to 128: G makes that size, D takes it, a step trains, and the run's opening
    lines show each layer's output, as print(netG) does in PyTorch's example."""
    flags = ["--dataset", "mnist", "--data-dir", tiny_mnist, "--nz", "8", "--ngf", "2", "--ndf", "2",
             "--batch-size", "8", "--no-progress", "--max-steps", "1", "--image-size", str(size)]
    assert dcgan.main([*flags, "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    out = captured.out
    resized = f"note: mnist's 28x28 images are padded to 32x32 and resized to {size}x{size} (--image-size {size})"
    assert (resized in captured.err) == (size != 32)                       # 32 is padding only: no note
    hidden = [2 * 2 ** i for i in reversed(range(size.bit_length() - 3))]       # G's widths from 4x4 out
    g_line = "G: 8x1x1 -> " + " -> ".join(f"{w}x{4 * 2 ** i}x{4 * 2 ** i}" for i, w in enumerate(hidden))
    assert f"{g_line} -> 1x{size}x{size}\n" in out
    assert f"D: 1x{size}x{size} -> {hidden[-1]}x{size // 2}x{size // 2} -> " in out
    assert " -> 1x1x1   (python dcgan.py --show-model: every layer)\n" in out
    with np.load(tmp_path / "run" / "checkpoint.npz") as f:
        assert f["fixed_noise"].shape[1] == 8
    assert dcgan.main(["generate", "--checkpoint", str(tmp_path / "run"), "--n", "4", "--out", str(tmp_path / "g")]) == 0
    assert np.load(tmp_path / "g" / "samples.npy").shape[-2:] == (size, size)


def test_show_model_prints_every_layer_and_trains_nothing(tmp_path, capsys):
    assert dcgan.main(["--show-model", "--image-size", "128", "--ngf", "8", "--ndf", "8", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("G: ") and "ConvTranspose2d(100, 128, kernel_size=4, stride=1, padding=0, bias=False)" in out
    assert "-> (1, 128, 128)" in out and "-> (8, 64, 64)" in out and "\nD: " in out
    assert not (tmp_path / "r").exists()                                    # nothing written
    assert dcgan.main(["--show-model", "--dataset", "folder", "--conditional"]) == 0
    out = capsys.readouterr().out
    assert "shown with 3 channels" in out and "one input channel per class" in out and "(3, 64, 64)" in out


def test_train_step_is_float32_end_to_end(xp_backend):
    cfg = Config(nz=8, ngf=4, ndf=4, nc=1, batch_size=4)
    trainer = dcgan.Trainer(cfg, np.zeros((8, 1, 32, 32), np.uint8))
    real, labels = trainer.next_batch()
    stats = trainer.step(real, labels)
    f32 = backend.xp().float32
    assert real.dtype == f32 and stats.dtype == f32
    for model in (trainer.G, trainer.D):
        for name, p in model.named_parameters():
            assert p.data.dtype == f32 and p.grad.dtype == f32, name
        for name, b in model.named_buffers():
            assert b.dtype == f32, name
    for opt in (trainer.opt_G, trainer.opt_D):
        assert all(m.dtype == f32 for m in list(opt.m.values()) + list(opt.v.values()))


def test_run_leaves_every_output(trained_run):
    out = trained_run
    for name in ["checkpoint.npz", "losses.png", "progress.gif", "metrics.csv",
                 "samples/epoch_000.png", "samples/epoch_001.png", "samples/epoch_002.png"]:
        assert os.path.getsize(out / name) > 0, name
    grid = Image.open(out / "samples/epoch_002.png")
    assert grid.size == (8 * 34 + 2, 8 * 34 + 2)              # 8x8 tiles of 32 px, 2 px borders
    assert Image.open(out / "progress.gif").n_frames == 3
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == METRIC_FIELDS
    assert [int(r["step"]) for r in rows] == [2, 4, 5, 7, 9, 10]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss_d", "loss_g", "d_x", "d_g_z"))
    assert all(0 <= float(r["d_x"]) <= 1 for r in rows)
    with np.load(out / "checkpoint.npz") as ckpt:
        assert int(ckpt["step"]) == 10 and int(ckpt["epoch"]) == 2
    assert not [p for p in os.listdir(out) if p.startswith(".checkpoint-")]    # no temp files left


def test_resume_gives_identical_weights(image_folder, tmp_path):
    """7 steps straight == 3 steps, stop, resume to 7 (crossing an epoch boundary: 5 steps per epoch)."""
    assert run_train(image_folder, tmp_path / "straight", "--max-steps", "7") == 0
    assert run_train(image_folder, tmp_path / "split", "--max-steps", "3") == 0
    assert dcgan.main(["--resume", str(tmp_path / "split"), "--max-steps", "7", "--no-progress"]) == 0
    a, b = weights(tmp_path / "straight/checkpoint.npz"), weights(tmp_path / "split/checkpoint.npz")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    with open(tmp_path / "split/metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [3, 5, 7]


def test_resume_epochs_count_the_total(trained_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "more"
    shutil.copytree(trained_run, run)
    assert dcgan.main(["--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert "already trained 2 of its 2 epochs" in capsys.readouterr().out
    assert dcgan.main(["--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    with np.load(run / "checkpoint.npz") as ckpt:
        assert int(ckpt["epoch"]) == 3 and int(ckpt["step"]) == 15
    assert (run / "samples/epoch_003.png").exists()


def test_same_seed_same_run_and_other_seed_differs(image_folder, tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert run_train(image_folder, tmp_path / name, "--max-steps", "2", "--seed", seed) == 0
    a, b, c = (weights(tmp_path / n / "checkpoint.npz") for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["G/0.weight"], c["G/0.weight"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_save_and_exit_cleanly(image_folder, tmp_path, monkeypatch, capsys, sig):
    original = dcgan.Trainer.step

    def step_then_signal(self, real, labels=None):
        stats = original(self, real, labels)
        if self.step_count == 3:
            os.kill(os.getpid(), sig)                    # what Ctrl-C, timeout, Docker or Slurm deliver
        return stats

    monkeypatch.setattr(dcgan.Trainer, "step", step_then_signal)
    assert run_train(image_folder, tmp_path / "run", "--epochs", "5") == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"stopped by {signal.Signals(sig).name}: step 3 (0 of 5 epochs + 3 steps)"), last
    assert "checkpoint " in last and f"--resume {tmp_path / 'run'}" in last
    assert (tmp_path / "run/samples/epoch_000_step_0000003.png").exists()      # the grid of where it stopped
    assert (tmp_path / "run/progress.gif").exists()
    with np.load(tmp_path / "run/checkpoint.npz") as ckpt:
        assert int(ckpt["step"]) == 3


def test_nan_loss_stops_and_keeps_last_good_checkpoint(image_folder, tmp_path, monkeypatch, capsys):
    original = dcgan.Trainer.step

    def diverging_step(self, real, labels=None):
        stats = original(self, real, labels)
        return stats * float("nan") if self.step_count >= 7 else stats

    monkeypatch.setattr(dcgan.Trainer, "step", diverging_step)
    assert run_train(image_folder, tmp_path / "run", "--epochs", "3", "--log-every", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: loss became nan at step 7") and "last good checkpoint" in err
    assert len(err.strip().splitlines()) == 1
    with np.load(tmp_path / "run/checkpoint.npz") as ckpt:
        assert int(ckpt["step"]) == 5                     # the end of epoch 1, untouched


def test_generate_writes_images_npy_grid_and_gif(trained_run, tmp_path):
    out = tmp_path / "gen"
    ckpt = str(trained_run / "checkpoint.npz")
    assert dcgan.main(["generate", "--checkpoint", ckpt, "--n", "10", "--out", str(out),
                       "--seed", "3", "--interpolate", "3"]) == 0
    samples = np.load(out / "samples.npy")
    assert samples.shape == (10, 1, 32, 32) and samples.dtype == np.float32
    assert samples.min() >= -1 and samples.max() <= 1
    assert len([p for p in os.listdir(out) if p[:5].isdigit()]) == 10
    assert Image.open(out / "00000.png").size == (32, 32)
    assert Image.open(out / "grid.png").size[0] > 32
    assert Image.open(out / "interpolation.gif").n_frames == 4          # 3 frames there, 1 more on the way back
    again = tmp_path / "again"
    assert dcgan.main(["generate", "--checkpoint", ckpt, "--n", "10", "--out", str(again), "--seed", "3"]) == 0
    np.testing.assert_array_equal(np.load(again / "samples.npy"), samples)
    assert dcgan.main(["generate", "--checkpoint", ckpt, "--n", "4", "--out", str(tmp_path / "r"),
                       "--bn-stats", "running"]) == 0


def test_generate_on_array_api_strict_matches_numpy(trained_run, tmp_path):
    """A checkpoint loads on another backend and gives the same images (here the strict array-API one)."""
    ckpt = checkpoint.load_checkpoint(str(trained_run / "checkpoint.npz"))
    z = np.random.default_rng(0).standard_normal((6, 8, 1, 1)).astype(np.float32)
    backend.use("numpy")
    _, G, _ = checkpoint.load_models(ckpt)
    ref = models.sample(G, z)
    backend.use("array_api_strict")
    try:
        _, G, _ = checkpoint.load_models(ckpt)
        np.testing.assert_allclose(models.sample(G, z), ref, atol=1e-5)
    finally:
        backend.use("numpy")


# ---------------------------------------------------------------------------- error paths

def test_missing_mnist_files_offline(tmp_path, capsys):
    assert dcgan.main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"),
                       "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "train-images-idx3-ubyte" in err and len(err.strip().splitlines()) == 1


def test_cupy_without_cupy_or_gpu(tmp_path):
    code = "import sys; sys.modules['cupy'] = None; import dcgan; sys.exit(dcgan.main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", code, "--backend", "cupy", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 1
    err = res.stderr.strip()
    assert err.startswith("error: backend 'cupy' asked for, but CuPy is not installed") and "\n" not in err
    assert err.endswith("install it with: pip install -r requirements-gpu.txt")


@pytest.mark.parametrize("flags,message", [
    (["--image-size", "48"], "image size 48 is not supported"),
    (["--batch-size", "0"], "must be at least 1"),
    (["--lr", "-1"], "must be a positive number"),
    (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["--epochs", "two"], "'two' is not an integer"),
    (["--beta1", "1"], "must be at least 0 and below 1"),
    (["--beta1", "nan"], "must be at least 0 and below 1"),
    (["--lr", "nan"], "must be a positive number"),
    (["--seed", "-1"], "must be an integer from 0 to 2**32 - 1"),
    (["--label-smoothing", "1.5"], "must be in (0, 1]"),
    (["--instance-noise", "nan"], "must be 0 or more"),
])
def test_bad_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        dcgan.main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_checkpoints(trained_run, tmp_path, capsys):
    gen = ["generate", "--n", "2", "--out", str(tmp_path / "g"), "--checkpoint"]
    assert dcgan.main(gen + [str(tmp_path / "nope.npz")]) == 1
    assert "does not exist" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(open(trained_run / "checkpoint.npz", "rb").read()[:500])
    assert dcgan.main(gen + [str(corrupt)]) == 1
    assert "cannot be read" in capsys.readouterr().err
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    assert dcgan.main(gen + [str(foreign)]) == 1
    assert "not a checkpoint of this program" in capsys.readouterr().err
    # another architecture: the config says ngf 4, the weights are of a wider G
    state = dict(np.load(trained_run / "checkpoint.npz"))
    state["G/0.weight"] = np.zeros((8, 32, 4, 4), np.float32)
    other = tmp_path / "other.npz"
    np.savez(other, **state)
    assert dcgan.main(gen + [str(other)]) == 1
    err = capsys.readouterr().err
    assert "does not fit its own config: G/0.weight has the shape (8, 32, 4, 4)" in err and err.count("\n") == 1
    assert dcgan.main(["--resume", str(tmp_path / "no-run")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_help_explains_flags():
    res = subprocess.run([sys.executable, "dcgan.py", "--help"], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert res.returncode == 0
    for flag in ["--backend", "--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--beta1", "--nz",
                 "--ngf", "--ndf", "--image-size", "--out", "--seed", "--resume", "--max-steps"]:
        assert flag in res.stdout


def test_default_command_downloads_mnist_and_trains(tmp_path, monkeypatch):
    """`python dcgan.py` with no data flags: MNIST comes from the mirrors (here a server on 127.0.0.1)."""
    import dataclasses

    from datasets import load as datasets_load
    from test_datasets import LocalServer, make_idx_files

    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DCGAN_DATA_CACHE", str(tmp_path / "cache"))
    server = LocalServer(tmp_path / "www")
    try:
        _, checksums = make_idx_files(server.folder)
        mnist = dataclasses.replace(datasets_load.MNIST, mirrors=("http://127.0.0.1:9/nothing/", server.url),
                                    checksums=checksums)
        monkeypatch.setitem(datasets_load._IDX_DATASETS, "mnist", mnist)
        assert dcgan.main(["--out", str(tmp_path / "run"), "--max-steps", "1", *TINY]) == 0
    finally:
        server.stop()
    assert sorted(os.listdir(tmp_path / "cache/mnist")) == ["train-images-idx3-ubyte.gz",
                                                            "train-labels-idx1-ubyte.gz"]   # training needs these two
    with np.load(tmp_path / "run/checkpoint.npz") as ckpt:
        assert int(ckpt["step"]) == 1


def test_resume_checkpoint_of_an_earlier_version(trained_run, tmp_path):
    """A checkpoint whose config predates the variant flags still resumes (they default to off)."""
    import json
    import shutil
    run = tmp_path / "old"
    shutil.copytree(trained_run, run)
    state = dict(np.load(run / "checkpoint.npz"))
    cfg = json.loads(str(state["config"]))
    for key in ("conditional", "per_class", "n_classes", "head", "instance_noise", "eval_every", "classifier",
                "eval_n"):
        cfg.pop(key, None)
    state["config"] = np.array(json.dumps(cfg))
    np.savez(run / "checkpoint.npz", **state)
    assert dcgan.main(["--resume", str(run), "--epochs", "3", "--no-progress"]) == 0


def test_sampling_splits_into_equal_chunks(monkeypatch):
    """With batch statistics a tiny last chunk would be normalised on its own: chunks are equal instead."""
    backend.use("numpy")
    sizes = []
    G = models.build_generator(8, 4, 1, 32)
    original = G.forward
    monkeypatch.setattr(G, "forward", lambda z: sizes.append(z.shape[0]) or original(z))
    models.sample(G, np.zeros((513, 8, 1, 1), np.float32), chunk=512)
    assert sizes == [256, 257]
