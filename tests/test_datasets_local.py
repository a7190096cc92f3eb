"""Files from --data-dir (IDX, CIFAR-10 tarball) checked for what they are; one note if not the published ones.

Nothing here needs the network or an installed dataset (the one test that
uses the real Fashion-MNIST is skipped without it).
"""
from pathlib import Path

import numpy as np
import pytest

from datasets import DatasetError, load_dataset, write_idx
from datasets.mnist import FASHION_MNIST, MNIST

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def write_split(folder, images, labels, gz=False):
    """The two train files of an MNIST-format folder, from arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels)
    return folder


def digits(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


# --------------------------------------------------------------------------
# IDX files from --data-dir
# --------------------------------------------------------------------------

def test_a_valid_split_that_is_not_published_gets_one_note_line(tmp_path, capsys):
    """Both files of a subset are unknown: one line for the split, not one per file."""
    folder = write_split(tmp_path, *digits())
    images, _ = load_dataset("mnist", data_dir=folder, checksums=MNIST.checksums)
    assert len(images) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"note: {folder / 'train-images-idx3-ubyte'} and train-labels-idx1-ubyte are not the "
                          f"published MNIST files; they are valid IDX files (4 images of 28x28), "
                          f"so training uses them as they are")


def test_no_note_before_a_refusal(tmp_path, capsys):
    """A file that is refused is refused in one line, with no notes printed before it."""
    images, _ = digits()
    folder = write_split(tmp_path, images, np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match="has 4 images but .* has 3 labels"):
        load_dataset("mnist", data_dir=folder, checksums=MNIST.checksums)
    assert capsys.readouterr().err == ""


def test_a_file_with_no_images_is_refused(tmp_path):
    folder = write_split(tmp_path, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte holds no images \(its header says 0\)"):
        load_dataset("mnist", data_dir=folder, checksums={})


def test_labels_far_beyond_any_class_count_are_refused(tmp_path):
    """An int32 label of 2**31-1 would make a conditional DCGAN allocate 2**31 label channels."""
    images, _ = digits(2)
    folder = write_split(tmp_path, images, np.array([3, 2**31 - 1], np.int32))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte holds the label 2147483647; "
                                           r"class numbers 0 \.\. 999 are expected"):
        load_dataset("mnist", data_dir=folder, checksums={})


def test_the_other_known_dataset_is_named_in_the_one_note(tmp_path, capsys, monkeypatch):
    """Files whose MD5s are Fashion-MNIST's, given as MNIST: they train; the note says whose they are."""
    from datasets import hashing, mnist
    folder = write_split(tmp_path, *digits(), gz=True)
    digest = {name: hashing.md5_file(folder / name) for name in ("train-images-idx3-ubyte.gz",
                                                                "train-labels-idx1-ubyte.gz")}
    monkeypatch.setattr(mnist, "KNOWN", (MNIST, mnist.IdxDataset("Fashion-MNIST", (), digest)))
    load_dataset("mnist", data_dir=folder)
    err = capsys.readouterr().err
    assert err == (f"note: {folder / 'train-images-idx3-ubyte.gz'} and train-labels-idx1-ubyte.gz are "
                   f"Fashion-MNIST's, not MNIST's; they are valid IDX files (4 images of 28x28), "
                   f"so training uses them as they are\n")


def test_one_unknown_file_beside_a_published_one(tmp_path, capsys):
    """Only the file that is not the published one is named (here the labels, with the images' MD5 known)."""
    from datasets import hashing
    folder = write_split(tmp_path, *digits())
    checksums = {"train-images-idx3-ubyte": hashing.md5_file(folder / "train-images-idx3-ubyte")}
    load_dataset("mnist", data_dir=folder, checksums=checksums)
    assert capsys.readouterr().err == (f"note: {folder / 'train-labels-idx1-ubyte'} is not the published MNIST "
                                       f"file; it is a valid IDX file (4 images of 28x28), "
                                       f"so training uses it as it is\n")


@pytest.mark.skipif(not REAL_FASHION_MNIST.is_dir(), reason=f"{REAL_FASHION_MNIST} not present")
def test_real_fashion_mnist_given_as_mnist_trains_with_one_note(capsys):
    images, labels = load_dataset("mnist", data_dir=REAL_FASHION_MNIST, mirrors=[])
    assert images.shape == (60000, 1, 32, 32) and len(labels) == 60000
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "are Fashion-MNIST's, not MNIST's" in err
    assert FASHION_MNIST.title == "Fashion-MNIST"


# --------------------------------------------------------------------------
# CIFAR-10 tarballs from --data-dir: checked by structure too
# --------------------------------------------------------------------------

def cifar_tarball(path, n=2, compresslevel=9):
    """A CIFAR-10 python tarball with ``n`` images per batch."""
    import io
    import pickle
    import tarfile
    rng = np.random.default_rng(2)
    with tarfile.open(path, "w:gz", compresslevel=compresslevel) as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     b"labels": [int(v) for v in rng.integers(0, 10, n)]}
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_a_valid_cifar_tarball_that_is_not_the_published_one_trains_with_a_note(tmp_path, capsys):
    """Checksums are for downloads: a tarball of valid batches (re-packed, a subset) is used, with one note."""
    tarball = cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    images, labels = load_dataset("cifar10", data_dir=tmp_path, split="test")
    assert images.shape == (2, 3, 32, 32) and len(labels) == 2
    assert capsys.readouterr().err == (f"note: {tarball} is not the published CIFAR-10 tarball; its batches are "
                                       f"valid, so training uses them as they are\n")


def test_a_truncated_cifar_tarball_is_still_refused_in_one_line(tmp_path, capsys):
    tarball = cifar_tarball(tmp_path / "cifar-10-python.tar.gz", n=50, compresslevel=0)
    tarball.write_bytes(tarball.read_bytes()[:-20000])
    with pytest.raises(DatasetError, match=r"cifar-10-python.tar.gz is corrupt or truncated \(") as info:
        load_dataset("cifar10", data_dir=tmp_path, split="test")
    assert "\n" not in str(info.value) and capsys.readouterr().err == ""
