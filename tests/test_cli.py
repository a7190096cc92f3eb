"""The command line's promises: every failure is one line starting with "error:", never a traceback."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gan import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_program(*argv):
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("classifier", ["missing.npz", "random.npz", "empty.npz", "folder"])
def test_bad_classifier_is_one_line_when_dcgan_runs_as_a_script(tmp_path, classifier):
    """It used to be a traceback: quality imported dcgan, a second copy whose error class escaped."""
    samples = tmp_path / "samples.npy"
    np.save(samples, np.zeros((4, 1, 32, 32), np.float32))
    (tmp_path / "random.npz").write_bytes(os.urandom(300))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    done = run_program("dcgan.py", "evaluate", "--samples", str(samples), "--classifier", str(tmp_path / classifier))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_a_bug_shows_its_traceback_then_one_line_saying_it_is_a_bug(capsys):
    """Users edit these layers: an unexpected exception shows where it happened, with no setting needed."""
    def broken(args):
        raise AttributeError("module 'cupy' has no attribute 'permute_dims'")

    assert cli.run_command(broken, None) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in broken" in err
    assert "AttributeError: module 'cupy' has no attribute 'permute_dims'" in err
    assert err.splitlines()[-1].startswith("error: a bug, not bad input (AttributeError)")


def test_config_of_an_older_checkpoint_loads():
    """Older checkpoints wrote per-class driver state into the config, and n_classes as null."""
    old = {"dataset": "mnist", "data_dir": None, "image_size": 32, "nc": 1, "nz": 100, "ngf": 64, "ndf": 64,
           "batch_size": 128, "lr": 2e-4, "beta1": 0.5, "seed": 0, "epochs": 25, "max_steps": None,
           "log_every": 10, "out": "runs/mnist/class_03", "eval_every": None, "classifier": None, "eval_n": 2000,
           "conditional": False, "per_class": False, "n_classes": None, "class_filter": 3,
           "run_root": "runs/mnist"}
    from gan.checkpoint import config_from_json
    cfg = config_from_json(json.dumps(old))                 # the one place older forms are made current
    assert cfg.n_classes == 0 and cfg.out == "runs/mnist/class_03" and cfg.head == "conv"
    assert "class_filter" not in cfg.to_json()
    with pytest.raises(Exception):
        cfg.nc = 3                                          # frozen: nothing changes a Config in place


def test_quitting_the_debugger_is_not_reported_as_a_bug(capsys):
    """README suggests stepping through a step with python -m pdb: q there raises BdbQuit, which is the
    debugger's own way out, not a bug of the program."""
    import bdb

    from gan.cli import run_command

    def stepped_through(args):
        raise bdb.BdbQuit

    with pytest.raises(bdb.BdbQuit):
        run_command(stepped_through, None)
    assert "a bug" not in capsys.readouterr().err


def test_a_closed_pipe_is_a_quiet_exit_not_a_bug():
    """python dcgan.py --show-model | head -0: the reader has stopped reading; no traceback, no "a bug" line."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(f"{sys.executable} dcgan.py --show-model | head -0; echo ${{PIPESTATUS[0]}}", shell=True,
                          cwd=root, capture_output=True, text=True, executable="/bin/bash")
    assert done.stdout == "141\n" and done.stderr == "", (done.stdout, done.stderr)


def dcgan_main(argv):
    """dcgan.py's main on ``argv``, in this process; SystemExit (argparse's refusal) becomes its code."""
    import dcgan
    try:
        return dcgan.main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv, says", [
    (["--batch", "64"], "unrecognized arguments: --batch 64"),                      # no abbreviations
    (["--ng", "16"], "unrecognized arguments: --ng 16"),
    (["generate", "--check", "x", "--out", "y"], "the following arguments are required: --checkpoint"),
    (["evaluate", "--sampl", "x.npy", "--classifier", "c.npz"], "one of the arguments --checkpoint --samples"),
    (["--epochs", "x"], "argument --epochs: 'x' is not an integer"),
])
def test_a_flag_is_spelled_in_full_or_refused_in_one_line(capsys, argv, says):
    """argparse would take --batch for --batch-size: a typo silently became another flag. And its refusal was
    the whole usage text, then the error: now one line that says where the flags are listed."""
    assert dcgan_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "--help' lists the flags" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv, says", [
    (["--ema", "0.5", "--no-ema"], "--ema DECAY keeps an averaged generator and --no-ema keeps none"),
    (["--eval-n", "5"], "--eval-n is only used by --eval-every K"),
    (["--classifier", "c.npz"], "--classifier is only used by --eval-every K"),
    (["--strict-data"], "--strict-data is for --dataset folder"),
    (["--resume", "x", "--overwrite"], "--resume continues a run and --overwrite replaces one"),
])
def test_flags_that_contradict_or_do_nothing_are_refused(tmp_path, capsys, argv, says):
    assert dcgan_main([*argv, "--out", str(tmp_path / "run")] if "--resume" not in argv else argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, says", [
    (["--batch-size", "32", "--batchSize", "64"], "--batch-size is given more than once (--batchSize is another "
                                                  "spelling of it)"),
    (["--lr", "0.001", "--lr", "0.002"], "--lr is given more than once"),
    (["--cuda", "--backend", "numpy"], "--backend is given more than once (--cuda is another spelling of it)"),
    (["--out", "a", "--outf", "b"], "--out is given more than once"),
    (["evaluate", "--samples", "s.npy", "--classifier", "c.npz", "--json", ""], "argument --json: must not be empty"),
    (["generate", "--checkpoint", "", "--out", "g"], "argument --checkpoint: must not be empty"),
])
def test_a_flag_given_twice_or_empty_is_refused(capsys, argv, says):
    """argparse let the last of two values win without a word (PyTorch's spelling beside ours too)."""
    assert dcgan_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err


def test_show_model_names_the_flags_it_ignores(capsys):
    assert dcgan_main(["--show-model", "--overwrite", "--max-steps", "5", "--ngf", "8"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "note: --show-model trains and writes nothing: ignoring --max-steps, --overwrite\n"
    assert "G: " in captured.out
