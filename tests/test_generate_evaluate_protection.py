"""What is protected around a trained model: generate, evaluate, the examples, the data files.

Each case checks the exit code, the one line, and what is (or is not) left on disk.
"""
import errno
import gzip
import json
import os

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import checkpoint as checkpoint_module
from gan import quality
from examples import discriminator_features, latent_space, train_classifier

from tests.conftest import one_line_error, train_tiny as train

HUGE_N = "1000000000"                  # 10^9 images of 1x32x32: 4 TB, more than any machine here has


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def pngs(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".png") and p[0].isdigit())


@pytest.fixture(scope="module")
def run(noise_folder, tmp_path_factory):
    """A finished 1-epoch run on the noise image folder (dataset "folder", 1x32x32): only read by the tests."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert train(noise_folder, out, "--epochs", "1") == 0
    return out


@pytest.fixture(scope="module")
def mnist_run(tiny_mnist, module_no_checksums, tmp_path_factory):
    """A finished 1-epoch run on the tiny MNIST-format data (labelled: the examples need labels)."""
    out = tmp_path_factory.mktemp("mnist-run") / "run"
    assert dcgan.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--nz", "8",
                       "--ngf", "4", "--ndf", "4", "--batch-size", "16", "--epochs", "1", "--no-progress"]) == 0
    return out


def generate(run, out, *flags):
    return dcgan.main(["generate", "--checkpoint", str(run), "--out", str(out), *flags])


def evaluate_samples(samples, classifier, *flags):
    return dcgan.main(["evaluate", "--samples", str(samples), "--classifier", classifier, *flags])


# ---------------------------------------------------------------------------- 4: stale samples

def test_generate_refuses_a_folder_holding_earlier_samples_unless_overwrite(run, tmp_path, capsys):
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "20") == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    capsys.readouterr()
    assert generate(run, out, "--n", "5", "--seed", "1") == 1
    one_line_error(capsys, f"{out} already holds", "20 images", "--overwrite", "another --out")
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before          # untouched
    assert generate(run, out, "--n", "5", "--seed", "1", "--overwrite") == 0
    assert pngs(out) == [f"{i:05d}.png" for i in range(5)]                                # no stale 00005..00019
    assert np.load(out / "samples.npy").shape[0] == 5


def test_evaluate_says_when_a_folder_holds_more_pngs_than_its_samples_npy(run, tiny_classifier, no_checksums,
                                                                           tmp_path, capsys):
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "20") == 0
    np.save(out / "samples.npy", np.load(out / "samples.npy")[:5])      # what an older generate --n 5 left
    capsys.readouterr()
    assert evaluate_samples(out, tiny_classifier) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "20 numbered PNG images" in err and "samples.npy holds 5" in err


# ---------------------------------------------------------------------------- 6: a checkpoint with NaN

def test_generate_from_a_checkpoint_with_nan_weights_writes_nothing(run, tmp_path, capsys):
    with np.load(run / "checkpoint.npz") as f:
        state = {k: f[k] for k in f.files}
    for k in state:
        if k.startswith(("G/", "G_avg/")) and k.endswith("weight"):
            state[k] = np.full_like(state[k], np.nan)
    broken = tmp_path / "nan.npz"
    checkpoint_module.save_checkpoint(str(broken), state)
    assert generate(broken, tmp_path / "gen", "--n", "4") == 1
    one_line_error(capsys, "NaN or infinite")
    assert not (tmp_path / "gen").exists()                              # nothing written: the folder it made removed


# ---------------------------------------------------------------------------- 8: a flag ignored without a word

def test_evaluate_samples_names_the_flags_it_ignores(tiny_classifier, no_checksums, tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((6, 1, 32, 32), np.float32))
    assert evaluate_samples(tmp_path / "s.npy", tiny_classifier, "--n", "100", "--seed", "3") == 0
    err = capsys.readouterr().err
    assert "note: " in err and "ignoring --n 100, --seed 3" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- 9: the classifier's --out

def classifier_main(tiny_mnist, out, *extra):
    return train_classifier.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out),
                                  "--epochs", "1", "--batch-size", "16", "--no-progress", *extra])


@pytest.mark.parametrize("where", ["folder", "unwritable"])
def test_train_classifier_checks_out_before_training(tiny_mnist, no_checksums, tmp_path, capsys, where):
    out = tmp_path / "existing"
    out.mkdir()
    if where == "unwritable":
        out = "/proc/self/no-such-folder/c.npz"                          # a folder nobody can create
    assert classifier_main(tiny_mnist, out) == 1
    one_line_error(capsys, str(out))
    assert "epoch 1/1" not in capsys.readouterr().out


def test_train_classifier_creates_a_missing_folder(tiny_mnist, no_checksums, tmp_path):
    assert classifier_main(tiny_mnist, tmp_path / "new" / "dir" / "c.npz") == 0
    assert quality.load_classifier(str(tmp_path / "new" / "dir" / "c.npz"))[1]["dataset"] == "mnist"


def test_train_classifier_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_mnist, no_checksums, tmp_path,
                                                                         monkeypatch, capsys):
    monkeypatch.setattr(checkpoint_module.np, "savez", no_space)
    assert classifier_main(tiny_mnist, tmp_path / "c.npz") == 1
    one_line_error(capsys, f"could not write {tmp_path / 'c.npz'} (No space left on device)")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- 10: per-class on an image folder

def test_generate_and_evaluate_a_per_class_run_on_an_image_folder(noise_folder, tiny_mnist, tiny_classifier,
                                                                   no_checksums, tmp_path, capsys):
    out = tmp_path / "pc"
    assert train(noise_folder, out, "--per-class", "--epochs", "1") == 0
    assert generate(out, tmp_path / "gen", "--n", "6") == 0
    assert np.load(tmp_path / "gen" / "samples.npy").shape == (6, 1, 32, 32)
    assert dcgan.main(["evaluate", "--checkpoint", str(out), "--classifier", tiny_classifier, "--n", "6",
                       "--dataset", "mnist", "--data-dir", tiny_mnist]) == 0


# ---------------------------------------------------------------------------- 11: outputs that cannot be written

@pytest.mark.parametrize("where", ["read-only", "proc"])
def test_generate_into_a_folder_it_cannot_write_is_one_line(run, tmp_path, capsys, where):
    out = tmp_path / "ro"
    if where == "proc":
        out = "/proc/self"                                               # exists; nobody can create files there
    else:
        out.mkdir()
        os.chmod(out, 0o500)
        if os.access(out, os.W_OK):
            pytest.skip("this user can write anywhere")
    assert generate(run, out, "--n", "3") == 1
    one_line_error(capsys, f"cannot write in --out {out}")


def test_generate_on_a_full_disk_is_one_line_and_leaves_no_partial_file(run, tmp_path, monkeypatch, capsys):
    from gan import generate as generate_module
    monkeypatch.setattr(generate_module.np, "save", no_space)
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "3") == 1
    one_line_error(capsys, "No space left on device", "samples.npy")
    assert not out.exists()                             # nothing half written, no temp folder, not even --out


def test_latent_space_out_an_existing_file_is_one_line(mnist_run, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    assert latent_space.main(["--checkpoint", str(mnist_run / "checkpoint.npz"), "--out", str(tmp_path / "a-file")]) == 1
    one_line_error(capsys, "--out", "is a file")
    assert (tmp_path / "a-file").read_text() == "x"


def test_discriminator_features_json_a_folder_is_refused_before_computing(mnist_run, tmp_path, capsys, monkeypatch):
    def no_work(*args):
        raise AssertionError("computed features before checking --json")
    monkeypatch.setattr(discriminator_features, "discriminator_features", no_work)
    assert discriminator_features.main(["--checkpoint", str(mnist_run / "checkpoint.npz"), "--per-class", "2",
                                        "--json", str(tmp_path)]) == 1
    one_line_error(capsys, "--json", "is a folder")


# ---------------------------------------------------------------------------- 12: sizes too large

@pytest.mark.parametrize("flags,asked", [(["--ngf", "100000"], "--ngf 100000"),
                                         (["--nz", "100000000"], "--nz 100000000")])
def test_a_model_too_large_for_memory_is_one_line(noise_folder, tmp_path, capsys, flags, asked):
    assert train(noise_folder, tmp_path / "run", *flags, "--max-steps", "1") == 1
    one_line_error(capsys, asked, "parameters", "GB")


@pytest.mark.parametrize("flags", [{}, {"image_size": 64, "nc": 3}, {"n_classes": 10, "head": "linear"}],
                         ids=["default", "64-rgb", "conditional-linear"])
def test_the_memory_estimate_counts_the_weights_g_and_d_have(flags):
    """A lower bound (BatchNorm's few left out) within 1%: a size refused could never have fitted."""
    from gan import models
    from gan.config import Config
    cfg = Config(**{"nc": 1, **flags})
    G, D = models.build_models(cfg)
    k = cfg.n_classes
    estimate = models.model_weights(cfg.nz + k, cfg.ngf, cfg.ndf, cfg.nc, cfg.image_size, d_channels=cfg.nc + k)
    actual = G.num_parameters() + D.num_parameters()
    assert 0.99 * actual <= estimate <= actual


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_too_many_samples_for_memory_is_one_line(run, tiny_classifier, tmp_path, capsys, command):
    if command == "generate":
        assert generate(run, tmp_path / "gen", "--n", HUGE_N) == 1
    else:
        assert dcgan.main(["evaluate", "--checkpoint", str(run), "--classifier", tiny_classifier,
                           "--n", HUGE_N, "--dataset", "mnist"]) == 1
    one_line_error(capsys, f"--n {HUGE_N}", "1x32x32", "TB")
    assert not (tmp_path / "gen").exists() or os.listdir(tmp_path / "gen") == []


# ---------------------------------------------------------------------------- 13: files that are not what they claim

@pytest.mark.parametrize("content", ["random", "npy", "text"])
def test_a_file_that_is_not_a_checkpoint_says_so(tmp_path, capsys, content):
    path = tmp_path / "checkpoint.npz"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))                                     # a .npy renamed .npz
    else:
        path.write_text("step,loss\n1,0.5\n")
    assert generate(path, tmp_path / "gen") == 1
    one_line_error(capsys, f"{path}", "not a checkpoint")


@pytest.mark.parametrize("content", ["text", "npz"])
def test_a_samples_file_that_is_not_an_array_says_so(tiny_classifier, tmp_path, capsys, content):
    path = tmp_path / "samples.npy"
    if content == "text":
        path.write_text("0.1 0.2 0.3\n")
    else:
        with open(path, "wb") as f:
            np.savez(f, x=np.zeros(3))
    assert evaluate_samples(path, tiny_classifier) == 1
    one_line_error(capsys, str(path), "not a samples file")


def test_a_classifier_of_random_bytes_says_so(tmp_path, capsys):
    (tmp_path / "cls.npz").write_bytes(np.random.default_rng(1).bytes(500))
    np.save(tmp_path / "s.npy", np.zeros((4, 1, 32, 32), np.float32))
    assert evaluate_samples(tmp_path / "s.npy", str(tmp_path / "cls.npz")) == 1
    one_line_error(capsys, "not a classifier")


# ---------------------------------------------------------------------------- 14: damaged IDX files

def write_tiny_mnist(folder, images_bytes):
    """An MNIST-format folder whose training images file holds ``images_bytes`` (named .gz)."""
    from datasets import write_idx
    n = 16
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(images_bytes)


def idx_bytes(n=16):
    """An uncompressed IDX file of n black 28x28 images: 00 00 08 03, then the sizes, then the pixels."""
    header = bytes([0, 0, 8, 3]) + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    return header + bytes(n * 28 * 28)


@pytest.mark.parametrize("damage,message", [
    ("empty", "is empty"),
    ("empty-gzip", "is empty"),
    ("dims", "header says 7 dimensions"),
    ("type", "unknown IDX element type 0x07"),
])
def test_damaged_idx_files_are_one_clear_line(tmp_path, capsys, damage, message):
    data = bytearray(idx_bytes())
    if damage == "empty":
        data = b""
    elif damage == "empty-gzip":
        data = gzip.compress(b"")
    elif damage == "dims":
        data[3] = 7
    else:
        data[2] = 7
    write_tiny_mnist(tmp_path, bytes(data))
    assert dcgan.main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"),
                       "--no-progress", "--max-steps", "1"]) == 1
    err = one_line_error(capsys, "train-images-idx3-ubyte.gz", message)
    assert "0x0x0" not in err and "magic number none" not in err


def test_an_uncompressed_idx_file_named_gz_is_read(tmp_path, capsys):
    write_tiny_mnist(tmp_path, idx_bytes())
    from datasets import load_dataset
    images, labels = load_dataset("mnist", data_dir=str(tmp_path))
    assert images.shape == (16, 1, 32, 32) and len(labels) == 16


# ---------------------------------------------------------------------------- 18: a run folder or its checkpoint

def test_the_examples_take_a_run_folder_as_checkpoint(mnist_run, tmp_path, capsys):
    assert latent_space.main(["--checkpoint", str(mnist_run), "--out", str(tmp_path / "latent")]) == 0
    assert (tmp_path / "latent" / "latent_grid.png").exists()
    assert discriminator_features.main(["--checkpoint", str(mnist_run), "--per-class", "2",
                                        "--json", str(tmp_path / "probe.json")]) == 0
    assert json.loads((tmp_path / "probe.json").read_text())["rows"][0]["per_class"] == 2


# ---------------------------------------------------------------------------- 19: what training accepts, evaluate too

def test_evaluate_accepts_uint8_samples_with_a_note(tiny_classifier, no_checksums, tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.full((6, 1, 32, 32), 128, np.uint8))
    assert evaluate_samples(tmp_path / "s.npy", tiny_classifier) == 0
    captured = capsys.readouterr()
    assert "note: " in captured.err and "uint8" in captured.err and "samples                      6" in captured.out


def test_evaluate_accepts_rgba_pngs_dropping_alpha_with_a_note(tiny_classifier, no_checksums, tmp_path, capsys):
    for i in range(4):
        Image.fromarray(np.full((32, 32, 2), 60 * i, np.uint8), "LA").save(tmp_path / f"{i:05d}.png")
    assert evaluate_samples(tmp_path, tiny_classifier) == 0
    captured = capsys.readouterr()
    assert "note: 4 image(s)" in captured.err and "alpha" in captured.err
    assert "samples                      4" in captured.out


def test_evaluate_warns_when_samples_and_classifier_come_from_different_datasets(run, tiny_classifier,
                                                                                  no_checksums, tmp_path, capsys):
    assert generate(run, tmp_path / "gen", "--n", "6") == 0                   # a model trained on "folder"
    capsys.readouterr()
    assert evaluate_samples(tmp_path / "gen" / "samples.npy", tiny_classifier) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ") and "folder" in err and "mnist" in err


def test_a_classifier_without_its_dataset_still_loads(tiny_classifier, no_checksums, tmp_path, capsys):
    state = checkpoint_module.read_npz(tiny_classifier, quality.CLASSIFIER_FORMAT, "classifier")
    meta = json.loads(str(state["meta"]))
    del meta["dataset"]
    state["meta"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    checkpoint_module.save_checkpoint(str(old), state)
    np.save(tmp_path / "s.npy", np.zeros((6, 1, 32, 32), np.float32))
    assert evaluate_samples(tmp_path / "s.npy", str(old), "--dataset", "mnist") == 0
    assert evaluate_samples(tmp_path / "s.npy", str(old)) == 1
    one_line_error(capsys, "--dataset")


def test_train_classifier_never_replaces_a_classifier_unasked(tmp_path, tiny_mnist, tiny_classifier, no_checksums,
                                                           capsys):
    """An existing classifier at --out is refused before training (one line, the file as it was); --overwrite
    replaces it; a file that is not a classifier is never replaced, --overwrite or not."""
    from examples import train_classifier
    out = tmp_path / "classifier.npz"
    out.write_bytes(open(tiny_classifier, "rb").read())
    before = out.read_bytes()
    flags = ["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--epochs", "8", "--no-progress"]
    assert train_classifier.main(flags) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out} already holds a classifier") and err.count("\n") == 1
    assert out.read_bytes() == before
    assert train_classifier.main(flags + ["--overwrite", "--seed", "1"]) == 0
    assert out.read_bytes() != before
    mine = tmp_path / "mine.npz"
    mine.write_bytes(b"a file of mine")
    capsys.readouterr()
    assert train_classifier.main(flags[:5] + [str(mine)] + flags[6:] + ["--overwrite"]) == 1
    assert "already exists and is not a classifier" in capsys.readouterr().err
    assert mine.read_bytes() == b"a file of mine"


def test_metrics_csv_is_rewritten_atomically_on_resume(tmp_path, monkeypatch):
    """Resuming rewrites metrics.csv to the checkpoint's step; a failure while rewriting (a full disk)
    leaves the old file whole instead of a truncated one."""
    import csv as csv_module
    import errno
    from gan.errors import UserError
    from gan.run_folder import METRIC_FIELDS, Run
    run = Run(str(tmp_path))
    with open(run.metrics, "w", newline="") as f:
        w = csv_module.DictWriter(f, METRIC_FIELDS)
        w.writeheader()
        w.writerows({**{k: 0 for k in METRIC_FIELDS}, "step": s} for s in (10, 20, 30))
    before = open(run.metrics).read()

    def full_disk(self, rows):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(csv_module.DictWriter, "writerows", full_disk)
    with pytest.raises(UserError, match="nothing was written there"):
        run.start_metrics(20)
    assert open(run.metrics).read() == before
    monkeypatch.undo()
    run.start_metrics(20)
    assert [r["step"] for r in csv_module.DictReader(open(run.metrics))] == ["10", "20"]


def test_the_next_generate_removes_what_a_killed_generate_left_behind(tmp_path, capsys):
    """A generate killed mid-write (SIGKILL: no clean-up runs) leaves its hidden staging folder; the next
    generate into that folder removes it with a note, and never one of a process still running."""
    import subprocess
    from gan.writing import StagedFolder
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f".staging-{dead.pid}-abc123"
    left.mkdir()
    (left / "samples.npy").write_bytes(b"half")
    alive = tmp_path / f".staging-{os.getpid()}-live"
    alive.mkdir()
    with StagedFolder(str(tmp_path)) as stage:
        stage.write("x.txt", lambda p: open(p, "w").write("x"))
        stage.commit()
    assert not left.exists() and alive.exists() and (tmp_path / "x.txt").exists()
    assert f"note: removed {left}" in capsys.readouterr().err
