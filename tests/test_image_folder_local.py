"""Image folders with the odd files real folders have: broken links, unlistable folders, every PIL mode.

Unreadable entries are skipped and named in one warning (or refused with
``strict=True``); the reason is brief; a class that loses every image is said.
"""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import DatasetError, load_dataset


def gray(path, value=128, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(path)
    return path


def test_a_broken_link_is_named_not_silently_dropped(tmp_path, capsys):
    gray(tmp_path / "cats" / "0.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "cats" / "link.png")
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert len(images) == 1
    err = capsys.readouterr().err
    assert err.startswith("warning: skipped 1 unreadable file(s) or folder(s)") and "cats/link.png (broken link)" in err


def test_strict_refuses_a_broken_link(tmp_path):
    gray(tmp_path / "0.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    with pytest.raises(DatasetError, match=r"1 unreadable .*link.png \(broken link\)"):
        load_dataset("folder", data_dir=tmp_path, image_size=32, strict=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_named_not_read(tmp_path, capsys):
    """Opening a FIFO called x.png would block forever; it is listed as unreadable instead."""
    gray(tmp_path / "0.png")
    os.mkfifo(tmp_path / "pipe.png")
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert "pipe.png (not a regular file)" in capsys.readouterr().err


@pytest.fixture
def unlistable(monkeypatch):
    """Make ``os.scandir`` refuse the folders added to the returned set (root can read anything)."""
    refused, real_scandir = set(), os.scandir

    def scandir(path="."):
        if Path(os.fsdecode(path)) in refused:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return refused


def test_an_unlistable_class_folder_is_said_to_lose_its_class(tmp_path, capsys, unlistable):
    gray(tmp_path / "cats" / "0.png")
    gray(tmp_path / "dogs" / "0.png")
    unlistable.add(tmp_path / "dogs")
    images, labels = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert len(images) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "skipped 1 unreadable file(s) or folder(s)" in err and "dogs (Permission denied)" in err
    assert "class(es) dogs lost every image" in err


def test_an_unlistable_nested_folder_does_not_lose_its_class(tmp_path, capsys, unlistable):
    gray(tmp_path / "cats" / "0.png")
    gray(tmp_path / "cats" / "deep" / "1.png")
    unlistable.add(tmp_path / "cats" / "deep")
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    err = capsys.readouterr().err
    assert "cats/deep (Permission denied)" in err and "lost every image" not in err


def test_the_reason_is_brief_and_does_not_repeat_the_path(tmp_path, capsys):
    gray(tmp_path / "0.png")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    err = capsys.readouterr().err
    assert "junk.png (cannot identify image file)" in err and str(tmp_path / "junk.png") not in err


MODES = pytest.mark.parametrize("make, mean, note", [
    (lambda: Image.fromarray(np.full((8, 8), 257 * 100, np.uint16)), 100, "16-bit, scaled to 8 bits"),
    (lambda: Image.fromarray(np.full((8, 8), 200, np.uint16)), 1, "16-bit, scaled to 8 bits"),   # dark, not bright
    (lambda: Image.new("LA", (8, 8), (90, 0)), 90, "alpha channel was dropped"),
    (lambda: Image.new("RGBA", (8, 8), (90, 90, 90, 10)), 90, "alpha channel was dropped"),
    (lambda: Image.new("L", (8, 8), 90).convert("P"), 90, None),
    (lambda: Image.new("1", (8, 8), 1), 255, None),
], ids=["I;16", "I;16-dark", "LA", "RGBA", "P", "1"])


@MODES
def test_each_pil_mode_is_scaled_from_its_real_range(tmp_path, capsys, make, mean, note):
    make().save(tmp_path / "x.png")
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert abs(float(images.mean()) - mean) <= 1
    err = capsys.readouterr().err
    if note:
        assert err == f"note: 1 image(s) in {tmp_path} were {note}\n" or note in err
        assert err.count("\n") == 1
    else:
        assert err == ""


@MODES
def test_evaluate_reads_a_png_folder_as_training_reads_images(tmp_path, capsys, make, mean, note):
    """``evaluate --samples FOLDER`` takes every PIL mode the way the training data does (datasets.images.grey_or_rgb,
    the one reader): same pixel values, same note."""
    from gan.evaluate import load_png_folder
    make().save(tmp_path / "00000.png")
    make().save(tmp_path / "00001.png")
    x = load_png_folder(str(tmp_path))
    assert x.dtype == np.uint8 and x.shape[:2] in ((2, 1), (2, 3)) and abs(float(x.mean()) - mean) <= 1
    err = capsys.readouterr().err
    assert (err.startswith(f"note: 2 image(s) in {tmp_path} were ") and note in err and err.count("\n") == 1
            if note else err == "")


def test_a_palette_image_with_a_transparent_index_says_so(tmp_path, capsys):
    Image.new("L", (8, 8), 90).convert("P").save(tmp_path / "t.png", transparency=0)
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert "alpha channel was dropped" in capsys.readouterr().err


def test_a_refusal_comes_alone_without_conversion_notes(tmp_path, capsys):
    Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(tmp_path / "deep.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="1 unreadable file"):
        load_dataset("folder", data_dir=tmp_path, image_size=32, strict=True)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------
# What is done to an image is said: a crop that cuts most of it, a file too large to open
# --------------------------------------------------------------------------

def test_a_far_from_square_image_is_cropped_not_squashed_and_said(tmp_path, capsys):
    """A 28x112 strip keeps its middle 28x28 square (75% of it is cut): one note says so, with the numbers."""
    strip = np.zeros((112, 28), np.uint8)
    strip[42:70] = 200                                   # the middle square is grey, the rest black
    Image.fromarray(strip).save(tmp_path / "strip.png")
    gray(tmp_path / "square.png", value=200, size=28)
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert images.shape == (2, 1, 32, 32) and (images == 200).all()    # squashed, it would be mostly black
    assert capsys.readouterr().err == (f"note: 1 image(s) in {tmp_path} were far from square (more than 2:1), so "
                                       f"centre-cropping them to a square cut off up to 75% of each (the most: "
                                       f"strip.png, 28x112 cropped to 28x28)\n")


def test_several_far_from_square_images_are_counted_in_one_note(tmp_path, capsys):
    Image.new("L", (90, 30), 50).save(tmp_path / "wide.png")        # 3:1, 67% cut
    (tmp_path / "cats").mkdir()
    Image.new("L", (10, 100), 50).save(tmp_path / "cats" / "tall.png")   # 10:1, 90% cut: the most
    images, _ = load_dataset("folder", data_dir=tmp_path, image_size=16)
    assert len(images) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"note: 2 image(s) in {tmp_path} were far from square")
    assert "cut off up to 90% of each (the most: cats/tall.png, 10x100 cropped to 10x10)" in err


def test_images_up_to_2_to_1_are_cropped_without_a_note(tmp_path, capsys):
    """The folder dataset crops to a square by design (its docstring, --help): only a crop of more than half is said."""
    Image.new("L", (56, 28), 50).save(tmp_path / "two-to-one.png")
    Image.new("L", (40, 30), 50).save(tmp_path / "photo.png")
    load_dataset("folder", data_dir=tmp_path, image_size=32)
    assert capsys.readouterr().err == ""


@pytest.fixture
def bombs(tmp_path, monkeypatch):
    """A folder with one small image and two over PIL's pixel limit, lowered to 1000 so the files stay tiny:
    40x40 (PIL warns, naming no file) and 50x50 (over twice the limit: PIL refuses)."""
    gray(tmp_path / "small.png")
    gray(tmp_path / "big.png", size=40)
    gray(tmp_path / "cats" / "huge.png", size=50)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    return tmp_path


def test_an_image_over_pils_pixel_limit_is_skipped_and_named(bombs, capsys, recwarn):
    """A 12000x12000 PNG gave PIL's DecompressionBombWarning, naming no file, and was trained on."""
    images, _ = load_dataset("folder", data_dir=bombs, image_size=32)
    assert len(images) == 1
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    assert capsys.readouterr().err == (
        f"warning: skipped 2 unreadable file(s) or folder(s) in {bombs}: "
        f"big.png (too large: 1600 pixels, over PIL's limit of 1000 against decompression bombs), "
        f"cats/huge.png (too large: 2500 pixels, over PIL's limit of 1000 against decompression bombs); "
        f"class(es) cats lost every image (training on the other 1; --strict-data stops instead)\n")


def test_strict_refuses_an_image_over_pils_pixel_limit(bombs, recwarn):
    with pytest.raises(DatasetError, match=r"2 unreadable file\(s\) or folder\(s\) in .* \(--strict-data\): "
                                           r"big.png \(too large: 1600 pixels, over PIL's limit of 1000"):
        load_dataset("folder", data_dir=bombs, image_size=32, strict=True)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_evaluate_refuses_an_image_over_pils_pixel_limit_by_name(tmp_path, monkeypatch):
    """evaluate's PNG folder reads images as training does: a decompression bomb is one line naming the file
    (PIL's own warning named none, and the image was scored)."""
    from gan.errors import UserError
    from gan.evaluate import load_png_folder
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.new("L", (16, 16), 90).save(tmp_path / "00000.png")
    with pytest.raises(UserError, match=r"00000.png cannot be read as an image \(too large: 256 pixels, over"):
        load_png_folder(str(tmp_path))


def test_evaluate_says_which_pngs_of_a_folder_it_leaves_out(tmp_path, capsys):
    """A corrupt bad.png beside generate's numbered PNGs, and PNGs in a subfolder, were left out without a word."""
    from gan.evaluate import load_png_folder
    for name in ("00000.png", "00001.png"):
        Image.new("L", (8, 8), 90).save(tmp_path / name)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "more").mkdir()
    Image.new("L", (8, 8), 90).save(tmp_path / "more" / "00002.png")
    assert len(load_png_folder(str(tmp_path))) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"note: scoring the 2 numbered PNGs in {tmp_path} (as generate names them); leaving out bad.png",
                   f"note: 1 PNG(s) in subfolders of {tmp_path} are not scored (only the folder's own)"]
