"""The training doctor (gan/diagnosis.py's rules, gan/doctor.py's command): each failure of docs/failures.md is
diagnosed from its logged metrics (kept in tests/data/doctor/), a healthy run raises no alarm at any row, the
diagnosis is said once during training (then only when it changes), the command only reads a run folder, and
the signs never change training."""
import csv
import hashlib
import json
import os

import numpy as np
import pytest

import dcgan
from gan import diagnosis
from gan.config import Config
from gan.run_folder import METRIC_FIELDS, OLDER_METRIC_FIELDS, read_metrics

from conftest import merged, one_line_error, train_tiny

LOGGED = os.path.join(os.path.dirname(__file__), "data", "doctor")

# the runs of docs/failures.md (metrics.csv as they logged it): the diagnosis each must get; the run of
# --lr 1e-2 swings once (D wins for 50 steps, then loses) and is healthy again at its end
EXPECTED = {"healthy": None, "d_wins": "D wins", "collapse": "collapsed", "stall": "stalled",
            "oscillation": "oscillating"}
AT_THE_END = {**EXPECTED, "oscillation": diagnosis.HEALTHY}


def logged(name):
    return [diagnosis.numbers(r) for r in read_metrics(os.path.join(LOGGED, f"{name}.csv"))]


# --------------------------------------------------------------------------- the signs

def test_spread_is_the_mean_rms_distance_between_pairs():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((1, 4, 4)) for _ in range(3))
    rms = lambda x, y: np.sqrt(np.mean((x - y) ** 2))                      # noqa: E731
    assert diagnosis.spread(np.stack([a, b, c])) == pytest.approx((rms(a, b) + rms(a, c) + rms(b, c)) / 3)
    assert diagnosis.spread(np.stack([a, a, a])) == pytest.approx(0, abs=1e-6)    # one image for every z: 0


def test_the_real_reference_is_a_fixed_pick_of_real_images():
    images = np.random.default_rng(1).integers(0, 256, (500, 1, 8, 8), dtype=np.uint8)
    assert diagnosis.reference_spread(images) == diagnosis.reference_spread(images.copy())
    assert diagnosis.reference_spread(np.zeros_like(images)) == 0.0


# --------------------------------------------------------------------------- the rules, on logged runs

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_logged_run_gets_its_diagnosis(name):
    rows = logged(name)
    story = diagnosis.history(rows)
    found = diagnosis.diagnose(rows)
    if EXPECTED[name] is None:                          # the control: no alarm at any row of a healthy run
        assert [s[0] for s in story] == [diagnosis.HEALTHY], story
    else:
        assert found.name == AT_THE_END[name] and EXPECTED[name] in [s[0] for s in story], story
        assert diagnosis.WARM_UP_STEPS <= [s for s in story if s[0] == EXPECTED[name]][0][1] <= rows[-1]["step"]
        assert found.message().startswith("doctor: ")


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {"healthy"}))
def test_each_rule_is_what_finds_its_failure(name, monkeypatch):
    """Each rule is needed: without it, its failure is not diagnosed as itself (the rules can fail)."""
    rule = {"D wins": diagnosis.d_wins, "collapsed": diagnosis.collapsed, "stalled": diagnosis.stalled,
            "oscillating": diagnosis.oscillates}[EXPECTED[name]]
    monkeypatch.setattr(diagnosis, "RULES", tuple(r for r in diagnosis.RULES if r is not rule))
    assert EXPECTED[name] not in [s[0] for s in diagnosis.history(logged(name))]


def rows_of(n, **signs):
    base = {"loss_d": 0.6, "loss_g": 3.0, "d_x": 0.85, "d_g_z": 0.15, "diversity": 0.8, "change": 3.0,
            "top_two_share": float("nan")}
    return [{"step": float(s), **base, **signs} for s in range(10, 10 * n + 1, 10)]


def test_a_classifier_seeing_two_classes_is_collapse_and_its_control_is_not():
    rows = rows_of(40)
    rows[-5]["top_two_share"] = 0.9                      # the last scored row: 90% of the samples in two classes
    found = diagnosis.diagnose(rows)
    assert found.name == "collapsed" and found.began == 360 and "90% of the samples in two classes" in found.message()
    rows[-5]["top_two_share"] = 0.3                      # the control: spread over the classes
    assert diagnosis.diagnose(rows).name == diagnosis.HEALTHY


def test_nothing_is_diagnosed_while_warming_up():
    rows = logged("d_wins")
    early = [r for r in rows if r["step"] < diagnosis.WARM_UP_STEPS]
    assert early and all(diagnosis.diagnose(early[:i + 1]).name == diagnosis.HEALTHY for i in range(len(early)))


def test_an_older_runs_rows_without_the_signs_are_read_and_never_called_collapsed_or_stalled(tmp_path):
    path = tmp_path / "metrics.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, OLDER_METRIC_FIELDS)
        w.writeheader()
        w.writerows({"step": s, "epoch": 1, "loss_d": 0.6, "loss_g": 2.0, "d_x": 0.7, "d_g_z": 0.3,
                     "images_per_s": 100, "fcd": ""} for s in range(10, 1000, 10))
    rows = read_metrics(path)
    assert rows[0]["diversity"] == "" and rows[0]["change"] == ""
    assert diagnosis.diagnose([diagnosis.numbers(r) for r in rows]).name == diagnosis.HEALTHY


# --------------------------------------------------------------------------- said once, during training

class FakeTrainer:
    images = np.random.default_rng(0).integers(0, 256, (100, 1, 8, 8), dtype=np.uint8)
    cfg = Config()                                                      # the paper's settings


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_doctor_says_each_change_once(name):
    doctor = diagnosis.Doctor(FakeTrainer())
    said = [doctor.watch(row) for row in read_metrics(os.path.join(LOGGED, f"{name}.csv"))]
    said = [s for s in said if s]
    changes = [s[0] for s in diagnosis.history(logged(name))][1:]      # after the first (healthy) stretch
    assert len(said) == len(changes)
    words = {"D wins": "D is winning", "collapsed": "G has collapsed", "stalled": "training has stalled",
             "oscillating": "training oscillates", diagnosis.HEALTHY: "healthy again"}
    for line, change in zip(said, changes):
        assert line.startswith("doctor: ") and words[change] in line, (line, change)


def test_a_run_going_wrong_says_so_once_while_it_trains(noise_folder, tmp_path, capsys, monkeypatch):
    """A run whose G stops moving (here: thresholds so that any change counts as none) is told once."""
    monkeypatch.setattr(diagnosis, "WARM_UP_STEPS", 2)
    monkeypatch.setattr(diagnosis, "WINDOW_STEPS", 2)
    monkeypatch.setattr(diagnosis, "MIN_ROWS", 2)
    monkeypatch.setattr(diagnosis, "COLLAPSE_DIVERSITY", 0.0)           # a tiny G's samples are alike
    monkeypatch.setattr(diagnosis, "STALL_CHANGE", 1e9)
    assert train_tiny(noise_folder, tmp_path / "run", "--epochs", "3", "--log-every", "1") == 0
    out = capsys.readouterr().out
    assert out.count("doctor: training has stalled since step") == 1, out
    monkeypatch.setattr(diagnosis, "STALL_CHANGE", 0.0)                 # the control: G moves: nothing said
    assert train_tiny(noise_folder, tmp_path / "control", "--epochs", "3", "--log-every", "1") == 0
    assert "doctor:" not in capsys.readouterr().out


def test_the_signs_never_change_training(noise_folder, tmp_path, monkeypatch):
    """The diversity and change are drawn from G with ``sample``: the run trains identically without them."""
    assert train_tiny(noise_folder, tmp_path / "with", "--epochs", "2") == 0
    monkeypatch.setattr(diagnosis.Doctor, "signs", lambda self: {"diversity": "", "change": ""})
    assert train_tiny(noise_folder, tmp_path / "without", "--epochs", "2") == 0
    a, b = np.load(tmp_path / "with" / "checkpoint.npz"), np.load(tmp_path / "without" / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        if k != "config":
            assert np.array_equal(a[k], b[k]), k
    rows = read_metrics(tmp_path / "with" / "metrics.csv")
    assert list(rows[0]) == METRIC_FIELDS and float(rows[-1]["diversity"]) > 0 and float(rows[-1]["change"]) > 0


def test_real_images_all_alike_leave_the_signs_empty_and_say_so(noise_folder, tmp_path, capsys):
    """Nothing to divide by (every real image the same): the run trains, the two columns stay empty, one note."""
    from PIL import Image
    folder = tmp_path / "same"
    folder.mkdir()
    for i in range(16):
        Image.new("L", (28, 28), 128).save(folder / f"{i}.png")
    assert train_tiny(str(folder), tmp_path / "run", "--epochs", "2") == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "cannot measure how varied" in line]
    assert len(notes) == 1 and notes[0].startswith("note: the real images are all alike")
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert rows and all(r["diversity"] == "" and r["change"] == "" for r in rows)
    assert train_tiny(noise_folder, tmp_path / "control", "--epochs", "2") == 0
    assert "cannot measure" not in capsys.readouterr().err                  # the control: varied images, no note


# --------------------------------------------------------------------------- the command

def digests(folder):
    found = {}
    for root, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            found[os.path.relpath(path, folder)] = (hashlib.sha256(open(path, "rb").read()).hexdigest(),
                                                    os.stat(path).st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def finished_run(noise_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("doctor") / "run"
    assert train_tiny(noise_folder, out, "--epochs", "2") == 0
    return out


def test_doctor_reports_and_only_reads_the_run_folder(finished_run, tmp_path, capsys):
    before = digests(finished_run)
    assert dcgan.main(["doctor", str(finished_run), "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict: too early to tell" in out and "D(G(z))" in out and "healthy band" in out
    assert digests(finished_run) == before
    report = json.load(open(tmp_path / "report.json"))
    assert report["verdict"] == "healthy" and report["signs"]["d_x"]["band"] == list(diagnosis.BANDS["d_x"])
    assert dcgan.main(["doctor", str(finished_run / "checkpoint.npz")]) == 0          # its checkpoint: the same
    assert "verdict:" in capsys.readouterr().out


def test_doctor_reads_a_logged_failure_as_a_user_would(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    os.makedirs(run)
    with open(os.path.join(LOGGED, "d_wins.csv")) as f:
        (run / "metrics.csv").write_text(f.read())
    assert dcgan.main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert "verdict: D wins since step" in out and "--label-smoothing" in out and "OUTSIDE" in out, out
    assert "no checkpoint.npz yet" in out


@pytest.mark.parametrize("case", ["json inside the run", "overwrite without json", "no metrics", "missing",
                                  "json exists", "json is not ours", "n without classifier"])
def test_doctor_refusals_are_one_line(finished_run, tmp_path, capsys, case):
    argv = ["doctor", str(finished_run)]
    says = {"json inside the run": "only reads a run folder", "overwrite without json": "--overwrite is for --json",
            "no metrics": "has no metrics.csv", "missing": "does not exist", "json exists": "--overwrite",
            "json is not ours": "is not an earlier doctor's report",
            "n without classifier": "--n only matters with --classifier"}[case]
    if case == "json inside the run":
        argv += ["--json", str(finished_run / "report.json")]
    elif case == "overwrite without json":
        argv += ["--overwrite"]
    elif case == "n without classifier":
        argv += ["--n", "50"]
    elif case == "no metrics":
        argv = ["doctor", str(tmp_path)]
    elif case == "missing":
        argv = ["doctor", str(tmp_path / "nothing")]
    else:
        target = tmp_path / "report.json"
        if case == "json exists":
            assert dcgan.main(argv + ["--json", str(target)]) == 0
        else:
            target.write_text("my notes")
        capsys.readouterr()
        argv += ["--json", str(target)] + (["--overwrite"] if case == "json is not ours" else [])
    before = digests(finished_run)
    assert dcgan.main(argv) != 0
    one_line_error(capsys, says)
    assert digests(finished_run) == before


def test_doctor_of_a_per_class_run_reports_each_class(noise_folder, tmp_path, capsys):
    out = tmp_path / "pc"
    assert train_tiny(noise_folder, out, "--per-class", "--epochs", "1") == 0
    capsys.readouterr()
    assert dcgan.main(["doctor", str(out)]) == 0
    assert f"doctor: {out / 'class_00'}" in capsys.readouterr().out


def test_doctor_with_a_classifier_says_which_classes_the_samples_look_like(tiny_mnist, tiny_classifier, tmp_path,
                                                                           capsys, no_checksums):
    out = tmp_path / "run"
    assert dcgan.main(merged(["--dataset", "mnist", "--data-dir", tiny_mnist, "--out", str(out), "--epochs", "1",
                              "--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--no-progress",
                              "--eval-every", "1", "--classifier", tiny_classifier, "--eval-n", "40"])) == 0
    scored = read_metrics(out / "metrics.csv")[-1]                       # the scored row: the two classes' share
    assert 0.2 <= float(scored["top_two_share"]) <= 1 and scored["fcd"]
    capsys.readouterr()
    assert dcgan.main(["doctor", str(out), "--classifier", tiny_classifier, "--n", "50"]) == 0
    out_text = capsys.readouterr().out
    assert "classifier, 50 samples of the averaged G:" in out_text and "classes covered" in out_text
