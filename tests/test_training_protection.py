"""What is protected around a training run: a run that cannot start changes nothing, flags are never silently
ignored, a diverged model is never saved, and the lines a run prints say what is true.

The numbers in the tests' names are the cases of the issue that asked for them (the history is in git).
"""
import hashlib
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

import dcgan
from gan.models import first_weighted_layer
from datasets import write_idx

from tests.conftest import TINY_FLAGS as TINY, one_line_error, train_tiny as train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def folder(noise_folder):
    return noise_folder                              # 24 noise PNGs: 3 steps per epoch at batch 8


@pytest.fixture
def finished_run(folder, tmp_path):
    out = tmp_path / "run"
    assert train(folder, out, "--epochs", "1") == 0
    return out


def snapshot(out):
    """{relative path: sha256} of every file under ``out``: what a run folder holds, byte for byte."""
    files = {}
    for base, _, names in os.walk(out):
        for name in names:
            path = os.path.join(base, name)
            if name != ".lock":                      # who held the lock last: not the run's work
                files[os.path.relpath(path, out)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return files


# ---------------------------------------------------------------------------- 1, 21: a failed start changes nothing

FAILED_STARTS = {
    "missing --data-dir": lambda tmp_path: ["--data-dir", str(tmp_path / "missing")],
    "batch larger than the data": lambda tmp_path: ["--batch-size", "64"],
    "missing classifier": lambda tmp_path: ["--eval-every", "1", "--classifier", str(tmp_path / "nope.npz")],
}


@pytest.mark.parametrize("failure", FAILED_STARTS)
def test_1_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(folder, finished_run, tmp_path, capsys,
                                                                     failure):
    before = snapshot(finished_run)
    assert "checkpoint.npz" in before and "samples/epoch_001.png" in before and "progress.gif" in before
    capsys.readouterr()
    assert train(folder, finished_run, "--max-steps", "1", "--overwrite", *FAILED_STARTS[failure](tmp_path)) == 1
    one_line_error(capsys)
    assert snapshot(finished_run) == before


def test_1_overwrite_keeps_the_old_run_when_per_class_cannot_start(folder, finished_run, capsys):
    before = snapshot(finished_run)
    capsys.readouterr()
    assert train(folder, finished_run, "--per-class", "--batch-size", "64", "--overwrite") == 1
    one_line_error(capsys)
    assert snapshot(finished_run) == before and not (finished_run / "per_class.json").exists()


@pytest.mark.parametrize("failure", FAILED_STARTS)
def test_21_a_failed_start_removes_what_it_created(folder, tmp_path, capsys, failure):
    new = tmp_path / "new" / "deeper"
    assert train(folder, new, "--max-steps", "1", *FAILED_STARTS[failure](tmp_path)) == 1
    one_line_error(capsys)
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(folder, empty, "--max-steps", "1", *FAILED_STARTS[failure](tmp_path)) == 1
    one_line_error(capsys)
    assert os.listdir(empty) == []                   # no .lock, no samples/: but the folder was there before


def test_21_a_failed_start_keeps_what_was_there(folder, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "samples").mkdir(parents=True)
    (out / ".lock").write_text("")
    (out / "notes.txt").write_text("my notes")
    assert train(folder, out, "--max-steps", "1", "--batch-size", "64") == 1
    one_line_error(capsys)
    assert sorted(os.listdir(out)) == [".lock", "notes.txt", "samples"]


# ---------------------------------------------------------------------------- 3: --overwrite and --per-class runs

@pytest.fixture
def per_class_run(folder, tmp_path):
    out = tmp_path / "pc"
    assert train(folder, out, "--per-class", "--epochs", "1") == 0         # a flat folder: one class, class_00
    assert (out / "per_class.json").exists() and (out / "class_00" / "checkpoint.npz").exists()
    assert not (out / "samples").exists()                   # the grids are in the class folders
    return out


def test_3_a_plain_run_with_overwrite_replaces_a_per_class_run(folder, per_class_run, capsys):
    assert train(folder, per_class_run, "--max-steps", "1", "--overwrite") == 0
    assert sorted(os.listdir(per_class_run)) == [".lock", "checkpoint.npz", "losses.png", "metrics.csv",
                                                 "progress.gif", "samples"]
    capsys.readouterr()
    assert dcgan.main(["--resume", str(per_class_run), "--max-steps", "2", "--no-progress"]) == 0
    assert "resuming at step 1" in capsys.readouterr().out                # the plain run, not the old classes


def test_3_a_plain_run_refuses_a_per_class_folder_without_overwrite(folder, per_class_run, capsys):
    before = snapshot(per_class_run)
    capsys.readouterr()
    assert train(folder, per_class_run, "--max-steps", "1") == 1
    err = one_line_error(capsys)
    assert "already holds a --per-class run" in err and "--overwrite" in err
    assert snapshot(per_class_run) == before


def test_3_a_per_class_run_with_overwrite_replaces_a_plain_run(folder, finished_run):
    assert train(folder, finished_run, "--per-class", "--epochs", "1", "--overwrite") == 0
    assert sorted(os.listdir(finished_run)) == [".lock", "class_00", "classes.png", "per_class.json", "samples"]


def test_3_a_per_class_run_refuses_a_plain_run_without_overwrite(folder, finished_run, capsys):
    before = snapshot(finished_run)
    capsys.readouterr()
    assert train(folder, finished_run, "--per-class", "--epochs", "1") == 1
    assert "already holds a run (folder, step 3, epoch 1)" in one_line_error(capsys)
    assert snapshot(finished_run) == before


def test_3_per_class_with_overwrite_starts_the_classes_afresh(folder, per_class_run, capsys):
    capsys.readouterr()
    assert train(folder, per_class_run, "--per-class", "--epochs", "2", "--overwrite") == 0
    out = capsys.readouterr().out
    assert "resuming" not in out
    with np.load(per_class_run / "class_00" / "checkpoint.npz") as f:
        assert int(f["step"]) == 6 and int(f["epoch"]) == 2


def test_8_resuming_a_per_class_run_names_the_flags_it_ignores(folder, per_class_run, capsys):
    """As a plain run's --resume does: the model and optimiser settings are the run's own."""
    capsys.readouterr()
    assert dcgan.main(["--resume", str(per_class_run), "--epochs", "2", "--lr", "0.1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note: --resume trains the checkpoint's model with its settings; ignoring --lr 0.1" in err


# ---------------------------------------------------------------------------- 5, 15: non-finite models

def test_5_non_finite_statistics_stop_the_run_and_are_never_saved(folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(folder, out, "--epochs", "1", "--lr", "1e10") == 1
    err = one_line_error(capsys)
    assert "running_var" in err and "infinite" in err and "no checkpoint was written" in err
    assert not (out / "checkpoint.npz").exists()


def test_5_a_resumed_run_that_diverges_keeps_its_checkpoint(folder, finished_run, monkeypatch, capsys):
    before = snapshot(finished_run)["checkpoint.npz"]
    original = dcgan.Trainer.step

    def blow_up(self, real, labels=None):
        stats = original(self, real, labels)
        if self.step_count == 6:                       # the last step of epoch 2: its losses are still finite
            first_weighted_layer(self.D).weight.data[...] = np.inf
        return stats

    monkeypatch.setattr(dcgan.Trainer, "step", blow_up)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = one_line_error(capsys)
    assert "became NaN or infinite" in err and f"{finished_run / 'checkpoint.npz'} (step 3, epoch 1) is kept" in err
    assert snapshot(finished_run)["checkpoint.npz"] == before


def poison(path, name):
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    state[name] = np.full_like(state[name], np.nan)
    np.savez(path, **state)


def test_15_resuming_a_checkpoint_holding_nan_is_refused_by_name(finished_run, capsys):
    poison(finished_run / "checkpoint.npz", "G/0.weight")
    before = snapshot(finished_run)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = one_line_error(capsys)
    assert "G/0.weight" in err and "NaN" in err and "last good checkpoint" not in err
    assert snapshot(finished_run) == before


# ---------------------------------------------------------------------------- 7: labels

def test_7_conditional_refuses_labels_that_skip_classes(tiny_mnist, no_checksums, tmp_path, capsys):
    from datasets import read_idx
    data = tmp_path / "data"
    data.mkdir()
    for name in os.listdir(tiny_mnist):
        (data / name).write_bytes(open(os.path.join(tiny_mnist, name), "rb").read())
    labels = read_idx(data / "train-labels-idx1-ubyte.gz")
    labels[labels == 7] = 8                                   # no image of class 7 (a label of 99: the loader refuses it)
    write_idx(data / "train-labels-idx1-ubyte.gz", labels)
    assert dcgan.main(["--dataset", "mnist", "--data-dir", str(data), "--out", str(tmp_path / "run"), *TINY,
                       "--conditional", "--max-steps", "1"]) == 1
    err = one_line_error(capsys)
    assert "7" in err and "--conditional" in err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- 8: no flag ignored without a word

def test_8_resume_into_another_out_is_refused(finished_run, tmp_path, capsys):
    before = snapshot(finished_run)
    assert dcgan.main(["--resume", str(finished_run), "--out", str(tmp_path / "b"), "--epochs", "2",
                       "--no-progress"]) == 1
    assert "--out" in one_line_error(capsys)
    assert snapshot(finished_run) == before and not (tmp_path / "b").exists()
    assert dcgan.main(["--resume", str(finished_run), "--out", str(finished_run), "--epochs", "2",
                       "--no-progress"]) == 0                                     # its own folder: fine


def test_8_resume_with_overwrite_is_refused(finished_run, capsys):
    before = snapshot(finished_run)
    assert dcgan.main(["--resume", str(finished_run), "--overwrite", "--epochs", "2", "--no-progress"]) == 1
    err = one_line_error(capsys)
    assert "--overwrite" in err and "--resume" in err
    assert snapshot(finished_run) == before


@pytest.mark.parametrize("flag", ["--out", "--resume", "--data-dir", "--classifier"])
def test_8_an_empty_path_is_refused(folder, tmp_path, monkeypatch, capsys, flag):
    monkeypatch.chdir(tmp_path)                          # where runs/ would appear
    args = {"--out": str(tmp_path / "run"), "--data-dir": folder, flag: ""}
    with pytest.raises(SystemExit) as stop:
        dcgan.main(["--dataset", "folder", *TINY, "--max-steps", "1", *[x for kv in args.items() for x in kv]])
    assert stop.value.code == 2
    assert f"argument {flag}: must not be empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_8_classifier_without_eval_every_is_refused(folder, tmp_path, capsys):
    assert train(folder, tmp_path / "run", "--max-steps", "1", "--classifier", str(tmp_path / "nope.npz")) == 1
    assert "--eval-every" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- 16, 17, 18: what the lines say

def test_16_the_closing_line_quotes_the_path(folder, tmp_path, capsys):
    out = tmp_path / "my run"
    assert train(folder, out, "--max-steps", "1") == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    command = last.split("continue with: ")[1]
    assert shlex.split(command) == ["python", "dcgan.py", "--resume", str(out)]


def test_17_resuming_at_an_epoch_boundary_is_zero_steps_into_the_next(finished_run, capsys):
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "resuming at step 3 (1 of 2 epochs done); training to epoch 2"


def test_18_resume_takes_the_checkpoint_file_too(finished_run, tmp_path, capsys):
    assert dcgan.main(["--resume", str(finished_run / "checkpoint.npz"), "--epochs", "2", "--no-progress"]) == 0
    with np.load(finished_run / "checkpoint.npz") as f:
        assert int(f["epoch"]) == 2
    other = tmp_path / "copy.npz"
    other.write_bytes((finished_run / "checkpoint.npz").read_bytes())
    capsys.readouterr()
    assert dcgan.main(["--resume", str(other), "--epochs", "3", "--no-progress"]) == 1
    assert "checkpoint.npz" in one_line_error(capsys)


# ---------------------------------------------------------------------------- 20: signals, read-only folders

def start_and_signal(tmp_path, argv, when, extra_python=()):
    """Run dcgan.py in a child; send SIGTERM once a line of its output contains ``when``."""
    proc = subprocess.Popen([sys.executable, *extra_python, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if when in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + rest


SLOW_DATA = ("import runpy, sys, time, datasets\n"
             "def slow(*args, **kwargs):\n"
             "    print('loading', flush=True)\n"
             "    time.sleep(60)\n"
             "datasets.load_dataset = slow\n"
             "sys.argv = ['dcgan.py'] + sys.argv[1:]\n"
             "runpy.run_path('dcgan.py', run_name='__main__')\n")


@pytest.mark.parametrize("moment", ["importing numpy", "loading the data"])
def test_20_sigterm_while_starting_says_nothing_was_lost(folder, finished_run, moment):
    before = snapshot(finished_run)
    flags = ["--dataset", "folder", "--data-dir", folder, "--out", str(finished_run), *TINY, "--overwrite"]
    if moment == "importing numpy":
        rc, output = start_and_signal(finished_run, ["dcgan.py", *flags], "numpy", ["-X", "importtime"])
    else:
        rc, output = start_and_signal(finished_run, ["-c", SLOW_DATA, *flags], "loading")
    assert rc == 128 + signal.SIGTERM, output
    assert "Traceback" not in output
    assert "stopped by SIGTERM while no training ran: nothing was lost" in output.splitlines()
    assert snapshot(finished_run) == before


def test_20_resume_of_a_folder_it_cannot_write_stops_before_training(finished_run, monkeypatch, capsys):
    import tempfile
    before = snapshot(finished_run)
    make_temp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and os.path.abspath(dir) == str(finished_run):
            raise PermissionError(13, "Permission denied")
        return make_temp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot write in the run folder {finished_run}: Permission denied\n"
    assert "epoch 2/2" not in captured.out                                          # it did not train
    assert snapshot(finished_run) == before


def test_20_resume_of_a_read_only_folder_stops_before_training(finished_run, capsys):
    os.chmod(finished_run, 0o555)
    try:
        if os.access(finished_run, os.W_OK):
            pytest.skip("this user can write anywhere")
        capsys.readouterr()
        assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
        captured = capsys.readouterr()
        assert captured.err.startswith("error: cannot write in the run folder") and "epoch 2/2" not in captured.out
    finally:
        os.chmod(finished_run, 0o755)


def test_the_run_folders_layout_has_one_owner(tmp_path):
    """gan/run_folder.py's layout names every file of a run folder and finds a --per-class run's classes, the one way:
    class_KK folders (any number of digits), and a folder is a --per-class run by its per_class.json alone."""
    from gan import run_folder
    root = tmp_path / "run"
    for name in ("class_00", "class_07", "class_123", "class_x", "classes"):
        (root / name).mkdir(parents=True)
    (root / "class_05").write_text("a file, not a class folder")
    assert list(run_folder.class_folders(str(root))) == [0, 7, 123]
    assert run_folder.class_folder(str(root), 7) == str(root / "class_07")
    assert not run_folder.is_per_class(str(root))
    (root / run_folder.PER_CLASS_CONFIG).write_text("{}")
    assert run_folder.is_per_class(str(root)) and not run_folder.is_per_class(str(root / "per_class.json"))
    assert run_folder.checkpoint_in(str(root)) == str(root / "checkpoint.npz")


def test_one_class_for_conditional_or_per_class_is_said(folder, tmp_path, capsys):
    """A flat image folder is one class: --conditional and --per-class still train, and say so in a note
    (no flag is ignored without a word)."""
    assert train(folder, tmp_path / "c", "--conditional", "--max-steps", "1") == 0
    assert "note: --conditional: the data has one class" in capsys.readouterr().err
    assert train(folder, tmp_path / "p", "--per-class", "--epochs", "1") == 0
    err = capsys.readouterr().err
    assert "note: --per-class: the data has one class" in err and "class_00" in err


def test_a_stop_before_the_first_step_of_an_overwrite_run_keeps_the_old_run(folder, finished_run, monkeypatch,
                                                                            capsys):
    """SIGTERM about 0.46 s after an --overwrite start replaced a finished run with an untrained step-0
    checkpoint and exited 0. Now the old run is set aside, not deleted, and comes back whole."""
    from gan import run_folder

    def stop_at_once(*args):
        os.kill(os.getpid(), signal.SIGTERM)             # heard by the training's handler: a stop request
        return "opening lines"

    monkeypatch.setattr(run_folder, "opening_lines", stop_at_once)
    before = snapshot(finished_run)
    assert train(folder, finished_run, "--overwrite", "--max-steps", "2") == 0
    assert snapshot(finished_run) == before
    assert "holds the run it held before, as it was" in capsys.readouterr().out
    assert not [n for n in os.listdir(finished_run) if n.startswith(".replaced-")]


def test_an_overwrite_run_killed_before_its_first_checkpoint_gives_the_old_run_back(folder, finished_run, capsys):
    """kill -9 while the old run was set aside: the next start puts it back (no checkpoint of the new run), with
    a note; once the new run has a checkpoint, the set-aside outputs are removed instead."""
    from gan import run_folder
    before = snapshot(finished_run)
    aside = run_folder.set_aside(str(finished_run))
    os.rename(aside, str(finished_run / ".replaced-999999"))            # as a killed process left it
    (finished_run / "metrics.csv").write_text("step,epoch\n")           # what the killed run had begun
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "1", "--no-progress"]) == 0
    assert "note: put back the run a killed --overwrite run had set aside" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_a_per_class_overwrite_stopped_before_any_class_trained_keeps_the_old_run(folder, per_class_run,
                                                                                  monkeypatch, capsys):
    from gan import run_folder

    def stop_at_once(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        return "opening lines"

    monkeypatch.setattr(run_folder, "opening_lines", stop_at_once)
    before = snapshot(per_class_run)
    assert train(folder, per_class_run, "--per-class", "--epochs", "2", "--overwrite") == 0
    assert "holds the run it held before (the new --per-class run trained no class)" in capsys.readouterr().err
    assert snapshot(per_class_run) == before
    assert not [n for n in os.listdir(per_class_run) if n.startswith(".replaced-")]


def test_a_second_stop_signal_says_what_is_kept(folder, finished_run, monkeypatch, capsys):
    """Two Ctrl-C in quick succession: it printed only "interrupted"; now also that nothing was saved since the last
    checkpoint, and which."""
    from gan import run_folder

    def two_stops(*args):
        os.kill(os.getpid(), signal.SIGINT)              # the first asks to stop after the step
        os.kill(os.getpid(), signal.SIGINT)              # the second aborts at once
        return "opening lines"

    monkeypatch.setattr(run_folder, "opening_lines", two_stops)
    before = snapshot(finished_run)
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.endswith("interrupted: stopped at once, nothing saved since the last checkpoint: the last good "
                        f"checkpoint {finished_run / 'checkpoint.npz'} (step 3, epoch 1) is kept\n"), err
    assert snapshot(finished_run)["checkpoint.npz"] == before["checkpoint.npz"]
