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
from tests.conftest import one_line_error, merged

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


# ---------------------------------------------------------------------------- the command-line standard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = sorted(f"{package}.{name[:-3]}" for package in ("examples", "benchmarks")
                  for name in os.listdir(os.path.join(ROOT, package))
                  if name.endswith(".py") and name not in ("__init__.py", "cases.py"))      # cases.py: a library


def test_the_programs_are_the_ones_listed():
    assert PROGRAMS == ["benchmarks.bench_step", "benchmarks.ema_study", "benchmarks.fcd_ranking", "benchmarks.first_step",
                        "benchmarks.launches", "benchmarks.numba_rounds", "benchmarks.split_ops", "benchmarks.step_lines", "examples.discriminator_features",
                        "examples.gradcheck_tour", "examples.latent_space", "examples.train_classifier"]


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_parses_with_command_parser_and_takes_no_abbreviation(program, capsys, monkeypatch):
    """No argparse.ArgumentParser( of its own in its source; --help builds gan.cli's CommandParser
    (allow_abbrev off); a flag spelled short is one error: line, exit 2."""
    import argparse
    import importlib
    with open(os.path.join(ROOT, program.replace(".", os.sep) + ".py")) as f:
        assert "ArgumentParser(" not in f.read()
    module = importlib.import_module(program)
    built = []
    original = argparse.ArgumentParser.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)
    monkeypatch.setattr(argparse.ArgumentParser, "__init__", record)
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    assert f"usage: python -m {program}" in capsys.readouterr().out
    assert built and all(isinstance(p, cli.CommandParser) and not p.allow_abbrev for p in built), program
    with pytest.raises(SystemExit) as stop:
        module.main(["--hel"])                                     # an abbreviation of --help: refused
    assert stop.value.code == 2
    one_line_error(capsys, "--help' lists the flags")


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.startswith("benchmarks.")])
def test_benchmarks_run_as_modules_and_say_so_when_run_as_files(program):
    import subprocess
    import sys
    path = program.replace(".", "/") + ".py"
    as_file = subprocess.run([sys.executable, path, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert as_file.returncode == 1
    assert as_file.stderr == f"error: run the benchmarks from the repository root as modules: python -m {program} ...\n"


@pytest.mark.parametrize("argv", [["examples.train_classifier", "--out", "c.npz"],
                                  ["examples.latent_space", "--checkpoint", "c.npz", "--out", "latent"],
                                  ["examples.discriminator_features", "--checkpoint", "c.npz"],
                                  ["benchmarks.ema_study", "--data-dir", "d", "--classifier", "c.npz", "--out", "o"]])
def test_a_negative_seed_is_one_line(argv, tmp_path, capsys):
    import importlib
    paths = [str(tmp_path / a) if i % 2 else a for i, a in enumerate(argv[1:])]      # every value a path
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(argv[0]).main(paths + ["--seed", "-1"])
    assert stop.value.code == 2
    one_line_error(capsys, "--seed: must be an integer from 0 to 2**32 - 1, got -1")
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def conditional_checkpoint(tiny_mnist, module_no_checksums, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "conditional"
    assert dcgan.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--nz", "8",
                       "--ngf", "4", "--ndf", "4", "--batch-size", "16", "--max-steps", "1", "--no-progress",
                       "--conditional"]) == 0
    return str(out / "checkpoint.npz")


@pytest.mark.parametrize("example", ["latent_space", "discriminator_features"])
def test_a_conditional_checkpoint_is_one_line(example, conditional_checkpoint, tmp_path, capsys):
    module = {"latent_space": latent_space, "discriminator_features": discriminator_features}[example]
    extra = ["--out", str(tmp_path / "latent")] if example == "latent_space" else ["--per-class", "2"]
    assert module.main(["--checkpoint", conditional_checkpoint, *extra]) == 1
    one_line_error(capsys, "conditional model (trained with --conditional, 10 classes)",
                   "takes an unconditional model")
    assert not (tmp_path / "latent").exists()


# ---------------------------------------------------------------------------- train_classifier: no untrustworthy model

def classifier_flags(tiny_mnist, out, *extra):
    return merged(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--epochs", "1",
                   "--batch-size", "16", "--no-progress"], *extra)


@pytest.mark.parametrize("lr", ["1e30", "inf", "nan", "0", "2"])
def test_train_classifier_refuses_an_absurd_lr(lr, tmp_path, capsys):
    from examples import train_classifier
    with pytest.raises(SystemExit) as stop:
        train_classifier.main(["--out", str(tmp_path / "c.npz"), "--lr", lr])
    assert stop.value.code == 2
    one_line_error(capsys, f"--lr: must be above 0 and at most 1, got {lr}")


def test_train_classifier_refuses_to_save_a_diverged_model(tiny_mnist, module_no_checksums, tmp_path, capsys):
    """--lr 1 (Adam moves every weight by about 1 a step) blows the loss up to thousands and the model guesses
    one class: nothing is saved, one line (no overflow warnings either)."""
    from examples import train_classifier
    out = tmp_path / "c.npz"
    assert train_classifier.main(classifier_flags(tiny_mnist, out, "--lr", "1")) == 1
    one_line_error(capsys, "training diverged: its test accuracy 0.1000 is no better than chance", "nothing was saved",
                   "try a smaller --lr (this run's: 1, the default: 0.002)")
    assert not out.exists() and os.listdir(tmp_path) == []


def test_train_classifier_stops_at_a_non_finite_loss(tiny_mnist, module_no_checksums, tmp_path, capsys, monkeypatch):
    import nn
    from examples import train_classifier

    class Overflowing(nn.SoftmaxCrossEntropy):
        def __call__(self, x, labels):
            _, grad = super().__call__(x, labels)
            return np.float32(np.inf), grad
    monkeypatch.setattr(nn, "SoftmaxCrossEntropy", Overflowing)
    out = tmp_path / "c.npz"
    assert train_classifier.main(classifier_flags(tiny_mnist, out)) == 1
    one_line_error(capsys, "training diverged: the loss became inf at epoch 1, step 1", "nothing was saved",
                   "smaller --lr")
    assert not out.exists()


def test_train_classifier_refuses_to_save_a_model_no_better_than_chance(tiny_mnist, module_no_checksums, tmp_path,
                                                                         capsys, monkeypatch):
    """A finite loss is not enough: a test accuracy within noise of always guessing the commonest class is refused."""
    from examples import train_classifier
    monkeypatch.setattr(train_classifier, "accuracy", lambda model, images, labels: 0.15)
    out = tmp_path / "c.npz"
    assert train_classifier.main(classifier_flags(tiny_mnist, out)) == 1
    one_line_error(capsys, "test accuracy 0.1500 is no better than chance", "nothing was saved")
    assert not out.exists()


def test_train_classifier_names_flags_without_effect_in_a_note(tiny_mnist, module_no_checksums, tmp_path, capsys):
    from examples import train_classifier
    assert train_classifier.main(classifier_flags(tiny_mnist, tmp_path / "c.npz", "--limit", "500",
                                                  "--batch-size", "100")) == 0
    notes = capsys.readouterr().err.splitlines()
    assert notes == ["note: --limit 500 is not below the 80 training images: all of them are used",
                     "note: --batch-size 100 is more than the 80 training images: each step takes all of them"]


def test_train_classifier_never_writes_onto_its_data_or_a_file_it_did_not_write(tiny_mnist, module_no_checksums,
                                                                                 tmp_path, capsys):
    import shutil
    from examples import train_classifier
    data = tmp_path / "data"
    shutil.copytree(tiny_mnist, data)
    target = data / "train-images-idx3-ubyte.gz"
    before = target.read_bytes()
    assert train_classifier.main(classifier_flags(str(data), target, "--overwrite")) == 1
    one_line_error(capsys, f"--out {target} is one of this command's inputs")
    assert target.read_bytes() == before
    notes = tmp_path / "README.md"
    notes.write_text("mine")
    assert train_classifier.main(classifier_flags(str(data), notes, "--overwrite")) == 1
    one_line_error(capsys, f"--out {notes} already exists and is not a classifier")
    assert notes.read_text() == "mine"


# ---------------------------------------------------------------------------- discriminator_features: trustworthy table

@pytest.mark.parametrize("flags,message", [(["--lr", "1e30"], "--lr: must be above 0 and at most 1, got 1e30"),
                                           (["--weight-decay", "inf"], "--weight-decay: must be 0 or more"),
                                           (["--weight-decay", "nan"], "--weight-decay: must be 0 or more"),
                                           (["--steps", "0"], "--steps: must be at least 1"),
                                           (["--per-class", "0"], "--per-class: need positive integers")])
def test_discriminator_features_refuses_absurd_values(flags, message, capsys):
    with pytest.raises(SystemExit) as stop:
        discriminator_features.main(["--checkpoint", "c.npz", *flags])
    assert stop.value.code == 2
    one_line_error(capsys, message)


def test_discriminator_features_prints_no_table_from_a_diverged_fit(tiny_checkpoint, capsys, monkeypatch):
    real = discriminator_features.train_linear

    def diverged(*args):
        model = real(*args)
        model.weight.data[...] = np.nan
        return model
    monkeypatch.setattr(discriminator_features, "train_linear", diverged)
    assert discriminator_features.main(["--checkpoint", tiny_checkpoint, "--per-class", "2", "--steps", "2"]) == 1
    one_line_error(capsys, "the linear classifier on D's features (2 per class) diverged", "smaller --lr")
    assert "|" not in capsys.readouterr().out


def test_discriminator_features_json_replaces_only_its_own_file_and_only_when_asked(tiny_checkpoint, tmp_path,
                                                                                    capsys):
    path = tmp_path / "probe.json"
    flags = ["--checkpoint", tiny_checkpoint, "--per-class", "2", "--steps", "2", "--json", str(path)]
    assert discriminator_features.main(flags) == 0
    first = path.read_text()
    capsys.readouterr()
    assert discriminator_features.main(flags) == 1
    one_line_error(capsys, f"--json {path} already holds", "--overwrite")
    assert path.read_text() == first
    assert discriminator_features.main(flags + ["--overwrite"]) == 0
    capsys.readouterr()
    (tmp_path / "README.md").write_text("mine")
    for other in (str(tmp_path / "README.md"), tiny_checkpoint):             # not ours; an input
        before = open(other, "rb").read()
        assert discriminator_features.main([*flags[:-1], str(other), "--overwrite"]) == 1
        one_line_error(capsys, f"--json {other}")
        assert open(other, "rb").read() == before
    assert discriminator_features.main(["--checkpoint", tiny_checkpoint, "--overwrite"]) == 1
    one_line_error(capsys, "--overwrite", "--json")


# ---------------------------------------------------------------------------- latent_space: flags and outputs

@pytest.mark.parametrize("flag", [["--n", "64"], ["--threshold", "0.5"], ["--arithmetic", "1-2+3"],
                                  ["--min-per-class", "2"], ["--average", "3"]])
def test_latent_space_refuses_arithmetic_flags_without_a_classifier(flag, tiny_checkpoint, tmp_path, capsys):
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--out", str(tmp_path / "latent"), *flag]) == 1
    one_line_error(capsys, f"{flag[0]} is only used by the vector arithmetic", "--classifier")
    assert not (tmp_path / "latent").exists()


def test_latent_space_checks_everything_before_writing(tiny_checkpoint, tiny_classifier, tmp_path, capsys):
    out = tmp_path / "latent"
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--classifier", str(tmp_path / "missing.npz"),
                              "--out", str(out)]) == 1
    one_line_error(capsys, "missing.npz does not exist")
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--classifier", tiny_classifier, "--out", str(out),
                              "--n", "2", "--min-per-class", "3", "--arithmetic", "1-2+3"]) == 1
    one_line_error(capsys, "--n 2", "--min-per-class 3")
    assert not out.exists() or os.listdir(out) == []


def test_latent_space_replaces_its_pictures_only_with_overwrite(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "latent"
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--out", str(out)]) == 0
    first = (out / "latent_grid.png").read_bytes()
    (out / "arithmetic.png").write_bytes(b"an earlier run's")           # stale: this run makes no arithmetic.png
    capsys.readouterr()
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--out", str(out), "--seed", "1"]) == 1
    one_line_error(capsys, "already holds", "latent_grid.png", "--overwrite")
    assert (out / "latent_grid.png").read_bytes() == first
    assert latent_space.main(["--checkpoint", tiny_checkpoint, "--out", str(out), "--seed", "1", "--overwrite"]) == 0
    assert (out / "latent_grid.png").read_bytes() != first and not (out / "arithmetic.png").exists()
