"""examples/discriminator_features.py and examples/latent_space.py, end to end on tiny data.

A tiny DCGAN (nz 8, ngf = ndf = 4) trains one epoch on 80 generated MNIST-format images,
and both examples run in-process on its checkpoint (fixtures tiny_mnist, tiny_classifier and
module_no_checksums are in conftest.py).
"""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import checkpoint, cli, errors, quality
from examples import discriminator_features, latent_space
from tests.conftest import one_line_error

K = 10


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_mnist, module_no_checksums, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert dcgan.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--nz", "8",
                       "--ngf", "4", "--ndf", "4", "--batch-size", "16", "--epochs", "1", "--no-progress"]) == 0
    return str(out / "checkpoint.npz")


# ---------------------------------------------------------------------------- discriminator_features

def test_pool_to_grid_averages_blocks():
    a = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    pooled = discriminator_features.pool_to_grid(a)
    assert pooled.shape == (2, 3, 4, 4)
    assert pooled[1, 2, 3, 1] == a[1, 2, 6:8, 2:4].mean()


def test_features_have_the_documented_size_and_do_not_depend_on_the_batch(tiny_checkpoint, tiny_mnist):
    import datasets
    cli.use_backend("numpy")
    cfg, _, D = checkpoint.load_models(checkpoint.load_checkpoint(tiny_checkpoint))
    images, _ = datasets.load_dataset("mnist", data_dir=tiny_mnist, split="test")
    feats = discriminator_features.discriminator_features(D, images[:12], chunk=5)
    assert feats.shape == (12, (4 + 8 + 16) * 16) and feats.dtype == np.float32       # ndf 4: 4, 8, 16 channels
    assert discriminator_features.feature_layout(D) == "4x4x4 + 8x4x4 + 16x4x4 = 448"
    alone = discriminator_features.discriminator_features(D, images[3:4])              # eval mode: running BN stats
    np.testing.assert_allclose(alone[0], feats[3], rtol=1e-5, atol=1e-6)
    assert all(m._cache is None for m in D.modules())


def test_discriminator_features_table_and_json(tiny_checkpoint, tmp_path, capsys):
    path = tmp_path / "probe.json"
    assert discriminator_features.main(["--checkpoint", tiny_checkpoint, "--per-class", "4,2",
                                        "--json", str(path)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0] == "| labels per class | D features | raw pixels |"
    assert [line.split("|")[1].strip() for line in table[2:]] == ["2", "4"]
    result = json.loads(path.read_text())
    assert [r["per_class"] for r in result["rows"]] == [2, 4]
    assert [r["n_train"] for r in result["rows"]] == [20, 40]
    assert result["d_features"] == 448 and result["raw_pixels"] == 32 * 32 and result["n_test"] == 40
    for row in result["rows"]:
        assert 0.0 <= row["d_features"] <= 1.0 and 0.0 <= row["raw_pixels"] <= 1.0
    assert result["rows"][1]["raw_pixels"] >= 0.5          # the squares are easy to tell apart from pixels


def test_discriminator_features_errors(tiny_checkpoint, tmp_path, capsys):
    assert discriminator_features.main(["--checkpoint", str(tmp_path / "missing.npz")]) == 1
    one_line_error(capsys, "does not exist")
    assert discriminator_features.main(["--checkpoint", tiny_checkpoint, "--per-class", "9"]) == 1
    one_line_error(capsys, "has only 8 training images, fewer than --per-class 9")
    with pytest.raises(SystemExit):
        discriminator_features.main(["--checkpoint", tiny_checkpoint, "--per-class", "2,x"])


# ---------------------------------------------------------------------------- latent_space

def test_grid_starts_and_ends_at_the_corners():
    corners = np.random.default_rng(0).standard_normal((4, 8))
    z = latent_space.grid_latents(corners)
    assert z.shape == (64, 8) and z.dtype == np.float32
    np.testing.assert_allclose(z[[0, 7, 56, 63]], corners, rtol=1e-5, atol=1e-6)


def test_parse_arithmetic():
    names = quality.CLASS_NAMES["fashion-mnist"]
    assert latent_space.parse_arithmetic("Boot-Sneaker+Sandal", names) == [(1, 9), (-1, 7), (1, 5)]
    assert latent_space.parse_arithmetic("t-shirt - Shirt + dress", names) == [(1, 0), (-1, 6), (1, 3)]
    for bad, why in (("Boot-Slipper", "no class name at 'Slipper'"), ("Boot", "at least two"),
                     ("Boot*Sandal", "expected + or -")):
        with pytest.raises(errors.UserError, match=re.escape(why)):
            latent_space.parse_arithmetic(bad, names)


def test_latent_grid_only(tiny_checkpoint, tmp_path, capsys):
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--out", str(tmp_path)]) == 0
    grid = np.array(Image.open(tmp_path / "latent_grid.png"))
    assert grid.shape == (8 * 34 + 2, 8 * 34 + 2)          # 8x8 tiles of 32x32, 2-pixel borders, grayscale
    assert not (tmp_path / "arithmetic.png").exists()
    assert "skipped the vector arithmetic" in capsys.readouterr().out


def fake_probabilities(classes_present):
    """Wrap quality.classify: the real model runs, but sample i is 'class i % classes_present' at 0.95."""
    real = quality.classify

    def classify(model, images):
        feats, _ = real(model, images)
        probs = np.full((len(images), K), 0.05 / (K - 1))
        probs[np.arange(len(images)), np.arange(len(images)) % classes_present] = 0.95
        return feats, probs
    return classify


def test_latent_arithmetic(tiny_checkpoint, tiny_classifier, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(quality, "classify", fake_probabilities(K))
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--classifier", tiny_classifier,
                              "--out", str(tmp_path), "--n", "64", "--arithmetic", "1-2+3"]) == 0
    out = capsys.readouterr().out
    arithmetic = np.array(Image.open(tmp_path / "arithmetic.png"))
    assert arithmetic.shape == (4 * 34 + 2, 8 * 34 + 2)    # rows 1, 2, 3 and the result; 8 images each
    assert (tmp_path / "latent_grid.png").exists()
    assert "1: 7 of 64 samples classified with probability > 0.9" in out
    assert "the result 1-2+3 is classified as" in out


def test_latent_arithmetic_errors(tiny_checkpoint, tiny_classifier, tmp_path, capsys, monkeypatch):
    assert latent_space.main(["--checkpoint", str(tmp_path / "missing.npz"), "--out", str(tmp_path)]) == 1
    one_line_error(capsys, "does not exist")
    monkeypatch.setattr(quality, "classify", fake_probabilities(3))      # only classes 0, 1, 2 are drawn
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--classifier", tiny_classifier,
                              "--out", str(tmp_path), "--n", "64", "--arithmetic", "1-2+3+4"]) == 1
    one_line_error(capsys, "too few confident samples (need 3) for: 3 (0), 4 (0)")
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--classifier", tiny_classifier,
                              "--out", str(tmp_path), "--n", "64"]) == 1
    one_line_error(capsys, "no default --arithmetic for mnist")


@pytest.mark.parametrize("name", ["train_classifier", "latent_space", "discriminator_features", "gradcheck_tour"])
def test_examples_run_as_modules_and_say_so_when_run_as_files(name):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    as_file = subprocess.run([sys.executable, f"examples/{name}.py", "--help"], cwd=root, capture_output=True, text=True)
    assert as_file.returncode == 1
    assert as_file.stderr == f"error: run the examples from the repository root as modules: python -m examples.{name} ...\n"
    as_module = subprocess.run([sys.executable, "-m", f"examples.{name}", "--help"], cwd=root, capture_output=True,
                               text=True)
    assert as_module.returncode == 0 and "usage: python -m examples." in as_module.stdout


def test_gradcheck_tour_without_cupy_is_one_line(capsys, monkeypatch):
    import sys
    from examples import gradcheck_tour
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert gradcheck_tour.main(["--backend", "cupy"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: backend 'cupy' asked for, but CuPy is not installed") and err.count("\n") == 1


def test_gradcheck_tour_fails_when_a_backward_is_wrong(capsys, monkeypatch):
    """The tour's verdict is asserted: a planted bug in BatchNorm's backward makes it exit 1 with one line."""
    from examples import gradcheck_tour
    from nn import batchnorm
    from nn.gradcheck import planted_bug
    assert gradcheck_tour.main([]) == 0
    assert "(OK: bound 1e-06)" in capsys.readouterr().out
    monkeypatch.setattr(batchnorm.BatchNorm, "backward", planted_bug(batchnorm.BatchNorm.backward, " - mean(g)", ""))
    assert gradcheck_tour.main([]) == 1
    captured = capsys.readouterr()
    assert "(FAILED: bound 1e-06)" in captured.out
    assert captured.err.startswith("error: 2 gradient(s) above the bound 1e-06, the worst dx of BatchNorm1d(4), train")
    assert "dx of BatchNorm2d(3), train" in captured.err          # both training-mode BatchNorms; eval mode is unaffected
    assert captured.err.count("\n") == 1
