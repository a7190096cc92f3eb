"""examples/train_classifier.py's augmentation (--shift), learning-rate schedule (--schedule), their flags, and
that a seed reproduces the model. End to end on tiny_mnist (conftest.py): 80 training images, a second or two."""
import math

import numpy as np
import pytest

from examples import train_classifier
from gan import quality
from tests.conftest import merged, one_line_error


def offset_of(original, moved, shift):
    """The (down, across) offsets d, |d| <= shift, for which ``moved`` is ``original`` moved by d with a black
    border; [] if there is none."""
    padded = np.pad(original, ((0, 0), (shift, shift), (shift, shift)))
    h, w = original.shape[1:]
    return [(shift - top, shift - left) for top in range(2 * shift + 1) for left in range(2 * shift + 1)
            if np.array_equal(padded[:, top:top + h, left:left + w], moved)]


def random_images(n=64, c=2, size=8, seed=0):
    return np.random.default_rng(seed).integers(1, 256, (n, c, size, size)).astype(np.uint8)    # no black pixel


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_shifted_moves_every_image_by_at_most_shift_pixels_keeping_shape_and_dtype(shift):
    images = random_images()
    moved = train_classifier.shifted(images, shift, np.random.default_rng(1))
    assert moved.shape == images.shape and moved.dtype == images.dtype
    offsets = []
    for original, out in zip(images, moved):
        found = offset_of(original, out, shift)
        assert len(found) == 1, found                    # a shift (all channels alike) of at most `shift` pixels
        offsets.append(found[0])
    down, across = np.array(offsets).T
    # every offset from -shift to shift turns up, both ways (64 images, 2 * shift + 1 values)
    assert set(down) == set(across) == set(range(-shift, shift + 1))
    assert np.array_equal(images, random_images())      # the input is left as it was


def test_shifted_by_zero_is_the_images_themselves():
    images = random_images()
    rng = np.random.default_rng(1)
    assert train_classifier.shifted(images, 0, rng) is images
    assert rng.integers(1 << 30) == np.random.default_rng(1).integers(1 << 30)     # and draws nothing


def test_shifted_same_seed_same_images_another_seed_others():
    images = random_images()
    first = train_classifier.shifted(images, 2, np.random.default_rng(7))
    assert np.array_equal(first, train_classifier.shifted(images, 2, np.random.default_rng(7)))
    assert not np.array_equal(first, train_classifier.shifted(images, 2, np.random.default_rng(8)))


def test_cosine_schedule_values():
    lr, steps = 1e-3, 100
    rates = [train_classifier.learning_rate_at(s, steps, lr, "cosine") for s in range(steps)]
    assert rates[0] == lr
    assert rates[50] == pytest.approx(lr / 2, rel=1e-12)
    assert rates[25] == pytest.approx(lr * (1 + math.sqrt(0.5)) / 2, rel=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))                  # falls at every step
    assert 0 < rates[-1] < lr * 1e-3                                     # to just above 0 at the last
    assert all(train_classifier.learning_rate_at(s, steps, lr, "constant") == lr for s in range(steps))


@pytest.mark.parametrize("flags,message", [
    (["--shift", "5"], "--shift: must be an integer from 0 to 4, got 5"),
    (["--shift", "-1"], "--shift: must be an integer from 0 to 4, got -1"),
    (["--shift", "1.5"], "--shift: '1.5' is not an integer"),
    (["--schedule", "linear"], "--schedule: invalid choice: 'linear'"),
    (["--shift", "1", "--shift", "2"], "--shift is given more than once"),
    (["--shif", "1"], "unrecognized arguments: --shif"),
    (["--sched", "cosine"], "unrecognized arguments: --sched"),
])
def test_new_flags_are_checked_in_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        train_classifier.main(["--out", str(tmp_path / "c.npz"), *flags])
    assert stop.value.code == 2
    one_line_error(capsys, message)
    assert list(tmp_path.iterdir()) == []


def test_the_defaults_are_the_documented_ones():
    args = train_classifier.parser().parse_args(["--out", "c.npz"])
    assert (args.epochs, args.lr, args.schedule, args.shift, args.batch_size) == (10, 2e-3, "cosine", 1, 64)


def tiny_flags(tiny_mnist, out, *extra):
    return merged(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--epochs", "2",
                   "--batch-size", "16", "--no-progress"], *extra)


def weights(path):
    return {k: v for k, v in np.load(path).items() if k.startswith("model/")}


def test_same_seed_same_classifier_another_seed_another(tiny_mnist, module_no_checksums, tmp_path, capsys):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert train_classifier.main(tiny_flags(tiny_mnist, tmp_path / f"{name}.npz", "--seed", seed,
                                                "--epochs", "1")) == 0
    a, b, c = (weights(tmp_path / f"{name}.npz") for name in "abc")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    assert all(v.dtype == np.float32 for v in a.values())


def test_training_follows_the_schedule_and_shifts_every_batch(tiny_mnist, module_no_checksums, tmp_path, capsys,
                                                              monkeypatch):
    """80 images, batch 16: 5 steps an epoch, 10 in 2 epochs; each step's lr is the schedule's, each batch shifted
    by --shift with the run's generator, and the file says how it was trained."""
    import nn
    rates, shifts = [], []
    original_step, original_shifted = nn.Adam.step, train_classifier.shifted

    def step(self):
        rates.append(self.lr)
        original_step(self)

    def shifted(images, shift, rng):
        shifts.append((len(images), shift, rng is nn.backend.rng()))
        return original_shifted(images, shift, rng)
    monkeypatch.setattr(nn.Adam, "step", step)
    monkeypatch.setattr(train_classifier, "shifted", shifted)
    for schedule, shift in (("cosine", "2"), ("constant", "0")):
        rates.clear()
        shifts.clear()
        out = tmp_path / f"{schedule}.npz"
        assert train_classifier.main(tiny_flags(tiny_mnist, out, "--lr", "0.002", "--schedule", schedule,
                                                "--shift", shift)) == 0
        assert rates == [train_classifier.learning_rate_at(s, 10, 0.002, schedule) for s in range(10)]
        assert shifts == [(16, int(shift), True)] * 10
        _, meta = quality.load_classifier(str(out))
        assert (meta["schedule"], meta["shift"], meta["lr"], meta["epochs"]) == (schedule, int(shift), 0.002, 2)
        assert meta["training_images"] == 80
        last_epoch = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch 2/2")]
        assert len(last_epoch) == 1 and f"lr {rates[-1]:.2g} " in last_epoch[0]     # the last step's rate


def test_a_shift_changes_the_model(tiny_mnist, module_no_checksums, tmp_path, capsys):
    for shift in ("0", "2"):
        assert train_classifier.main(tiny_flags(tiny_mnist, tmp_path / f"s{shift}.npz", "--shift", shift,
                                                "--epochs", "1")) == 0
    plain, moved = weights(tmp_path / "s0.npz"), weights(tmp_path / "s2.npz")
    assert any(not np.array_equal(plain[k], moved[k]) for k in plain)


def test_fcd_ranking_scores_four_sets_and_says_whether_the_ranking_holds(tiny_mnist, module_no_checksums, tmp_path,
                                                                         capsys, monkeypatch):
    """benchmarks/fcd_ranking.py end to end on a tiny classifier, then its verdict with the distances set by hand:
    it holds only for real < blurred < noise and real < one class."""
    from benchmarks import fcd_ranking
    out = tmp_path / "c.npz"
    assert train_classifier.main(tiny_flags(tiny_mnist, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert fcd_ranking.main(["--classifier", str(out), "--dataset", "mnist", "--data-dir", tiny_mnist,
                             "--n", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" FCD")[0].strip() for line in lines[1:5]] == [
        "real (other training images)", "blurred real", "one class only", "uniform noise"]
    assert lines[-1].startswith("ranking real < blurred < noise and real < one class: ")

    def verdict(real, blur, one, noise):
        scores = iter([real, blur, one, noise])
        monkeypatch.setattr(quality, "make_scorer", lambda *a, **k: lambda images: {
            "fcd": next(scores), "classes_covered": 10})
        assert fcd_ranking.main(["--classifier", str(out), "--dataset", "mnist", "--data-dir", tiny_mnist,
                                 "--n", "16"]) == 0
        return capsys.readouterr().out.splitlines()[-1].split(": ")[-1]
    assert verdict(1, 50, 300, 200) == "holds"                    # one class beyond noise: still holds
    assert verdict(1, 50, 100, 200) == "holds"
    assert verdict(60, 50, 100, 200) == "does NOT hold"           # blurred better than real
    assert verdict(1, 250, 100, 200) == "does NOT hold"           # noise better than blurred
    assert verdict(1, 50, 0.5, 200) == "does NOT hold"            # one class better than real


def test_blurred_keeps_shape_and_dtype_and_smooths():
    from benchmarks import fcd_ranking
    images = random_images()
    out = fcd_ranking.blurred(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.abs(np.diff(out.astype(int), axis=-1)).mean() < np.abs(np.diff(images.astype(int), axis=-1)).mean() / 2
