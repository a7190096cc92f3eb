"""Files from --data-dir (IDX, CIFAR-10 tarball) checked for what they are; one note if not the published ones.

Nothing here needs the network or an installed dataset (the one test that
uses the real Fashion-MNIST is skipped without it).
"""
import os
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
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte holds the label 2147483647 for image 1; "
                                           r"MNIST's labels are the class numbers 0 \.\. 9"):
        load_dataset("mnist", data_dir=folder, checksums={})


@pytest.mark.parametrize("labels, said", [
    (np.array([1, 2, 10, 3], np.uint8), "the label 10 for image 2"),
    (np.array([1, -1, 2, 3], np.int8), "the label -1 for image 1"),
])
def test_labels_outside_0_to_9_are_refused(tmp_path, labels, said):
    """MNIST and Fashion-MNIST have ten classes: a label of 10 would give a conditional model an 11th, empty one."""
    folder = write_split(tmp_path, digits()[0], labels)
    with pytest.raises(DatasetError, match=rf"train-labels-idx1-ubyte holds {said}; "
                                           rf"Fashion-MNIST's labels are the class numbers 0 \.\. 9"):
        load_dataset("fashion-mnist", data_dir=folder, checksums={})


def test_labels_that_are_not_integers_are_refused(tmp_path):
    folder = write_split(tmp_path, digits()[0], np.array([1, 2, 3, 4], np.float32))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte holds float32 labels; MNIST's labels are the "
                                           r"class numbers 0 \.\. 9 \(IDX type 0x08, unsigned bytes\)"):
        load_dataset("mnist", data_dir=folder, checksums={})


@pytest.mark.parametrize("size", [(0, 0), (5, 5), (28, 112)], ids=["0x0", "5x5", "28x112"])
def test_images_that_are_not_28x28_are_refused(tmp_path, capsys, size):
    """A header of 0x0 images would train on blank (all-padding) images; other sizes are not MNIST's framing."""
    folder = write_split(tmp_path, np.zeros((4, *size), np.uint8), digits()[1])
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=folder, checksums={})
    assert str(info.value) == (f"{folder / 'train-images-idx3-ubyte'} holds 4 images of {size[0]}x{size[1]} pixels; "
                               f"MNIST's images are 28x28 (a damaged header? images of another size train with "
                               f"--dataset folder)")
    assert capsys.readouterr().err == ""


def test_trailing_bytes_after_the_images_are_refused(tmp_path):
    folder = write_split(tmp_path, *digits())
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + bytes(28 * 28))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte is corrupt: 784 bytes follow the 3136 bytes"):
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


def cifar_folder(folder, data=None, labels=None, n=2, batch=None):
    """An extracted ``cifar-10-batches-py`` folder whose six batches are all ``batch`` (or {data, labels})."""
    import pickle
    rng = np.random.default_rng(3)
    if batch is None:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8) if data is None else data,
                 b"labels": [int(v) for v in rng.integers(0, 10, n)] if labels is None else labels}
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(pickle.dumps(batch, protocol=2))
    return batches


@pytest.mark.parametrize("labels, said", [
    ([3, -1], "-1 for image 1"),
    ([10, 3], "10 for image 0"),
    (["3", "4"], "'3' for image 0"),
    (["cat", "dog"], "'cat' for image 0"),
    ([1.5, 2], "1.5 for image 0"),
    ([1, None], "None for image 1"),
    ([True, False], "True for image 0"),
    (np.array([2, -7], np.int16), "-7 for image 1"),
], ids=["negative", "10", "digit-strings", "words", "float", "None", "bool", "int16-array"])
def test_cifar_labels_that_are_not_class_numbers_are_refused(tmp_path, capsys, labels, said):
    """Every label is checked when loading: a negative one would crash --conditional, a string even a plain run."""
    batches = cifar_folder(tmp_path, labels=labels)
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(info.value) == (f"{batches / 'data_batch_1'} holds the label {said}; "
                               f"CIFAR-10's labels are the class numbers 0 .. 9")
    assert capsys.readouterr().err == ""


NOT_UINT8_ROWS = "; CIFAR-10's are uint8 rows of 3072 values (3x32x32), one row per image"


@pytest.mark.parametrize("batch, said", [
    (dict(data=np.zeros((2, 3072), np.int64)), "is not a CIFAR-10 batch: its image data is int64 (2, 3072)"
                                               + NOT_UINT8_ROWS),
    (dict(data=np.zeros((2, 3000), np.uint8)), "is not a CIFAR-10 batch: its image data is uint8 (2, 3000)"
                                               + NOT_UINT8_ROWS),
    (dict(data=np.zeros(3072, np.uint8), labels=[1]), "is not a CIFAR-10 batch: its image data is uint8 (3072,)"
                                                      + NOT_UINT8_ROWS),
    (dict(data=[[0] * 3072] * 2), "is not a CIFAR-10 batch: its image data is int64 (2, 3072)" + NOT_UINT8_ROWS),
    (dict(data=np.zeros((0, 3072), np.uint8), labels=[]), "holds no images"),
    (dict(labels=[1, 2, 3]), "holds 2 images but 3 labels"),
    (dict(labels=[[1], [2]]), "holds 2 images but labels of shape (2, 1), not one label per image"),
], ids=["int64", "3000-wide", "1-d", "list", "empty", "3-labels", "2-d-labels"])
def test_cifar_image_data_and_label_count_are_checked(tmp_path, batch, said):
    batches = cifar_folder(tmp_path, **batch)
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(info.value) == f"{batches / 'data_batch_1'} {said}"


@pytest.mark.parametrize("batch, said", [
    ([1, 2], "is not a CIFAR-10 batch: it holds a list, not a dict with b'data' and b'labels'"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "is not a CIFAR-10 batch: it has no b'labels' (its keys: b'data')"),
], ids=["list", "no-labels"])
def test_cifar_batch_that_is_not_a_dict_of_data_and_labels(tmp_path, batch, said):
    batches = cifar_folder(tmp_path, batch=batch)
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(info.value) == f"{batches / 'data_batch_1'} {said}"


def test_cifar_negative_label_with_conditional_is_one_error_line(tmp_path, capsys):
    """What the tester ran: --conditional on a batch with label -1 gave NumPy's bincount traceback."""
    import dcgan
    cifar_folder(tmp_path / "data", labels=[3, -1])
    code = dcgan.main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                       "--conditional", "--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "2",
                       "--no-progress", "--max-steps", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("error: ") and "data_batch_1 holds the label -1 for image 1" in err


def test_a_folder_where_a_data_file_should_be_is_called_a_folder(tiny_mnist, tmp_path):
    """It was reported as "missing in ...": the folder is there, and it is in the way."""
    import shutil
    data = tmp_path / "data"
    shutil.copytree(tiny_mnist, data)
    os.remove(data / "train-labels-idx1-ubyte.gz")
    (data / "train-labels-idx1-ubyte.gz").mkdir()
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz is a folder, not the data file"):
        load_dataset("mnist", data_dir=data, split="train")
