"""The seeds' variants: conditional and per-class DCGANs, the linear head, label smoothing, instance noise."""
import json
import signal

import numpy as np
import pytest
from PIL import Image

import dcgan
from tests.conftest import merged
from gan import checkpoint, models
import nn
from nn import backend

TINY = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "16", "--no-progress"]


def run(data, out, *extra):
    return dcgan.main(merged(["--dataset", "mnist", "--data-dir", data, "--out", str(out), *TINY], *extra))


def ckpt_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(("G/", "D/", "opt_"))}


# ---------------------------------------------------------------------------- conditional

def test_conditional_shapes_grid_and_generate(tiny_mnist, no_checksums, tmp_path, capsys):
    out = tmp_path / "cond"
    assert run(tiny_mnist, out, "--conditional", "--epochs", "1") == 0
    state = checkpoint.load_checkpoint(str(out / "checkpoint.npz"))
    cfg = checkpoint.checkpoint_config(state)
    assert cfg.n_classes == 10
    assert state["G/0.weight"].shape == (8 + 10, 16, 4, 4)        # z and the one-hot label
    assert state["D/0.weight"].shape == (4, 1 + 10, 4, 4)         # the image and 10 label channels
    grid = Image.open(out / "samples/epoch_001.png")
    assert grid.size == (8 * 34 + 2, 10 * 34 + 2)                  # one row per class
    gen = tmp_path / "gen"
    assert dcgan.main(["generate", "--checkpoint", str(out / "checkpoint.npz"), "--n", "6", "--out", str(gen),
                       "--class", "3", "--interpolate", "2"]) == 0
    assert np.all(np.load(gen / "labels.npy") == 3) and np.load(gen / "samples.npy").shape == (6, 1, 32, 32)
    gen2 = tmp_path / "gen2"
    assert dcgan.main(["generate", "--checkpoint", str(out), "--n", "6", "--out", str(gen2)]) == 0
    assert Image.open(gen2 / "classes.png").size == (8 * 34 + 2, 10 * 34 + 2)
    assert dcgan.main(["generate", "--checkpoint", str(out), "--n", "2", "--out", str(gen2), "--class", "12"]) == 1
    assert "knows classes 0..9" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--conditional"], ["--instance-noise", "0.3", "--label-smoothing"]],
                         ids=["conditional", "noise+smoothing"])
def test_variant_resume_is_exact(tiny_mnist, no_checksums, tmp_path, monkeypatch, flags):
    """7 steps straight == 7 steps stopped by Ctrl-C after 4 and resumed (the noise schedule, which fades
    over the 7 steps the run was to take, and label draws included)."""
    assert run(tiny_mnist, tmp_path / "a", *flags, "--epochs", "3", "--max-steps", "7") == 0
    step = dcgan.Trainer.step

    def ctrl_c_at_3(self, *args):
        if self.step_count == 3:
            signal.raise_signal(signal.SIGINT)         # as Ctrl-C: the loop saves after this step and stops
        return step(self, *args)

    monkeypatch.setattr(dcgan.Trainer, "step", ctrl_c_at_3)
    assert run(tiny_mnist, tmp_path / "b", *flags, "--epochs", "3", "--max-steps", "7") == 0
    monkeypatch.setattr(dcgan.Trainer, "step", step)
    assert dcgan.main(["--resume", str(tmp_path / "b"), "--epochs", "3", "--max-steps", "7", "--no-progress"]) == 0
    a, b = ckpt_arrays(tmp_path / "a/checkpoint.npz"), ckpt_arrays(tmp_path / "b/checkpoint.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_generate_class_on_unconditional_model_fails(tiny_mnist, no_checksums, tmp_path, capsys):
    assert run(tiny_mnist, tmp_path / "plain", "--max-steps", "1") == 0
    assert dcgan.main(["generate", "--checkpoint", str(tmp_path / "plain"), "--n", "2", "--out",
                       str(tmp_path / "g"), "--class", "1"]) == 1
    assert "not a conditional or per-class model" in capsys.readouterr().err


# ---------------------------------------------------------------------------- per class

def test_per_class_runs_resume_and_generate(tiny_mnist, no_checksums, tmp_path, capsys):
    out = tmp_path / "pc"
    assert run(tiny_mnist, out, "--per-class", "--epochs", "1", "--batch-size", "4") == 0
    for k in range(10):
        folder = out / f"class_{k:02d}"
        assert (folder / "checkpoint.npz").exists() and (folder / "progress.gif").exists()
        with np.load(folder / "checkpoint.npz") as f:
            assert int(f["step"]) == 2                                # 8 images of each class, batch 4
    assert Image.open(out / "classes.png").size == (8 * 34 + 2, 10 * 34 + 2)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--epochs", "1", "--no-progress"]) == 0
    assert capsys.readouterr().out.count("already trained 1 epochs") == 10
    assert dcgan.main(["--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    with np.load(out / "class_04/checkpoint.npz") as f:
        assert int(f["epoch"]) == 2 and int(f["step"]) == 4
    gen = tmp_path / "gen"
    assert dcgan.main(["generate", "--checkpoint", str(out), "--class", "4", "--n", "5", "--out", str(gen),
                       "--interpolate", "2"]) == 0                      # class 4's own generator walks
    assert np.all(np.load(gen / "labels.npy") == 4) and (gen / "interpolation.gif").exists()
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(out), "--n", "5", "--out", str(tmp_path / "walk"),
                       "--interpolate", "2"]) == 1
    assert "add --class K, K one of 0, 1, 2" in capsys.readouterr().err
    assert dcgan.main(["generate", "--checkpoint", str(out), "--n", "20", "--out", str(tmp_path / "all")]) == 0
    assert sorted(np.bincount(np.load(tmp_path / "all/labels.npy"))) == [2] * 10


NEWER_FIELDS = ("head", "strict_data", "real_label", "instance_noise", "instance_noise_steps", "ema")    # not in older checkpoints


def write_old_config(path, **old_keys):
    """Rewrite a checkpoint's config JSON as older versions wrote it: extra keys, newer fields absent."""
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    cfg = {k: v for k, v in json.loads(str(state["config"])).items() if k not in NEWER_FIELDS}
    state["config"] = np.array(json.dumps({**cfg, "n_classes": None, **old_keys}))
    checkpoint.save_checkpoint(str(path), state)


def test_per_class_checkpoints_of_older_versions_resume_and_generate(tiny_mnist, no_checksums, tmp_path, capsys):
    """Older per-class runs wrote the driver's class_filter and run_root into each class's config."""
    out = tmp_path / "pc"
    assert run(tiny_mnist, out, "--per-class", "--no-ema", "--epochs", "1", "--batch-size", "4") == 0
    for k in range(10):
        write_old_config(out / f"class_{k:02d}/checkpoint.npz", class_filter=k, run_root=str(out))
    state = checkpoint.load_checkpoint(str(out / "class_03/checkpoint.npz"))
    assert json.loads(str(state["config"]))["class_filter"] == 3
    cfg, G, _ = checkpoint.load_models(state)
    assert cfg.n_classes == 0 and cfg.head == "conv" and cfg.ema is None and G.num_parameters() > 0
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    with np.load(out / "class_03/checkpoint.npz") as f:
        saved = json.loads(str(f["config"]))
        assert int(f["epoch"]) == 2 and int(f["step"]) == 4
    assert "class_filter" not in saved and "run_root" not in saved and saved["out"] == str(out / "class_03")
    assert dcgan.main(["generate", "--checkpoint", str(out), "--class", "3", "--n", "4",
                       "--out", str(tmp_path / "gen")]) == 0
    assert np.load(tmp_path / "gen/samples.npy").shape == (4, 1, 32, 32)


# ---------------------------------------------------------------------------- linear head

def test_linear_head_architecture_and_training(tiny_mnist, no_checksums, tmp_path):
    G = models.build_generator(8, 4, 1, 32, head="linear")
    D = models.build_discriminator(4, 1, 32, head="linear")
    assert isinstance(G.layers[1], nn.Linear) and isinstance(G.layers[2], nn.BatchNorm1d)
    assert isinstance(D.layers[-1], nn.Linear) and D.layers[-1].weight.shape == (1, 16 * 16)
    x = G.forward(backend.randn((3, 8, 1, 1)))
    assert tuple(x.shape) == (3, 1, 32, 32) and tuple(D.forward(x).shape) == (3, 1)
    assert run(tiny_mnist, tmp_path / "a", "--head", "linear", "--max-steps", "6") == 0
    assert run(tiny_mnist, tmp_path / "b", "--head", "linear", "--max-steps", "2") == 0
    assert dcgan.main(["--resume", str(tmp_path / "b"), "--max-steps", "6", "--no-progress"]) == 0
    a, b = ckpt_arrays(tmp_path / "a/checkpoint.npz"), ckpt_arrays(tmp_path / "b/checkpoint.npz")
    assert "G/1.weight" in a and "G/2.running_mean" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert dcgan.main(["generate", "--checkpoint", str(tmp_path / "a"), "--n", "3", "--out",
                       str(tmp_path / "g")]) == 0


# ---------------------------------------------------------------------------- stabilisers

def test_label_smoothing_sets_real_target(tiny_mnist, no_checksums, tmp_path, monkeypatch):
    targets = []
    original = nn.BCEWithLogits.__call__

    def recording(self, x, target):
        targets.append(target)
        return original(self, x, target)

    monkeypatch.setattr(nn.BCEWithLogits, "__call__", recording)
    assert run(tiny_mnist, tmp_path / "s", "--label-smoothing", "--max-steps", "2") == 0
    assert targets[:3] == [0.9, 0.0, 1.0]                             # real, fake (D step), G step
    targets.clear()
    assert run(tiny_mnist, tmp_path / "t", "--label-smoothing", "0.8", "--max-steps", "1") == 0
    assert targets[:3] == [0.8, 0.0, 1.0]


def test_instance_noise_anneals_and_reaches_d(tiny_mnist, no_checksums, tmp_path, monkeypatch):
    seen = []
    original = dcgan.Trainer.d_input

    def recording(self, images, labels):
        sigma = self.noise_sigma()
        seen.append(sigma)
        out = original(self, images, labels)
        if sigma > 0:
            assert not np.allclose(backend.to_numpy(out), backend.to_numpy(images))
        return out

    monkeypatch.setattr(dcgan.Trainer, "d_input", recording)
    assert run(tiny_mnist, tmp_path / "n", "--instance-noise", "0.5", "--epochs", "2") == 0
    sigmas = seen[::2]                                   # d_input is called for real and fake each step
    assert sigmas[0] == 0.5 and sigmas[-1] == pytest.approx(0.5 / 10)     # 10 steps: 0.5 * (1 - 9/10)
    assert all(a > b for a, b in zip(sigmas, sigmas[1:]))


def recorded_sigmas(monkeypatch):
    """The instance-noise std of every step from now on (asked for each of D's two batches: kept once a step)."""
    seen, steps = [], set()
    original = dcgan.Trainer.noise_sigma

    def recording(self):
        sigma = original(self)
        if (id(self), self.step_count) not in steps:
            steps.add((id(self), self.step_count))
            seen.append(sigma)
        return sigma

    monkeypatch.setattr(dcgan.Trainer, "noise_sigma", recording)
    return seen


def test_instance_noise_fades_out_by_max_steps(tiny_mnist, no_checksums, tmp_path, monkeypatch):
    """--max-steps 4 of a 25-epoch run: the noise fades over the 4 steps the run takes (it used to fade
    over 25 epochs it never reached)."""
    sigmas = recorded_sigmas(monkeypatch)
    assert run(tiny_mnist, tmp_path / "n", "--instance-noise", "0.5", "--max-steps", "4") == 0
    assert sigmas == pytest.approx([0.5, 0.375, 0.25, 0.125])


def test_resuming_with_more_epochs_does_not_bring_the_noise_back(tiny_mnist, no_checksums, tmp_path, monkeypatch):
    """The fade is fixed when the run begins: --resume --epochs 2 after a 1-epoch run trains on without
    noise (it used to jump back to half of --instance-noise)."""
    sigmas = recorded_sigmas(monkeypatch)
    assert run(tiny_mnist, tmp_path / "n", "--instance-noise", "0.5", "--epochs", "1") == 0
    assert sigmas == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1])             # 5 steps an epoch
    sigmas.clear()
    assert dcgan.main(["--resume", str(tmp_path / "n"), "--epochs", "2", "--no-progress"]) == 0
    assert sigmas == [0.0] * 5


def test_a_checkpoint_without_the_average_its_config_names_is_refused(tiny_mnist, no_checksums, tmp_path, capsys):
    """The averaged generator is in every checkpoint whose config has --ema: one without it is incomplete
    (it used to start the average from G without a word)."""
    assert run(tiny_mnist, tmp_path / "r", "--max-steps", "2") == 0
    path = tmp_path / "r" / "checkpoint.npz"
    with np.load(path) as f:
        state = {k: f[k] for k in f.files if k != "ema_t"}
    np.savez(path, **state)
    assert dcgan.main(["--resume", str(tmp_path / "r"), "--max-steps", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "does not fit its own config: it lacks ema_t" in err and err.count("\n") == 1


@pytest.mark.parametrize("flags,code,message", [
    (["--label-smoothing", "1.5"], 2, "must be in (0, 1]"),
    (["--instance-noise", "-1"], 2, "must be 0 or more"),
    (["--per-class", "--conditional"], 2, "not allowed with argument"),
    (["--head", "mlp"], 2, "invalid choice: 'mlp'"),
])
def test_variant_flag_errors(flags, code, message, tmp_path, capsys):
    try:
        result = dcgan.main(["--out", str(tmp_path / "x"), *flags])
    except SystemExit as e:
        result = e.code
    assert result == code
    assert message in capsys.readouterr().err


def test_rgb_image_folder_at_64(tmp_path):
    """A folder of colour images of mixed sizes trains at 64x64 (the folder default) and samples RGB."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        size = (int(rng.integers(40, 90)), int(rng.integers(40, 90)))
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8), "RGB").save(folder / f"{i}.png")
    out = tmp_path / "run"
    assert dcgan.main(merged(["--dataset", "folder", "--data-dir", str(folder), "--out", str(out), *TINY],
                             "--batch-size", "8", "--epochs", "1")) == 0
    cfg = checkpoint.checkpoint_config(checkpoint.load_checkpoint(str(out / "checkpoint.npz")))
    assert cfg.image_size == 64 and cfg.nc == 3
    grid = Image.open(out / "samples/epoch_001.png")
    assert grid.mode == "RGB" and grid.size == (8 * 66 + 2, 8 * 66 + 2)
    assert dcgan.main(["generate", "--checkpoint", str(out), "--n", "2", "--out", str(tmp_path / "g")]) == 0
    assert np.load(tmp_path / "g/samples.npy").shape == (2, 3, 64, 64)
