"""The sample-quality metrics on known inputs, the classifier example, and dcgan.py evaluate / --eval-every."""
import json

import numpy as np
import pytest

import dcgan
from gan import quality

K = 10


# ---------------------------------------------------------------------------- the metrics themselves

def feature_distance(f1, f2):
    """The Frechet distance between the Gaussians fitted to two sets of features."""
    return quality.frechet_distance(*quality.gaussian_stats(f1), *quality.gaussian_stats(f2))


def test_identical_features_give_zero():
    f = np.random.default_rng(0).standard_normal((500, 8))
    assert feature_distance(f, f) < 1e-8


def test_shifted_gaussian_closed_form():
    """Same covariance, means apart by delta: FD = |delta|^2. Diagonal covariances: + sum (s1 - s2)^2."""
    d = 6
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    s = np.diag(np.linspace(0.5, 2.0, d))
    assert abs(quality.frechet_distance(mu1, s, mu2, s) - d * 0.25) < 1e-10
    s2 = np.diag(np.linspace(1.0, 3.0, d))
    expected = d * 0.25 + np.sum((np.sqrt(np.diag(s)) - np.sqrt(np.diag(s2))) ** 2)
    assert abs(quality.frechet_distance(mu1, s, mu2, s2) - expected) < 1e-10
    # a full (non-diagonal) covariance rotated the same way gives the same distance
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((d, d)))
    assert abs(quality.frechet_distance(q @ mu1, q @ s @ q.T, q @ mu2, q @ s2 @ q.T) - expected) < 1e-9


def test_sampled_shift_matches_closed_form():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20000, 4))
    b = rng.standard_normal((20000, 4)) + np.array([1.0, 0, 0, 0])
    print("sampled FD", feature_distance(a, b), "closed form 1.0")
    assert abs(feature_distance(a, b) - 1.0) < 0.05


def test_coverage_of_one_class_and_of_all():
    one = np.zeros((100, K))
    one[:, 3] = 1
    c = quality.class_coverage(one)
    assert c["classes_covered"] == 1 and abs(c["kl_to_uniform"] - np.log(K)) < 1e-12
    assert c["class_histogram"][3] == 1.0 and c["mean_confidence"] == 1.0
    even = np.eye(K)[np.arange(200) % K] * 0.5 + 0.05
    c = quality.class_coverage(even)
    assert c["classes_covered"] == K and abs(c["kl_to_uniform"]) < 1e-12
    assert abs(c["mean_confidence"] - 0.55) < 1e-12


# ---------------------------------------------------------------------------- end to end on tiny data

def test_classifier_example_learns_and_reports(tiny_classifier, capsys):
    model, meta = quality.load_classifier(tiny_classifier)
    assert meta["dataset"] == "mnist" and meta["nc"] == 1 and meta["image_size"] == 32
    assert meta["test_accuracy"] >= 0.9, meta            # the squares are easy to tell apart


def test_evaluate_checkpoint_json(tiny_mnist, tiny_classifier, no_checksums, tmp_path, capsys):
    run = tmp_path / "run"
    assert dcgan.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(run), "--nz", "8",
                       "--ngf", "4", "--ndf", "4", "--batch-size", "16", "--epochs", "2", "--no-progress",
                       "--classifier", tiny_classifier, "--eval-every", "1", "--eval-n", "30"]) == 0
    out = capsys.readouterr().out
    assert out.count("FCD ") == 2
    import csv
    with open(run / "metrics.csv") as f:
        fcds = [r["fcd"] for r in csv.DictReader(f)]
    assert sum(1 for v in fcds if v) == 2 and all(float(v) >= 0 for v in fcds if v)
    result_path = tmp_path / "q.json"
    assert dcgan.main(["evaluate", "--checkpoint", str(run / "checkpoint.npz"), "--classifier", tiny_classifier,
                       "--n", "40", "--json", str(result_path)]) == 0
    result = json.loads(result_path.read_text())
    for key in ("fcd", "fcd_real_floor", "class_histogram", "classes_covered", "kl_to_uniform",
                "mean_confidence", "n"):
        assert key in result
    assert result["n"] == 40 and len(result["class_histogram"]) == K
    assert abs(sum(result["class_histogram"]) - 1) < 1e-3
    assert "Frechet classifier distance" in capsys.readouterr().out


def test_evaluate_real_images_score_near_floor_and_one_class_collapses(tiny_mnist, tiny_classifier,
                                                                        no_checksums, tmp_path, capsys):
    import datasets
    train, _ = datasets.load_dataset("mnist", data_dir=tiny_mnist, split="train")
    real = train.astype(np.float32) / 127.5 - 1
    np.save(tmp_path / "real.npy", real[:40])
    assert dcgan.main(["evaluate", "--samples", str(tmp_path / "real.npy"), "--classifier", tiny_classifier,
                       "--json", str(tmp_path / "real.json")]) == 0
    good = json.loads((tmp_path / "real.json").read_text())
    collapsed = np.repeat(real[:1], 40, axis=0)          # a generator that draws one image
    np.save(tmp_path / "one.npy", collapsed)
    assert dcgan.main(["evaluate", "--samples", str(tmp_path / "one.npy"), "--classifier", tiny_classifier,
                       "--json", str(tmp_path / "one.json")]) == 0
    bad = json.loads((tmp_path / "one.json").read_text())
    assert bad["classes_covered"] == 1 and abs(bad["kl_to_uniform"] - np.log(K)) < 1e-9
    assert good["classes_covered"] >= 8 and good["kl_to_uniform"] < 0.2
    assert bad["fcd"] > 3 * good["fcd"]


def test_evaluate_png_folder(tiny_mnist, tiny_classifier, no_checksums, tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((32, 32), 20 * i, np.uint8), "L").save(folder / f"{i:05d}.png")
    assert dcgan.main(["evaluate", "--samples", str(folder), "--classifier", tiny_classifier]) == 0
    assert "samples                      12" in capsys.readouterr().out


def test_evaluate_errors(tiny_classifier, tmp_path, capsys):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 3, 32, 32), np.float32))
    assert dcgan.main(["evaluate", "--samples", str(tmp_path / "rgb.npy"), "--classifier", tiny_classifier]) == 1
    assert "takes 1x32x32 images, these are 3x32x32" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert dcgan.main(["evaluate", "--samples", str(tmp_path / "rgb.npy"), "--classifier",
                       str(tmp_path / "bad.npz")]) == 1
    assert "cannot be read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dcgan.main(["evaluate", "--classifier", tiny_classifier])          # neither --checkpoint nor --samples
    assert dcgan.main(["--eval-every", "1", "--out", str(tmp_path / "r")]) == 1
    assert "--eval-every needs --classifier" in capsys.readouterr().err


def test_eval_every_leaves_the_training_run_unchanged(tiny_mnist, tiny_classifier, no_checksums, tmp_path):
    """Scoring during training has its own random numbers: the weights match a run without it."""
    common = ["--dataset", "mnist", "--data-dir", tiny_mnist, "--nz", "8", "--ngf", "4", "--ndf", "4",
              "--batch-size", "16", "--epochs", "2", "--no-progress"]
    assert dcgan.main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert dcgan.main(common + ["--out", str(tmp_path / "scored"), "--classifier", tiny_classifier,
                                "--eval-every", "1", "--eval-n", "20"]) == 0
    with np.load(tmp_path / "plain/checkpoint.npz") as a, np.load(tmp_path / "scored/checkpoint.npz") as b:
        for k in a.files:
            if k.startswith(("G/", "D/")):
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_table_shows_the_shares_the_coverage_rule_uses():
    """8 of 10 covered while the shares read 0.05 was confusing: print them to one decimal of a percent."""
    result = {"n": 1000, "fcd": 1.0, "fcd_real_floor": 0.5, "classes_covered": 9, "kl_to_uniform": 0.01,
              "mean_confidence": 0.9, "class_histogram": [0.048, 0.052] + [0.9 / 8] * 8}
    text = quality.format_table(result)
    assert "0 4.8%" in text and "1 5.2%" in text


def test_no_distance_is_reported_from_too_few_or_non_finite_features():
    """--eval-every 1 --eval-n 1 (and a diverged classifier) ended in LinAlgError: now one line, no figure."""
    from gan.quality import QualityError, gaussian_stats
    with pytest.raises(QualityError, match="needs at least 2"):
        gaussian_stats(np.ones((1, 4)))
    features = np.random.default_rng(0).standard_normal((5, 4))
    features[2, 1] = np.nan
    with pytest.raises(QualityError, match="NaN or infinite: the classifier diverged"):
        gaussian_stats(features)
    mu, cov = gaussian_stats(np.random.default_rng(0).standard_normal((5, 4)))          # the control
    assert mu.shape == (4,) and cov.shape == (4, 4)


def test_eval_n_below_two_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        dcgan.main(["--eval-every", "1", "--eval-n", "1", "--classifier", "c.npz"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --eval-n: must be at least 2, got 1") and err.count("\n") == 1


def test_a_classifier_of_another_size_says_how_to_get_one(tiny_mnist, no_checksums, tmp_path, capsys):
    """Models of any --image-size can be scored: train_classifier --image-size trains the classifier for them."""
    from examples import train_classifier
    out = tmp_path / "c16.npz"
    assert train_classifier.main(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--epochs", "8",
                                  "--batch-size", "16", "--image-size", "16", "--no-progress"]) == 0
    model, meta = quality.load_classifier(str(out))
    assert meta["image_size"] == 16
    with pytest.raises(quality.QualityError, match=r"takes 1x16x16 images, these are 1x32x32: .*--image-size 32\)"):
        quality.check_classifier_fits((model, meta), "mnist", 32, 1)


def test_a_classifier_whose_weights_are_not_float32_is_damaged(tiny_classifier, tmp_path):
    state = dict(np.load(tiny_classifier))
    key = next(k for k in state if k.startswith("model/"))
    state[key] = state[key].astype(np.float64)
    np.savez(tmp_path / "c.npz", **state)
    with pytest.raises(quality.QualityError, match="must be finite float32"):
        quality.load_classifier(str(tmp_path / "c.npz"))
