"""The image-folder dataset with the files real folders have: 16-bit and transparent PNGs, unreadable files."""
import numpy as np
import pytest
from PIL import Image

from datasets import DatasetError, load_dataset


def _gray(folder, name, value=128, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(folder / name)


def test_16_bit_png_is_scaled_not_clipped(tmp_path, capsys):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)            # 0 .. 63000 of 65535
    Image.fromarray(ramp).save(tmp_path / "deep.png")                           # a 16-bit greyscale PNG
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert images.shape == (1, 1, 32, 32)
    assert (images == 255).mean() < 0.05, "16-bit values were clipped to 255"
    assert 100 < images.mean() < 155                                           # the ramp's middle, ~ 122
    assert "1 image(s) in" in capsys.readouterr().err


def test_transparent_png_drops_alpha_and_says_so(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 4), np.uint8) + 200, "RGBA").save(tmp_path / "a.png")
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert images.shape == (1, 3, 32, 32)
    assert "alpha channel was dropped" in capsys.readouterr().err


@pytest.fixture
def folder_with_two_bad_files(tmp_path):
    for k in range(3):
        _gray(tmp_path / "cats", f"{k}.png")
        _gray(tmp_path / "dogs", f"{k}.png")
    (tmp_path / "cats" / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    (tmp_path / "dogs" / "empty.jpg").write_bytes(b"")
    return tmp_path


def test_unreadable_files_are_skipped_and_all_named_in_one_warning(folder_with_two_bad_files, capsys):
    images, labels = load_dataset("folder", data_dir=folder_with_two_bad_files, image_size=32)
    assert len(images) == 6 and sorted(set(labels)) == [0, 1]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: skipped 2 unreadable file(s)")
    assert "torn.png" in err and "empty.jpg" in err and "--strict-data" in err


def test_strict_refuses_and_names_every_bad_file(folder_with_two_bad_files):
    with pytest.raises(DatasetError, match=r"2 unreadable .*torn.png.*empty.jpg|2 unreadable .*empty.jpg.*torn.png"):
        load_dataset("folder", data_dir=folder_with_two_bad_files, image_size=32, strict=True)


def test_a_class_that_loses_every_image_is_said(tmp_path, capsys):
    _gray(tmp_path / "cats", "0.png")
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "0.png").write_bytes(b"not a png")
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert "class(es) dogs lost every image" in capsys.readouterr().err


def test_nothing_readable_is_an_error(tmp_path):
    (tmp_path / "0.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="none of the images could be read"):
        load_dataset("folder", data_dir=tmp_path, image_size=32)


def test_dcgan_strict_data_flag(folder_with_two_bad_files, tmp_path, capsys):
    import dcgan
    tiny = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "2", "--image-size", "32", "--no-progress",
            "--max-steps", "1"]
    runs = tmp_path.parent / f"{tmp_path.name}-runs"                # beside the image folder, not inside it
    assert dcgan.main(["--dataset", "folder", "--data-dir", str(folder_with_two_bad_files),
                       "--out", str(runs / "strict"), "--strict-data", *tiny]) == 1
    assert "error: 2 unreadable" in capsys.readouterr().err
    assert dcgan.main(["--dataset", "folder", "--data-dir", str(folder_with_two_bad_files),
                       "--out", str(runs / "lenient"), *tiny]) == 0
    assert "warning: skipped 2" in capsys.readouterr().err
