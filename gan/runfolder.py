"""The run folder's guards: one run per folder at a time, no run replaced unasked, no temp files left behind.

* ``describe_run(out)`` says what a folder already holds (dataset, step,
  epoch) so a new run can refuse to replace it without ``--overwrite``.
* ``RunLock(out)`` holds an exclusive ``flock`` on OUT/.lock for the life
  of a run. The kernel drops the lock when the process ends, however it
  ends (even ``kill -9``), so a stale lock cannot block the next run; the
  file only says who held it last (pid, host, start time).
* ``remove_orphans(out)`` deletes ``.checkpoint-*.npz`` temp files a killed
  run left mid-save (safe under the lock: no other run is writing there).
"""
import fcntl
import glob
import json
import os
import socket
import time

import numpy as np

from .errors import TrainingError

LOCK_NAME = ".lock"
OUTPUTS = ("checkpoint.npz", "metrics.csv", "progress.gif", "losses.png")   # what --overwrite replaces


def make_folder(out):
    """Create the run folder (and samples/), or say in one line why it cannot be."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise TrainingError(f"--out {out} is a file, not a folder: choose another --out")
    try:
        os.makedirs(os.path.join(out, "samples"), exist_ok=True)
        probe = os.path.join(out, LOCK_NAME)
        with open(probe, "a"):
            pass
    except OSError as e:
        raise TrainingError(f"cannot write in the run folder {out}: {e.strerror or e}") from None


def describe_run(out):
    """"mnist, step 468, epoch 1" for a folder holding a run's checkpoint or metrics; None if it holds none."""
    checkpoint = os.path.join(out, "checkpoint.npz")
    if os.path.isfile(checkpoint):
        try:
            with np.load(checkpoint, allow_pickle=False) as f:
                cfg = json.loads(str(f["config"]))
                return f"{cfg.get('dataset')}, step {int(f['step'])}, epoch {int(f['epoch'])}"
        except Exception:
            return "a checkpoint.npz that cannot be read"
    if os.path.isfile(os.path.join(out, "metrics.csv")):
        return "metrics.csv of a run that saved no checkpoint"
    return None


def clear_outputs(out):
    """--overwrite: remove the previous run's outputs (and its sample grids), nothing else."""
    for name in OUTPUTS:
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)
    for path in glob.glob(os.path.join(out, "samples", "epoch_*.png")):
        os.remove(path)


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
