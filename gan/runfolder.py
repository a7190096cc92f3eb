"""The run folder's guards: one run per folder at a time, no run replaced unasked, no temp files left behind.

* ``run_folder(out)`` creates the run folder, checks that a checkpoint can
  be saved there, and holds its lock; if the run fails to start, what it
  created is removed again (never what was there before).
* ``describe_run(out)`` says what a folder already holds (a run: dataset,
  step, epoch; or a --per-class run) so a new run can refuse to replace it
  without ``--overwrite`` (``refuse_to_replace``); ``clear_outputs(out)``
  removes it once the new run has started.
* ``RunLock(out)`` holds an exclusive ``flock`` on OUT/.lock for the life
  of a run. The kernel drops the lock when the process ends, however it
  ends (even ``kill -9``), so a stale lock cannot block the next run; the
  file only says who held it last (pid, host, start time).
* ``remove_orphans(out)`` deletes ``.checkpoint-*.npz`` temp files a killed
  run left mid-save (safe under the lock: no other run is writing there).
* ``resume_folder(path)``: the run folder ``--resume`` names, given the
  folder or its checkpoint.npz.
"""
import contextlib
import fcntl
import glob
import json
import os
import shlex
import socket
import tempfile
import time

import numpy as np

from . import run_layout
from .errors import TrainingError
from .writing import why

LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_folder(out, samples=True):
    """``with run_folder(out): ...``: the run folder exists, a checkpoint can be saved in it, and this
    process is the only run writing there. If the body (or this) fails, what this call created (the
    folder and its missing parents, samples/, .lock) is removed again where it is still empty.
    ``samples=False``: no samples/ (a --per-class run's root: its grids are in the class folders)."""
    created = [path for path in (os.path.join(out, LOCK_NAME), os.path.join(out, run_layout.SAMPLES))
               if not os.path.lexists(path)] + missing_folders(out)
    try:
        make_folder(out, samples)
        with RunLock(out):
            yield
    except BaseException:
        remove_created(created)
        raise


def missing_folders(path):
    """The folders of ``path`` that do not exist yet, the deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def remove_created(paths):
    """Remove what a failed start created, in order; a folder that is not empty stays."""
    for path in paths:
        try:
            if os.path.isdir(path):
                os.rmdir(path)
            elif os.path.isfile(path):
                os.remove(path)
        except OSError:
            pass


def make_folder(out, samples=True):
    """Create the run folder (and samples/) and check that a checkpoint can be saved in it, or say in one
    line why not (before any training: a read-only folder would otherwise fail only at the first save)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise TrainingError(f"--out {out} is a file, not a folder: choose another --out")
    try:
        os.makedirs(os.path.join(out, run_layout.SAMPLES) if samples else out, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=out)   # what a save creates
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise TrainingError(f"cannot write in the run folder {out}: {why(e)}") from None


def describe_run(out):
    """"a run (mnist, step 468, epoch 1)" or "a --per-class run (mnist)" for a folder holding one; else None."""
    checkpoint = run_layout.checkpoint(out)
    if run_layout.is_per_class(out):
        return f"a --per-class run ({per_class_dataset(out)})"
    if os.path.isfile(checkpoint):
        try:
            with np.load(checkpoint, allow_pickle=False) as f:
                cfg = json.loads(str(f["config"]))
                return f"a run ({cfg.get('dataset')}, step {int(f['step'])}, epoch {int(f['epoch'])})"
        except Exception:
            return "a run (a checkpoint.npz that cannot be read)"
    if os.path.isfile(os.path.join(out, run_layout.METRICS)):
        return "a run (metrics.csv of a run that saved no checkpoint)"
    return None


def per_class_dataset(out):
    """The dataset a --per-class run folder's config names."""
    try:
        with open(run_layout.per_class_config(out)) as f:
            return json.load(f).get("dataset")
    except (OSError, ValueError, AttributeError):
        return f"a {run_layout.PER_CLASS_CONFIG} that cannot be read"


def refuse_to_replace(out, overwrite, resume_with):
    """A new run stops here, in one line, if ``out`` holds a run and --overwrite was not given."""
    existing = describe_run(out)
    if existing and not overwrite:
        raise TrainingError(f"{out} already holds {existing}: continue it with --resume {shlex.quote(resume_with)}, "
                            "choose another --out, or pass --overwrite to replace it")


def clear_outputs(out):
    """--overwrite, once the new run has started: remove the previous run's outputs (its sample grids too) and
    a previous --per-class run's (its config, classes.png, and each class folder's run), nothing else."""
    for name in run_layout.OUTPUTS + run_layout.PER_CLASS_OUTPUTS:
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)
    for path in glob.glob(os.path.join(out, run_layout.SAMPLES, "epoch_*.png")):
        os.remove(path)
    for folder in run_layout.class_folders(out).values():
        clear_class_folder(folder)


def clear_class_folder(folder):
    """One class's run of a --per-class run: its outputs, then its lock, samples/ and itself if now empty."""
    clear_outputs(folder)
    remove_created([os.path.join(folder, LOCK_NAME), os.path.join(folder, run_layout.SAMPLES), folder])


def resume_folder(path):
    """The run folder ``--resume PATH`` continues: PATH itself, or the folder of PATH/checkpoint.npz."""
    if os.path.isdir(path):
        return path
    if os.path.basename(path) == run_layout.CHECKPOINT:
        return os.path.dirname(path) or "."
    if os.path.exists(path):
        raise TrainingError(f"--resume {path}: give a run folder or its checkpoint.npz (to continue from this file, "
                            "copy it into a folder as checkpoint.npz and --resume that folder)")
    raise TrainingError(f"--resume {path} does not exist: give a run folder or its checkpoint.npz")


def remove_orphans(out):
    """Delete temp files of an interrupted checkpoint save; returns how many."""
    orphans = glob.glob(os.path.join(out, ".checkpoint-*.npz"))
    for path in orphans:
        os.remove(path)
    return len(orphans)


class RunLock:
    """``with RunLock(out): ...``: this process is the only run writing to ``out``."""

    def __init__(self, out):
        self.path = os.path.join(out, LOCK_NAME)

    def __enter__(self):
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise TrainingError(f"the run folder {os.path.dirname(self.path)} is in use by {holder}: "
                                "wait for it to finish, or choose another --out") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        self.file.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
