"""Shared fixtures: run layer tests on every usable backend, and report gradient-check errors.

Backends: numpy always; cupy when CuPy is installed and a GPU is usable
(skipped otherwise, with the reason); array_api_strict when installed (it
is in requirements-test.txt, so CI always runs it); and "cupy-X.Y.Z-names",
NumPy cut down to the names of CuPy release X.Y.Z, for each CuPy wheel named
by $DCGAN_CUPY_DIRS (``.ci/run`` installs the oldest supported and the newest
release; see ``cupy_standin.py``).
"""
import dataclasses
import os

import numpy as np
import pytest

from nn import backend
from tests import cupy_standin
from tests.backends import available

_errors = {}   # (backend, layer case, gradient) -> relative error
_active_label = ["numpy"]

CUPY_RELEASES = {f"cupy-{r['version']}-names": r for r in cupy_standin.installed_releases()}
STAND_INS = CUPY_RELEASES or {"cupy-names": None}       # one skipped placeholder when no wheel is named


CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkout_files():
    """Every path in the checkout but .git and __pycache__ folders."""
    found = set()
    for folder, dirs, files in os.walk(CHECKOUT):
        dirs[:] = [d for d in dirs if d not in (".git", "__pycache__")]
        found.update(os.path.join(folder, name) for name in dirs + files)
    return found


@pytest.fixture(autouse=True)
def default_layers():
    """Each test starts with dcgan.py's default layer library (--layers, a process-wide choice like the
    backend), whatever a test before it asked for."""
    from gan import models
    models.use_layers(None)
    yield
    models.use_layers(None)


@pytest.fixture(autouse=True)
def nothing_written_into_the_checkout():
    """Tests write only into temporary folders: a test that leaves a new file or folder in the checkout
    (a run folder, a lock, a sample grid) fails, naming it."""
    before = checkout_files()
    yield
    new = sorted(os.path.relpath(p, CHECKOUT) for p in checkout_files() - before)
    assert not new, f"this test wrote into the checkout: {new[:5]}"


@pytest.fixture(params=[*backend.BACKENDS, *STAND_INS])
def xp_backend(request):
    """Activate each backend in turn for one test; put numpy back afterwards."""
    label = request.param
    if label in STAND_INS:
        if STAND_INS[label] is None:
            pytest.skip(f"no CuPy wheel to read names from: set {cupy_standin.ENV} (see .ci/run)")
        with backend.stand_in("cupy", cupy_standin.numpy_as_cupy(STAND_INS[label])):
            yield from _activate("cupy", label)
        return
    ok, reason = available(label)
    if not ok:
        pytest.skip(reason)
    yield from _activate(label, label)


def _activate(name, label):
    backend.use(name)
    backend.seed(0)
    _active_label[0] = label
    try:
        yield name                  # what tests pass to backend.use(): "cupy" for a stand-in
    finally:
        backend.use("numpy")
        _active_label[0] = "numpy"


@pytest.fixture
def record_error():
    """record_error(case, {grad name: rel error}) keeps the figures for the end-of-run table."""
    def record(case, errors):
        label = _active_label[0]
        for name, err in errors.items():
            print(f"{label:16s} {case:40s} d{name:14s} rel error {err:.2e}")
            _errors[(label, case, name)] = err
    return record


def pytest_terminal_summary(terminalreporter):
    if not _errors:
        return
    tr = terminalreporter
    tr.section("gradient checks: relative error, float64 (worst per case)")
    worst = {}
    for (be, case, _), err in _errors.items():
        worst[(be, case)] = max(err, worst.get((be, case), 0.0))
    for (be, case), err in sorted(worst.items()):
        tr.write_line(f"{be:22s} {case:44s} {err:.1e}")


# ---------------------------------------------------------------------------- tiny MNIST-format data

N_CLASSES = 10


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """A tiny MNIST-format data folder (80 train, 40 test): class k is a bright bar at a k-dependent place."""
    from datasets import write_idx
    root = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)

    def make(n):
        labels = np.arange(n) % N_CLASSES
        images = rng.integers(0, 30, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = 2 + (k // 5) * 12, 2 + (k % 5) * 5
            images[i, r:r + 10, c:c + 4] = 255
        return images, labels.astype(np.uint8)

    for split, n in (("train", 80), ("t10k", 40)):
        images, labels = make(n)
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels)
    return str(root)


def _patch_mnist_checksums(mp):
    """Our tiny files are not the published MNIST: check their IDX headers only."""
    from datasets import load as datasets_load
    mp.setitem(datasets_load._IDX_DATASETS, "mnist", dataclasses.replace(datasets_load.MNIST, checksums={}))


@pytest.fixture
def no_checksums(monkeypatch):
    _patch_mnist_checksums(monkeypatch)


@pytest.fixture(scope="module")
def module_no_checksums():
    mp = pytest.MonkeyPatch()
    _patch_mnist_checksums(mp)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_classifier(tiny_mnist, tmp_path_factory):
    """examples/train_classifier.py trained on tiny_mnist (8 epochs, a few seconds)."""
    from examples import train_classifier
    path = tmp_path_factory.mktemp("cls") / "cls.npz"
    mp = pytest.MonkeyPatch()
    _patch_mnist_checksums(mp)
    try:
        assert train_classifier.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(path),
                                      "--epochs", "8", "--batch-size", "16"]) == 0
    finally:
        mp.undo()
    return str(path)


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory):
    """24 grayscale 28x28 PNGs of uniform noise: an image-folder dataset of 3 batches of 8."""
    from PIL import Image
    root = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(root / f"{i:02d}.png")
    return str(root)


TINY_FLAGS = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--image-size", "32", "--no-progress"]


def train_tiny(folder, out, *extra):
    """dcgan.py on an image folder with tiny networks; returns the exit code."""
    import dcgan
    return dcgan.main(merged(["--dataset", "folder", "--data-dir", folder, "--out", str(out), *TINY_FLAGS], *extra))


def one_line_error(capsys, *fragments):
    """The captured stderr is one ``error:`` line (so no traceback, and no pickle advice) holding
    every fragment; returns it."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "pickle" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def merged(argv, *extra):
    """``argv`` with ``extra`` flags set: a flag already in ``argv`` gets the new value in place (the programs refuse
    a flag given twice), a new one is appended. A flag is followed by its value unless the next item is a flag."""
    argv, extra = list(argv), list(extra)
    i = 0
    while i < len(extra):
        flag = extra[i]
        has_value = i + 1 < len(extra) and not extra[i + 1].startswith("--")
        if flag in argv and has_value:
            argv[argv.index(flag) + 1] = extra[i + 1]
        elif flag not in argv:
            argv += extra[i:i + 2] if has_value else [flag]
        i += 2 if has_value else 1
    return argv
