"""Tests for the datasets package.  They never touch the internet.

Downloads are exercised against a throw-away HTTP server on 127.0.0.1 that
serves tiny generated files; the published checksums are replaced by those
of the tiny files through ``load_dataset(..., checksums=...)``.
"""
import functools
import gzip
import hashlib
import http.server
import io
import math
import pickle
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import (DATASETS, DatasetError, default_cache_dir, download, load_dataset,
                      pad_or_resize, read_idx, write_idx)
from datasets.mnist import ALL_ARCHIVES, FASHION_MNIST

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 10, 5


# --------------------------------------------------------------------------
# Fixtures: a local HTTP server, a closed port, tiny IDX files
# --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """No proxies (they would swallow 127.0.0.1), and never the real cache."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("DCGAN_DATA_CACHE", str(tmp_path / "default-cache"))


class LocalServer:
    """Serves the files in ``folder`` at ``self.url`` and logs request paths."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.requests = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output quiet
                pass

        handler = functools.partial(Handler, directory=str(self.folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        serve = functools.partial(self.httpd.serve_forever, poll_interval=0.01)  # quick shutdown
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def server(tmp_path):
    server = LocalServer(tmp_path / "www")
    yield server
    server.stop()


@pytest.fixture
def closed_url():
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(data):
    return hashlib.md5(data).hexdigest()


def make_idx_files(folder, gz=True, seed=0):
    """Write the four MNIST files (10 train, 5 test 28x28 images) into ``folder``.

    Pixels are 1..255 so the zero padding is easy to tell apart.  Returns the
    arrays by file name and the checksum table for them, {name.gz: MD5 of the
    archive, name: MD5 of its content}, as ``load_dataset`` takes it.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(1, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(1, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }
    checksums = {}
    for name, array in arrays.items():
        path = write_idx(folder / (f"{name}.gz" if gz else name), array)
        data = Path(path).read_bytes()
        checksums[f"{name}.gz"] = md5(gzip.compress(data) if not gz else data)
        checksums[name] = md5(gzip.decompress(data) if gz else data)
    return arrays, checksums


def load_mnist(**kwargs):
    kwargs.setdefault("image_size", 32)
    return load_dataset("mnist", **kwargs)


def assert_padded(images, originals):
    """(N, 1, 32, 32) with the 28x28 originals centred on a black border."""
    assert images.shape == (len(originals), 1, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0, 2:30, 2:30], originals)
    border = images.copy()
    border[:, :, 2:30, 2:30] = 0
    assert not border.any()


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


# --------------------------------------------------------------------------
# IDX format
# --------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([-5, 0, 70000], dtype=np.int32),
    np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
], ids=["uint8-3d", "int32-1d", "float32-2d"])
def test_idx_round_trip(tmp_path, array, suffix):
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(read_idx(Path(path).read_bytes()), array)  # from bytes


def test_idx_header_is_mnist_magic(tmp_path):
    data = Path(write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))).read_bytes()
    assert data[:16] == bytes.fromhex("00000803 00000003 0000001c 0000001c")


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(DatasetError, match="bad-idx is not an IDX file"):
        read_idx(path)


def test_idx_truncated_payload(tmp_path):
    path = write_idx(tmp_path / "short-idx", np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="short-idx is corrupt or truncated"):
        read_idx(path)


def test_idx_trailing_bytes_are_not_called_truncated(tmp_path):
    path = write_idx(tmp_path / "long-idx", np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes() + bytes(3))
    with pytest.raises(DatasetError, match=r"long-idx is corrupt: 3 bytes follow the 3136 bytes of 4x28x28 uint8 "
                                           r"data its IDX header promises \(a damaged header, or data appended"):
        read_idx(path)


@pytest.mark.parametrize("dims", [(2**32 - 1,) * 3, (2**16,) * 4], ids=["2^96 bytes", "2^64 bytes"])
def test_idx_header_with_huge_sizes_is_refused_in_one_line(dims):
    """Sizes whose product overflows 64 bits: counted exactly (no wrap-around to 0 bytes, no reshape traceback)."""
    header = struct.pack(f">BBBB{len(dims)}I", 0, 0, 0x08, len(dims), *dims)
    expected = math.prod(dims)
    with pytest.raises(DatasetError, match=rf"IDX data is corrupt or truncated: its header promises {expected} bytes "
                                           rf"of {'x'.join(map(str, dims))} uint8 data but it holds 0$"):
        read_idx(header)


def test_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "short.gz", np.ones((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DatasetError, match="short.gz is corrupt or truncated"):
        read_idx(path)


# --------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------

def test_download_verifies_and_renames_atomically(server, tmp_path):
    (server.folder / "f.bin").write_bytes(b"hello")
    dest = tmp_path / "cache" / "f.bin"
    assert download([server.url + "f.bin"], dest, md5(b"hello")) == dest
    assert dest.read_bytes() == b"hello"
    assert files_in(dest.parent) == ["f.bin"]  # no temp file left


def test_download_reuses_good_file_without_network(tmp_path, closed_url):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"hello")
    assert download([closed_url + "f.bin"], dest, md5(b"hello")) == dest


def test_download_replaces_file_with_wrong_md5(server, tmp_path):
    (server.folder / "f.bin").write_bytes(b"good")
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale")
    download([server.url + "f.bin"], dest, md5(b"good"))
    assert dest.read_bytes() == b"good" and server.requests == ["/f.bin"]


def test_download_lists_every_failure(server, tmp_path, closed_url):
    (server.folder / "f.bin").write_bytes(b"evil")
    urls = [closed_url + "f.bin", server.url + "nowhere/f.bin", server.url + "f.bin"]
    with pytest.raises(DatasetError) as info:
        download(urls, tmp_path / "cache" / "f.bin", md5(b"good"))
    message = str(info.value)
    assert "refused" in message.lower() and "404" in message and "checksum mismatch" in message
    assert files_in(tmp_path / "cache") == []  # no temp files either


# --------------------------------------------------------------------------
# MNIST-format datasets, downloaded from the local server
# --------------------------------------------------------------------------

def test_download_and_load(server, tmp_path):
    arrays, checksums = make_idx_files(server.folder)
    cache = tmp_path / "cache"
    images, labels = load_mnist(cache_dir=cache, mirrors=[server.url], checksums=checksums)
    assert_padded(images, arrays["train-images-idx3-ubyte"])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte"])

    images, labels = load_mnist(cache_dir=cache, mirrors=[server.url], checksums=checksums, split="test")
    assert_padded(images, arrays["t10k-images-idx3-ubyte"])
    assert files_in(cache) == sorted(ALL_ARCHIVES)  # and no temp files


def test_image_size_64(server, tmp_path):
    _, checksums = make_idx_files(server.folder)
    images, labels = load_mnist(cache_dir=tmp_path, mirrors=[server.url], checksums=checksums, image_size=64)
    assert images.shape == (N_TRAIN, 1, 64, 64) and images.dtype == np.uint8
    assert not images[:, :, :2].any() and not images[:, :, :, -2:].any()  # the black frame survives
    assert labels.shape == (N_TRAIN,)


def test_default_cache_follows_environment(server, tmp_path, monkeypatch):
    _, checksums = make_idx_files(server.folder)
    monkeypatch.setenv("DCGAN_DATA_CACHE", str(tmp_path / "root"))
    load_dataset("fashion-mnist", mirrors=[server.url], checksums=checksums)
    assert default_cache_dir("fashion-mnist") == tmp_path / "root" / "fashion-mnist"
    assert "train-images-idx3-ubyte.gz" in files_in(tmp_path / "root" / "fashion-mnist")


@pytest.mark.parametrize("first", ["404", "closed port"])
def test_mirror_fallback(server, tmp_path, closed_url, first):
    arrays, checksums = make_idx_files(server.folder)
    bad_mirror = server.url + "no-such-folder/" if first == "404" else closed_url
    images, _ = load_mnist(cache_dir=tmp_path, mirrors=[bad_mirror, server.url], checksums=checksums)
    assert_padded(images, arrays["train-images-idx3-ubyte"])
    if first == "404":
        assert "/no-such-folder/train-images-idx3-ubyte.gz" in server.requests


def test_checksum_mismatch_leaves_nothing_behind(server, tmp_path):
    _, checksums = make_idx_files(server.folder)
    checksums["train-images-idx3-ubyte.gz"] = "0" * 32
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(cache_dir=cache, mirrors=[server.url], checksums=checksums)
    assert files_in(cache) == []


def test_all_mirrors_down_gives_offline_advice(tmp_path, closed_url):
    with pytest.raises(DatasetError) as info:
        load_mnist(cache_dir=tmp_path, mirrors=[closed_url, closed_url + "other/"])
    message = str(info.value)
    assert "\n" not in message
    for name in ALL_ARCHIVES:
        assert name in message
    assert "--data-dir" in message and f"from {closed_url}" in message


def test_cached_files_are_reused_without_network(server, tmp_path):
    arrays, checksums = make_idx_files(server.folder)
    load_mnist(cache_dir=tmp_path, mirrors=[server.url], checksums=checksums)
    server.stop()
    images, _ = load_mnist(cache_dir=tmp_path, mirrors=[server.url], checksums=checksums)
    assert_padded(images, arrays["train-images-idx3-ubyte"])


# --------------------------------------------------------------------------
# MNIST-format datasets from --data-dir
# --------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "unpacked"])
def test_data_dir_never_downloads(tmp_path, closed_url, gz):
    arrays, checksums = make_idx_files(tmp_path / "data", gz=gz)
    images, labels = load_mnist(data_dir=tmp_path / "data", mirrors=[closed_url], checksums=checksums)
    assert_padded(images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte"])


def test_data_dir_accepts_recompressed_archive(tmp_path):
    """A re-gzipped copy has another archive MD5 but the published content."""
    arrays, checksums = make_idx_files(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), mtime=12345))
    assert md5(path.read_bytes()) != checksums[path.name]
    images, _ = load_mnist(data_dir=tmp_path, checksums=checksums)
    assert_padded(images, arrays["train-images-idx3-ubyte"])


def test_data_dir_missing_file_is_named(tmp_path):
    _, checksums = make_idx_files(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(data_dir=tmp_path, checksums=checksums, split="test")


def test_data_dir_truncated_archive(tmp_path):
    _, checksums = make_idx_files(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz is corrupt or truncated \(gzip"):
        load_mnist(data_dir=tmp_path, checksums=checksums)


def test_data_dir_file_with_other_pixels_is_used_with_a_note(tmp_path, capsys):
    """A structurally valid file that is not the published one trains, with one note (checksums are for downloads)."""
    _, checksums = make_idx_files(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF                                      # one pixel: still a valid IDX file
    path.write_bytes(bytes(data))
    images, labels = load_mnist(data_dir=tmp_path, checksums=checksums)
    assert len(images) == len(labels)
    err = capsys.readouterr().err
    assert err == (f"note: {path} is not the published MNIST file; it is a valid IDX file (10 images of 28x28), "
                   f"so training uses it as it is\n")


def test_data_dir_damaged_header_is_refused(tmp_path):
    _, checksums = make_idx_files(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[7] ^= 0x01                                        # the image count in the header
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte is corrupt or truncated: its header promises"):
        load_mnist(data_dir=tmp_path, checksums=checksums)


def test_data_dir_another_known_dataset_is_named(tmp_path, capsys, monkeypatch):
    """Fashion-MNIST's files given as MNIST: they train, and the note says whose they are."""
    from datasets import hashing, mnist
    make_idx_files(tmp_path)
    digest = hashing.md5_bytes((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    fashion = mnist.IdxDataset("Fashion-MNIST", (), {"train-images-idx3-ubyte.gz": digest})
    monkeypatch.setattr(mnist, "KNOWN", (mnist.MNIST, fashion))
    load_mnist(data_dir=tmp_path, checksums=mnist.MNIST.checksums)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("train-images-idx3-ubyte.gz is Fashion-MNIST's, not MNIST's and train-labels-idx1-ubyte.gz is not the "
            "published MNIST file; they are valid IDX files" in err)


def test_data_dir_labels_not_matching_images_are_refused(tmp_path):
    from datasets import write_idx
    make_idx_files(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match="images but .* has 3 labels"):
        load_mnist(data_dir=tmp_path, checksums={})


def test_data_dir_unpacked_file_without_checksum_is_header_checked(tmp_path):
    make_idx_files(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte is corrupt or truncated"):
        load_mnist(data_dir=tmp_path, checksums={})


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------

CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch(rng, n):
    """One batch dict as in the real files: bytes keys, (n, 3072) uint8 data."""
    return {b"batch_label": b"tiny", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * n}


def make_cifar_tarball(path, n=3):
    """A CIFAR-10 python tarball with ``n`` images per batch; returns the batches."""
    rng = np.random.default_rng(1)
    batches = {name: cifar_batch(rng, n) for name in CIFAR_BATCHES}
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return batches


def expected_cifar(batches, names):
    images = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return images, labels


def test_cifar10_download_and_load(server, tmp_path):
    batches = make_cifar_tarball(server.folder / "cifar-10-python.tar.gz")
    checksums = {"cifar-10-python.tar.gz": md5((server.folder / "cifar-10-python.tar.gz").read_bytes())}
    options = dict(cache_dir=tmp_path / "cache", mirrors=[server.url], checksums=checksums)

    images, labels = load_dataset("cifar10", **options)
    want_images, want_labels = expected_cifar(batches, CIFAR_BATCHES[:5])
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)

    server.stop()  # everything below comes from the cache
    images, labels = load_dataset("cifar10", split="test", **options)
    np.testing.assert_array_equal(images, expected_cifar(batches, ["test_batch"])[0])
    images, _ = load_dataset("cifar10", image_size=64, **options)
    assert images.shape == (15, 3, 64, 64) and images.dtype == np.uint8


def test_cifar10_from_data_dir(tmp_path, closed_url):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    batches = make_cifar_tarball(tarball)
    checksums = {tarball.name: md5(tarball.read_bytes())}
    images, _ = load_dataset("cifar10", data_dir=tmp_path, mirrors=[closed_url], checksums=checksums, split="test")
    np.testing.assert_array_equal(images, expected_cifar(batches, ["test_batch"])[0])

    tarball.write_bytes(tarball.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"cifar-10-python.tar.gz is corrupt or truncated \(Compressed file ended"):
        load_dataset("cifar10", data_dir=tmp_path, checksums=checksums)


def test_cifar10_from_extracted_folder(tmp_path):
    batches = make_cifar_tarball(tmp_path / "c.tar.gz")
    with tarfile.open(tmp_path / "c.tar.gz") as tar:
        tar.extractall(tmp_path / "data", filter="data")
    images, labels = load_dataset("cifar10", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(images, expected_cifar(batches, CIFAR_BATCHES[:5])[0])


def test_cifar10_refuses_pickles_that_could_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in CIFAR_BATCHES:
        (folder / name).write_bytes(pickle.dumps({b"data": functools.partial(print)}))
    with pytest.raises(DatasetError, match="data_batch_1 is not a readable CIFAR-10 batch"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_offline_advice(tmp_path, closed_url):
    with pytest.raises(DatasetError, match="--data-dir") as info:
        load_dataset("cifar10", cache_dir=tmp_path, mirrors=[closed_url])
    assert closed_url + "cifar-10-python.tar.gz" in str(info.value)


# --------------------------------------------------------------------------
# A folder of images
# --------------------------------------------------------------------------

def save(path, mode, size, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_folder_mixed_images(tmp_path):
    save(tmp_path / "cats" / "a.PNG", "RGB", (40, 30), (255, 0, 0))
    save(tmp_path / "cats" / "deep" / "b.jpg", "L", (50, 70), 128)
    save(tmp_path / "dogs" / "c.jpeg", "RGB", (64, 64), (0, 0, 255))
    (tmp_path / "notes.txt").write_text("not an image")
    images, labels = load_dataset("folder", data_dir=tmp_path, image_size=64)
    assert images.shape == (3, 3, 64, 64) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 0, 1])  # sorted paths; class = first subfolder
    assert (images[0, 0] == 255).all() and not images[0, 1:].any()  # the red PNG
    assert abs(int(images[1].mean()) - 128) <= 2  # grayscale turned into RGB


def test_folder_center_crop(tmp_path):
    image = np.zeros((20, 60), np.uint8)
    image[:, 20:40] = 255  # white centre square between black sides
    Image.fromarray(image).save(tmp_path / "wide.png")
    images, labels = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert images.shape == (1, 1, 32, 32) and (images == 255).all()
    assert labels.tolist() == [0]


def test_folder_all_grayscale_has_one_channel(tmp_path):
    save(tmp_path / "a.png", "L", (10, 12), 10)
    save(tmp_path / "b.JPG", "L", (33, 33), 200)
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert images.shape == (2, 1, 32, 32) and images.dtype == np.uint8


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("folder")
    with pytest.raises(DatasetError, match="no PNG or JPEG images"):
        load_dataset("folder", data_dir=tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="broken.png"):
        load_dataset("folder", data_dir=tmp_path)


# --------------------------------------------------------------------------
# Arguments and helpers
# --------------------------------------------------------------------------

def test_bad_arguments(tmp_path):
    assert DATASETS == ("mnist", "fashion-mnist", "cifar10", "folder")
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="image size 48"):
        load_dataset("mnist", image_size=48)
    with pytest.raises(DatasetError, match="split"):
        load_dataset("mnist", split="validation")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nope")


def test_pad_or_resize():
    digits = np.full((2, 1, 28, 28), 9, np.uint8)
    assert_padded(pad_or_resize(digits, 32), digits[:, 0])
    photos = np.full((2, 3, 32, 32), 7, np.uint8)
    np.testing.assert_array_equal(pad_or_resize(photos, 32), photos)
    bigger = pad_or_resize(photos, 64)
    assert bigger.shape == (2, 3, 64, 64) and bigger.dtype == np.uint8 and (bigger == 7).all()


# --------------------------------------------------------------------------
# The real Fashion-MNIST, where this machine has it
# --------------------------------------------------------------------------

@pytest.mark.skipif(not REAL_FASHION_MNIST.is_dir(), reason=f"{REAL_FASHION_MNIST} not present")
def test_real_fashion_mnist():
    # These copies were re-gzipped (their gzip headers differ from the
    # published archives), so what must match is the MD5 of the content.
    for archive in ALL_ARCHIVES:
        content = gzip.decompress((REAL_FASHION_MNIST / archive).read_bytes())
        assert md5(content) == FASHION_MNIST.checksums[archive.removesuffix(".gz")], archive
    images, labels = load_dataset("fashion-mnist", data_dir=REAL_FASHION_MNIST, mirrors=[])
    assert images.shape == (60000, 1, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    assert not images[:, :, :2].any() and images.max() == 255
