"""The run folder's guards: no run replaced unasked, one run per folder, damaged side outputs, a full disk.

Each case checks the exit code, the one line, and that nothing was lost: the
checkpoint's bytes before and after.
"""
import errno
import json
import hashlib
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import checkpoint as checkpoint_module
from gan.config import Config
from gan.run_folder import RunLock

from tests.conftest import TINY_FLAGS as TINY, train_tiny as train


@pytest.fixture(scope="module")
def folder(noise_folder):
    return noise_folder


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def finished_run(folder, tmp_path):
    out = tmp_path / "run"
    assert train(folder, out, "--epochs", "1") == 0
    return out


def test_a_new_run_refuses_a_folder_holding_a_run(folder, finished_run, capsys):
    before = digest(finished_run / "checkpoint.npz")
    rows = (finished_run / "metrics.csv").read_text()
    capsys.readouterr()
    assert train(folder, finished_run, "--max-steps", "2") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {finished_run} already holds a run (folder, step 3, epoch 1)") and err.count("\n") == 1
    assert "--resume" in err and "--overwrite" in err and "another --out" in err
    assert digest(finished_run / "checkpoint.npz") == before
    assert (finished_run / "metrics.csv").read_text() == rows


def test_overwrite_replaces_the_run_when_asked(folder, finished_run):
    assert train(folder, finished_run, "--max-steps", "2", "--overwrite") == 0
    with np.load(finished_run / "checkpoint.npz") as f:
        assert int(f["step"]) == 2
    assert not (finished_run / "samples" / "epoch_001.png").exists()     # the old run's grids are gone too


def test_a_second_run_in_a_folder_in_use_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    with RunLock(str(out)):
        assert train(folder, out, "--max-steps", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the run folder {out} is in use by process {os.getpid()}") and err.count("\n") == 1


def test_a_stale_lock_from_a_killed_run_does_not_block(folder, tmp_path):
    """The lock is an flock: the kernel drops it with the process, whatever the file says."""
    out = tmp_path / "stale"
    out.mkdir()
    (out / ".lock").write_text("process 999999 on a-dead-host since 2026-01-01 00:00:00")
    assert train(folder, out, "--max-steps", "1") == 0


def test_a_damaged_old_grid_does_not_block_resume(folder, finished_run, capsys):
    grid = finished_run / "samples" / "epoch_001.png"
    grid.write_bytes(grid.read_bytes()[:40])                          # torn
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: progress.gif leaves out 1 unreadable grid(s): epoch_001.png" in err
    with np.load(finished_run / "checkpoint.npz") as f:
        assert int(f["epoch"]) == 2


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(folder, finished_run, monkeypatch, capsys):
    before = digest(finished_run / "checkpoint.npz")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.np, "savez", no_space)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not write {finished_run / 'checkpoint.npz'} (No space left on device)")
    assert err.count("\n") == 1
    assert digest(finished_run / "checkpoint.npz") == before
    assert not list(finished_run.glob(".checkpoint-*.npz")), "the temp file was left behind"


def test_orphan_temp_files_are_removed_by_the_next_run(finished_run, capsys):
    (finished_run / ".checkpoint-abc123.npz").write_bytes(b"half a checkpoint")
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 0
    assert not list(finished_run.glob(".checkpoint-*.npz"))
    assert "removed the temp file(s) of an interrupted checkpoint save" in capsys.readouterr().err


def test_max_steps_leaves_the_grid_of_where_it_stopped_and_the_gif(folder, tmp_path, capsys):
    out = tmp_path / "short"
    assert train(folder, out, "--max-steps", "2") == 0
    assert (out / "samples" / "epoch_000_step_0000002.png").exists() and (out / "progress.gif").exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("stopped at --max-steps 2: step 2 (0 of 25 epochs + 2 steps)")
    assert f"continue with: python dcgan.py --resume {out}" in last


@pytest.mark.parametrize("make_out", ["file", "unwritable", "proc"])
def test_an_out_that_cannot_be_a_run_folder_is_one_line(folder, tmp_path, capsys, make_out):
    out = tmp_path / "out"
    if make_out == "proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("no /proc here")
        out = "/proc/self/dcgan-run"                                  # a folder nobody can create
    elif make_out == "file":
        out.write_text("not a folder")
    else:
        out.mkdir()
        os.chmod(out, 0o500)
        if os.access(out, os.W_OK):                                  # root ignores permissions
            pytest.skip("this user can write anywhere")
    assert train(folder, out, "--max-steps", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_resume_says_which_flags_the_checkpoint_overrides(finished_run, capsys):
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--lr", "0.001", "--nz", "8",
                       "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note: --resume trains the checkpoint's model with its settings; ignoring --lr 0.001 (the run's: 0.0002)" \
        in err
    assert "--nz" not in err                                   # same value as the run's: nothing to say


def test_resume_with_fewer_images_than_the_checkpoint_is_one_line(folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(folder, out, "--max-steps", "1") == 0                 # stops inside the epoch
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    for name in sorted(os.listdir(folder))[:16]:
        (smaller / name).write_bytes(open(os.path.join(folder, name), "rb").read())
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--data-dir", str(smaller), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "was trained on 24 images, the data has 16" in err and err.count("\n") == 1


@pytest.mark.parametrize("drop", ["config", "rng"])
def test_hand_made_checkpoint_without_an_entry_is_one_line(finished_run, capsys, drop):
    path = finished_run / "checkpoint.npz"
    with np.load(path) as f:
        state = {k: f[k] for k in f.files if k != drop}
    np.savez(path, **state)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and drop in err and err.count("\n") == 1


@pytest.mark.parametrize("samples,message", [
    (np.full((8, 1, 32, 32), 200.0, np.float32), "samples range over [200, 200], not [-1, 1]"),
    (np.full((8, 1, 32, 32), np.nan, np.float32), "8192 values are NaN or infinite"),
    (np.zeros((1, 1, 32, 32), np.float32), "1 sample(s); a Frechet distance needs at least 2"),
], ids=["0..255", "nan", "one"])
def test_evaluate_refuses_samples_it_cannot_score(tiny_classifier, tmp_path, capsys, samples, message):
    path = tmp_path / "s.npy"
    np.save(path, samples)
    assert dcgan.main(["evaluate", "--samples", str(path), "--classifier", tiny_classifier]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_evaluate_a_folder_with_an_empty_png_is_one_line(tiny_classifier, tmp_path, capsys):
    for i in range(3):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / f"{i:05d}.png")
    (tmp_path / "00003.png").write_bytes(b"")
    assert dcgan.main(["evaluate", "--samples", str(tmp_path), "--classifier", tiny_classifier]) == 1
    err = capsys.readouterr().err
    assert "00003.png cannot be read as an image" in err and err.count("\n") == 1


def test_evaluate_json_into_a_new_folder_and_generate_out_a_file(finished_run, tiny_classifier, tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((4, 1, 32, 32), np.float32))
    target = tmp_path / "new" / "folder" / "q.json"
    assert dcgan.main(["evaluate", "--samples", str(tmp_path / "s.npy"), "--classifier", tiny_classifier,
                       "--json", str(target)]) == 0
    assert target.exists()
    (tmp_path / "a-file").write_text("x")
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(finished_run), "--out", str(tmp_path / "a-file")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {tmp_path / 'a-file'} cannot be a folder") and err.count("\n") == 1


@pytest.mark.parametrize("delay", [0.15, 0.4, 1.5])
def test_ctrl_c_at_any_moment_is_never_a_traceback(folder, tmp_path, delay):
    """While Python imports NumPy, while the data loads, or while it trains: one line or a clean stop."""
    import signal
    import subprocess
    import sys
    import time
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "dcgan.py", "--dataset", "folder", "--data-dir", folder,
                             "--out", str(tmp_path / "run"), *TINY, "--max-steps", "400"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if "init_import_site" in err:
        pytest.skip("the signal came while the interpreter itself started, before dcgan.py ran")
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 1, 130, -signal.SIGINT), (proc.returncode, err)


def test_ctrl_c_that_python_wrapped_is_still_one_line(capsys):
    """Seen once in CI under load: SIGINT while platform.py built a class surfaced as "RuntimeError: Error
    calling __set_name__ ..." (caused by the KeyboardInterrupt) and printed a traceback."""
    from gan.signals import one_line_on_ctrl_c
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise RuntimeError("Error calling __set_name__ on 'cached_property' instance") from e
    except RuntimeError as wrapped:
        one_line_on_ctrl_c(RuntimeError, wrapped, wrapped.__traceback__)
    assert capsys.readouterr().err == "interrupted\n"
    try:
        raise ValueError("a real bug")
    except ValueError as e:
        one_line_on_ctrl_c(ValueError, e, e.__traceback__)
    assert "Traceback" in capsys.readouterr().err


def test_the_start_up_handlers_load_before_numpy():
    """dcgan.py installs them from gan/signals.py before its other imports: that module (and gan/__init__.py)
    must import nothing heavy, or Ctrl-C during NumPy's import would be a traceback again."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; import gan.signals; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'nn', 'datasets', 'PIL')"
            " or m.startswith('gan.') and m != 'gan.signals'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_run_refused_because_the_folder_is_in_use_removes_nothing(folder, tmp_path, monkeypatch, capsys):
    """Two runs started at once into a new folder: both see it missing, one wins the lock. The refused one used
    to remove what it had seen missing (the winner's folder, samples/ and .lock: the winner then crashed);
    now it removes nothing. The winner is made to take the lock just before the loser tries to."""
    out = tmp_path / "race" / "run"
    winner, real_enter = RunLock(str(out)), RunLock.__enter__

    def winner_first(self):
        if self is not winner and not hasattr(winner, "file"):
            (out / "samples").mkdir(parents=True, exist_ok=True)
            real_enter(winner)
        return real_enter(self)

    monkeypatch.setattr(RunLock, "__enter__", winner_first)
    try:
        assert train(folder, out, "--max-steps", "1") == 1
        assert "is in use by process" in capsys.readouterr().err
        assert (out / "samples").is_dir() and (out / ".lock").read_text().startswith(f"process {os.getpid()}")
        assert os.path.samefile(out / ".lock", winner.path)            # the very file the winner holds
    finally:
        winner.__exit__(None, None, None)


def test_a_folder_holding_a_runs_pictures_but_no_checkpoint_is_refused(folder, finished_run, capsys):
    """The grids, the GIF, the loss plot are a run's too: without --overwrite they are kept, and the message does
    not suggest --resume (there is nothing to resume)."""
    os.remove(finished_run / "checkpoint.npz")
    os.remove(finished_run / "metrics.csv")
    kept = sorted(os.listdir(finished_run / "samples")) + sorted(os.listdir(finished_run))
    capsys.readouterr()
    assert train(folder, finished_run, "--max-steps", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {finished_run} already holds a run's outputs without a checkpoint (")
    assert "progress.gif" in err and "losses.png" in err and "grid(s) in samples/" in err and "--resume" not in err
    assert sorted(os.listdir(finished_run / "samples")) + sorted(os.listdir(finished_run)) == kept


def test_resuming_a_folder_without_a_checkpoint_says_why(folder, finished_run, tmp_path, capsys):
    os.remove(finished_run / "checkpoint.npz")
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "has no checkpoint to resume" in err and "--overwrite" in err and err.count("\n") == 1, err
    with RunLock(str(finished_run)):                               # a run still before its first save
        assert dcgan.main(["--resume", str(finished_run), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"has no checkpoint yet: it is in use by process {os.getpid()}" in err and err.count("\n") == 1, err
    os.mkdir(finished_run / "checkpoint.npz")
    assert dcgan.main(["--resume", str(finished_run), "--no-progress"]) == 1
    assert "is a folder, not a checkpoint" in capsys.readouterr().err


def test_resuming_one_class_of_a_per_class_run_points_to_the_whole_run(folder, tmp_path, capsys):
    out = tmp_path / "pc"
    assert train(folder, out, "--per-class", "--epochs", "1") == 0
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out / "class_00"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / 'class_00'} is one class of the --per-class run {out}: --resume {out}"), err


def test_a_run_folder_inside_its_own_image_folder_is_refused(folder, tmp_path, capsys):
    """The next run would train on the earlier run's grids and losses.png (83 images instead of 80)."""
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    out = data / "runs" / "r"
    assert train(str(data), out, "--max-steps", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the run folder {out} is inside the image folder {data}") and err.count("\n") == 1
    assert not (data / "runs").exists()                            # the failed start removed what it made


def test_resuming_after_the_data_moved_says_that_resume_takes_data_dir(folder, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    out = tmp_path / "run"
    assert train(str(data), out, "--epochs", "1") == 0
    data.rename(tmp_path / "moved")
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"the data folder {data} does not exist" in err and "--resume takes --data-dir" in err
    assert dcgan.main(["--resume", str(out), "--epochs", "2", "--no-progress", "--data-dir",
                       str(tmp_path / "moved")]) == 0


def test_a_checkpoint_npz_that_is_a_folder_is_called_a_folder(finished_run, tmp_path, capsys):
    os.remove(finished_run / "checkpoint.npz")
    os.mkdir(finished_run / "checkpoint.npz")
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(finished_run), "--n", "2", "--out", str(tmp_path / "g")]) == 1
    err = capsys.readouterr().err
    assert "checkpoint.npz is a folder, not a file" in err and err.count("\n") == 1


def test_a_checkpoint_copied_from_another_run_is_resumed_with_a_note(folder, finished_run, tmp_path, capsys):
    """Another run's checkpoint copied into a folder was resumed there without a word."""
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(finished_run / "checkpoint.npz", other / "checkpoint.npz")
    capsys.readouterr()
    assert dcgan.main(["--resume", str(other), "--epochs", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"note: {other / 'checkpoint.npz'} was saved by a run in {finished_run}; it continues here" in err
    capsys.readouterr()
    assert dcgan.main(["--resume", str(other), "--epochs", "3", "--no-progress"]) == 0     # now its own: no note
    assert "was saved by a run in" not in capsys.readouterr().err


@pytest.fixture
def per_class_run(folder, tmp_path):
    out = tmp_path / "pc"
    assert train(folder, out, "--per-class", "--epochs", "1") == 0
    return out


def test_a_per_class_run_without_its_per_class_json_is_not_offered_overwrite(per_class_run, capsys):
    """rm per_class.json, then --resume: it said to start again with --overwrite, which replaces every class."""
    os.remove(per_class_run / "per_class.json")
    capsys.readouterr()
    assert dcgan.main(["--resume", str(per_class_run), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "class folder(s) with checkpoints but no per_class.json" in err and "put it back" in err
    assert "start it again" not in err and err.count("\n") == 1


def test_a_run_of_its_own_into_a_class_folder_is_refused(folder, per_class_run, capsys):
    before = digest(per_class_run / "class_00" / "checkpoint.npz")
    capsys.readouterr()
    assert train(folder, per_class_run / "class_00", "--max-steps", "1", "--overwrite") == 1
    err = capsys.readouterr().err
    assert f"is class 0 of the --per-class run {per_class_run}" in err and err.count("\n") == 1
    assert digest(per_class_run / "class_00" / "checkpoint.npz") == before


def test_another_runs_checkpoint_in_a_class_folder_is_refused(folder, finished_run, per_class_run, tmp_path, capsys):
    """A plain run's checkpoint copied into class_00: generate drew from it, --resume trained on with it."""
    shutil.copy(finished_run / "checkpoint.npz", per_class_run / "class_00" / "checkpoint.npz")
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(per_class_run), "--n", "2", "--out", str(tmp_path / "g")]) == 1
    err = capsys.readouterr().err
    assert "class_00/checkpoint.npz is not class 0's: it was saved by the run in" in err and err.count("\n") == 1
    assert dcgan.main(["--resume", str(per_class_run), "--epochs", "2", "--no-progress"]) == 1
    assert "is not class 0's" in capsys.readouterr().err


def test_a_checkpoint_that_claims_to_be_a_per_class_run_is_refused(finished_run, capsys):
    with np.load(finished_run / "checkpoint.npz") as f:
        state = {k: f[k] for k in f.files}
    cfg = json.loads(str(state["config"]))
    cfg["per_class"] = True
    state["config"] = np.array(json.dumps(cfg))
    np.savez(finished_run / "checkpoint.npz", **state)
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "config says per_class, but a checkpoint is one run's" in err and err.count("\n") == 1
    assert not os.path.exists(finished_run / "class_00")


def test_an_edited_per_class_json_that_disagrees_with_its_classes_is_refused(per_class_run, capsys):
    cfg = json.loads((per_class_run / "per_class.json").read_text())
    cfg["ngf"] = cfg["ngf"] * 2
    (per_class_run / "per_class.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert dcgan.main(["--resume", str(per_class_run), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and "disagree on ngf" in err


def test_a_missing_class_is_said_by_generate(per_class_run, tmp_path, capsys):
    """Classes 0 and 2 with no 1 (a class folder removed): generate samples the two and says which is missing."""
    shutil.copytree(per_class_run / "class_00", per_class_run / "class_02")
    path = per_class_run / "class_02" / "checkpoint.npz"
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    cfg = json.loads(str(state["config"]))
    cfg["out"] = str(per_class_run / "class_02")
    state["config"] = np.array(json.dumps(cfg))
    np.savez(path, **state)
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(per_class_run), "--n", "4", "--out", str(tmp_path / "g")]) == 0
    assert f"note: {per_class_run} has no checkpoint for class(es) 1: sampling classes 0, 2" in \
        capsys.readouterr().err


def test_run_length_flags_that_change_nothing_are_said(folder, finished_run, tmp_path, capsys):
    """--max-steps beyond the run, --max-steps not above where a resumed run is, --eval-every with no epoch to
    score: each passed without a word."""
    capsys.readouterr()
    assert train(folder, tmp_path / "a", "--epochs", "1", "--max-steps", "500") == 0
    assert "note: --max-steps 500 is not below the run's 3 steps (1 epoch(s) of 3): it changes nothing" in \
        capsys.readouterr().err
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--max-steps", "2", "--no-progress"]) == 0
    assert "note: --max-steps 2 is not above the run's step 3: nothing is trained" in capsys.readouterr().err
    from gan.report import idle_flag_notes
    trainer = type("T", (), {})()                       # what idle_flag_notes reads of a Trainer
    trainer.cfg = Config(eval_every=5, epochs=1, classifier="c.npz")
    trainer.batches_per_epoch, trainer.step_count, trainer.epoch = 3, 0, 0
    assert idle_flag_notes(trainer) == ["note: --eval-every 5: no epoch this run completes (up to epoch 1) is a "
                                        "multiple of 5, so nothing is scored; lower --eval-every"]
    trainer.cfg = Config(eval_every=1, epochs=2, classifier="c.npz")
    assert idle_flag_notes(trainer) == []                                   # the control: epochs 1 and 2 are scored


def test_metrics_rows_after_the_checkpoint_are_dropped_with_a_note(finished_run, capsys):
    with open(finished_run / "metrics.csv", "a") as f:
        f.write("6,1,1.0,1.0,0.5,0.5,100,,0.5,0.1,\n")                 # a row logged after the last save
    capsys.readouterr()
    assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 0
    assert "dropped 1 row(s) logged after step 3, the checkpoint's" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["broken link", "a parent is a file", "samples is a file", "data-dir is a file"])
def test_what_is_in_the_way_of_a_run_folder_is_named(folder, finished_run, tmp_path, capsys, case):
    if case == "broken link":
        out = tmp_path / "link"
        os.symlink(tmp_path / "gone", out)
        says = f"{out} is a broken link"
    elif case == "a parent is a file":
        (tmp_path / "afile").write_text("x")
        out, says = tmp_path / "afile" / "run", f"{tmp_path / 'afile'} is a file, where a folder must be"
    elif case == "samples is a file":
        shutil.rmtree(finished_run / "samples")
        (finished_run / "samples").write_text("not a folder")
        out, says = finished_run, f"{finished_run / 'samples'} is a file, where the grids' folder of the run must be"
    else:
        out, says = tmp_path / "new", f"--data-dir {finished_run / 'metrics.csv'} is a file"
    capsys.readouterr()
    data = str(finished_run / "metrics.csv") if case == "data-dir is a file" else folder
    extra = ["--overwrite"] if case == "samples is a file" else []
    assert train(data, out, "--max-steps", "1", *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err


def test_resuming_a_run_in_use_says_to_wait_not_to_choose_another_folder(finished_run, capsys):
    with RunLock(str(finished_run)):
        assert dcgan.main(["--resume", str(finished_run), "--epochs", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "is in use by process" in err and "then --resume" in err and "another --out" not in err
