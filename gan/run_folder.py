"""The run folder: who may write there, what it already holds, and what a run writes in it.

What a run writes (the file names are the LAYOUT below's): ``Run(out)`` names
each file and writes it. The checkpoint is written first and atomically; the
pictures after it are each only a warning if they fail (they can be drawn
again from the checkpoint). ``open_run`` is a run's life around the training
loop: the folder locked and checked before anything is loaded; then, once
training starts (``Run.training``), stop signals heard, what an older run
left replaced, the opening lines, the closing line; ``goes_on``, ``steps_on``
and ``save`` are what the loop asks and does.

The guards: one run per folder at a time, no run replaced unasked, no temp files left behind.

* ``run_folder(out)`` creates the run folder, checks that a checkpoint can
  be saved there, and holds its lock; if the run fails to start, what it
  created is removed again (never what was there before).
* ``describe_run(out)`` says what a folder already holds (a run: dataset,
  step, epoch; or a --per-class run) so a new run can refuse to replace it
  without ``--overwrite`` (``refuse_to_replace``); ``set_aside(out)`` moves
  it into a hidden folder once the new run starts training, dropped at the new
  run's first trained checkpoint, else ``put_back``; ``recover_set_aside``
  settles what a killed run left set aside.
* ``RunLock(out)`` holds an exclusive ``flock`` on OUT/.lock for the life
  of a run. The kernel drops the lock when the process ends, however it
  ends (even ``kill -9``), so a stale lock cannot block the next run; the
  file only says who held it last (pid, host, start time).
* ``remove_orphans(out)`` deletes ``.checkpoint-*.npz`` temp files a killed
  run left mid-save (safe under the lock: no other run is writing there).
* ``resume_folder(path)``: the run folder ``--resume`` names, given the
  folder or its checkpoint.npz.
"""
import csv
import glob
import json
import math
import os
import re
import shlex
import shutil
import sys
import time
from contextlib import contextmanager

import numpy as np

from . import writing
from .checkpoint import non_finite_entries, save_checkpoint, trainer_state
from .errors import TrainingError, UserError, name_some
from .diagnosis import Doctor
from .pictures import image_grid, plot_losses, save_gif, save_png
from .report import closing_line, idle_flag_notes, opening_lines
from .signals import StopRequest
from .writing import why


# The layout of a run folder, in one place: what each file in it is called, and where a --per-class run
# keeps its classes. Everything that reads or writes a run folder asks here.
#
#     OUT/checkpoint.npz      everything needed to resume (gan/checkpoint.py)
#     OUT/metrics.csv         a row every --log-every steps
#     OUT/samples/            epoch_NNN.png: the fixed-noise grid at step 0 and after every epoch
#     OUT/progress.gif        those grids, in order
#     OUT/losses.png          the curves of metrics.csv
#
# A --per-class run folder holds ``per_class.json`` (its Config), ``classes.png`` (one row per class) and one
# run folder per class, ``class_KK/``.
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.csv"
SAMPLES = "samples"
GIF = "progress.gif"
LOSSES = "losses.png"
OUTPUTS = (CHECKPOINT, METRICS, GIF, LOSSES)               # what --overwrite replaces, with samples/
PER_CLASS_CONFIG = "per_class.json"                        # what marks a --per-class run folder
CLASSES_GRID = "classes.png"
PER_CLASS_OUTPUTS = (PER_CLASS_CONFIG, CLASSES_GRID)
CLASS_FOLDER = re.compile(r"class_(\d+)")


def checkpoint_in(folder):
    """The checkpoint of the run in ``folder``."""
    return os.path.join(folder, CHECKPOINT)


def is_per_class(folder):
    """Is ``folder`` a --per-class run folder?"""
    return os.path.isdir(folder) and os.path.isfile(os.path.join(folder, PER_CLASS_CONFIG))


def per_class_config(folder):
    return os.path.join(folder, PER_CLASS_CONFIG)


def class_folder(root, k):
    """Where class k's run lives inside a --per-class run folder: OUT/class_KK."""
    return os.path.join(root, f"class_{k:02d}")


def class_folders(root):
    """{k: folder} of the class folders under ``root`` (whatever they hold)."""
    found = {}
    for name in sorted(os.listdir(root)):
        match = CLASS_FOLDER.fullmatch(name)
        if match and os.path.isdir(os.path.join(root, name)):
            found[int(match.group(1))] = os.path.join(root, name)
    return found


def class_of(folder):
    """k if ``folder`` is class k's folder inside a --per-class run (OUT/class_KK with OUT/per_class.json), else None."""
    folder = os.path.abspath(folder)
    match = CLASS_FOLDER.fullmatch(os.path.basename(folder))
    return int(match.group(1)) if match and is_per_class(os.path.dirname(folder)) else None


def check_class_checkpoint(ckpt, k, saved_out):
    """Class k's checkpoint must be class k's own: the config it was saved with names a folder class_KK (a run
    moved elsewhere keeps that name; another class's or another run's checkpoint copied in does not)."""
    saved = os.path.basename(os.path.normpath(saved_out or ""))
    match = CLASS_FOLDER.fullmatch(saved)
    if not match or int(match.group(1)) != k:
        raise UserError(f"{ckpt} is not class {k}'s: it was saved by the run in {saved_out} (copied in?); put "
                        f"class {k}'s own checkpoint back, or delete the folder to train class {k} again")


def checkpoint_file(path):
    """The checkpoint a person means: ``path`` itself, or ``path/checkpoint.npz`` for a run folder.

    A --per-class run folder holds one checkpoint per class: a UserError says which folder to pass.
    """
    if not os.path.isdir(path):
        return path
    if is_per_class(path):
        raise UserError(f"{path} is a --per-class run (one generator per class): pass one class's run folder, "
                        f"e.g. {class_folder(path, 0)}")
    return checkpoint_in(path)

METRIC_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "fcd", "diversity", "change",
                 "top_two_share"]
OLDER_METRIC_FIELDS = METRIC_FIELDS[:8]        # before the doctor's signs (gan/diagnosis.py): read, their cells empty
MAY_BE_EMPTY = ("images_per_s", "fcd", "diversity", "change", "top_two_share")


def read_metrics(path):
    """The rows of a run's metrics.csv, read back by its schema: the header ``METRIC_FIELDS``, step and epoch
    whole numbers, the other values numbers or empty. Anything else is one line naming where (a TrainingError):
    the file holds the run's history, so it is never dropped or rewritten without a word."""
    fix = f"move {path} away (it is the run's history of losses) and --resume again"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        reason = why(e) if isinstance(e, OSError) else "not a CSV text file"
        raise TrainingError(f"{path} cannot be read ({reason}): {fix}") from None
    if fields and fields not in (METRIC_FIELDS, OLDER_METRIC_FIELDS):
        raise TrainingError(f"{path} has the columns {', '.join(map(str, fields))}, not a run's "
                            f"({', '.join(METRIC_FIELDS)}): {fix}")
    for line, row in enumerate(rows, start=2):
        for field in METRIC_FIELDS:
            value = row.setdefault(field, "") if fields == OLDER_METRIC_FIELDS else row.get(field)
            if not value_fits(field, value):
                raise TrainingError(f"{path} line {line}: {field} is {value!r}, not "
                                    f"{'a whole number' if field in ('step', 'epoch') else 'a number'}: {fix}")
    return rows


def value_fits(field, value):
    """Does one metrics.csv value read back as its column says (step and epoch whole numbers, the rest numbers,
    the doctor's signs, fcd and images_per_s possibly empty)?"""
    if value is None:
        return False
    try:
        number = float(value) if value != "" else None
    except ValueError:
        return False
    if field in ("step", "epoch"):
        return number is not None and number == int(number) and number >= 0
    return number is not None or field in MAY_BE_EMPTY


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


@contextmanager
def open_run(out, new, overwrite=False, run_root=None):
    """The run folder ``out``, locked for this process (one writer at a time), as a ``Run``. A ``new`` run
    refuses a folder that holds a run unless ``overwrite`` (``run_root``: the --per-class run it belongs
    to); what an interrupted checkpoint save left is removed, and what a killed --overwrite run set aside is
    settled (``recover_set_aside``), each with a note."""
    if new and run_root is None and class_of(out) is not None:
        root = os.path.dirname(os.path.abspath(out))
        raise TrainingError(f"{out} is class {class_of(out)} of the --per-class run {root}: a run of its own there "
                            f"would pass for that class's model; --resume {shlex.quote(root)} trains the classes, or "
                            "choose another --out")
    with run_folder(out, new=new):
        recover_set_aside(out)
        if new:
            refuse_to_replace(out, overwrite, run_root or out)
        if remove_orphans(out):
            print(f"note: removed the temp file(s) of an interrupted checkpoint save in {out}", file=sys.stderr)
        yield Run(out, new, run_root)


class Run:
    """The run folder: metrics.csv, sample grids, progress.gif, losses.png, checkpoint.npz."""

    def __init__(self, out, new=True, run_root=None):
        self.out, self.new, self.run_root = out, new, run_root
        self.samples = os.path.join(out, SAMPLES)
        self.checkpoint = checkpoint_in(out)
        self.metrics = os.path.join(out, METRICS)
        self.gif = os.path.join(out, GIF)
        self.stop, self.grid = None, None
        self.replaced = None        # a new run's predecessor, set aside until the new run saves a trained checkpoint

    @contextmanager
    def training(self, trainer):
        """From the first step to the closing line: SIGTERM and Ctrl-C ask the loop to stop and save; the
        opening lines, the step-0 grid, metrics.csv (rewritten up to a resumed step); the closing line.
        A new run sets aside what the folder held (--overwrite) and drops it only once it has saved a trained
        checkpoint (``save``); a new run that ends before that (stopped, failed, killed) puts it back."""
        with StopRequest() as self.stop:
            if self.new:
                self.replaced = set_aside(self.out)
            try:
                self.doctor = Doctor(trainer, self.start_metrics(trainer.step_count))
                for note in idle_flag_notes(trainer):
                    print(note, file=sys.stderr)
                print(opening_lines(trainer, self.new))
                if trainer.step_count == 0:
                    self.save_grid(trainer)
                started, first_step = time.perf_counter(), trainer.step_count
                yield self
                trainer.interrupted = self.stop.requested
            except KeyboardInterrupt:                          # a second Ctrl-C or SIGTERM: at once, unsaved
                raise KeyboardInterrupt(f"stopped at once, nothing saved since the last checkpoint: {self.kept()}") \
                    from None
            finally:
                restored = self.replaced is not None
                if restored:                                   # no trained checkpoint came of the new run
                    put_back(self.out, self.replaced)
        if restored:
            print(f"stopped before the first checkpoint of a trained step: {self.out} holds the run it held "
                  "before, as it was", flush=True)
            return
        print(closing_line(trainer, self, self.stop.requested, time.perf_counter() - started,
                           trainer.step_count - first_step, self.grid, self.run_root), flush=True)

    def goes_on(self, trainer):
        """Another epoch: epochs left, --max-steps not reached, no stop asked for (a stop before the first
        step still goes once round, to save a new run's step-0 checkpoint, so that it can be resumed)."""
        cfg = trainer.cfg
        return (trainer.epoch < cfg.epochs and trainer.step_count < (cfg.max_steps or math.inf)
                and not (self.stop.requested and (os.path.exists(self.checkpoint) or self.replaced)))

    def steps_on(self, trainer):
        """Another step: --max-steps not reached and no stop asked for."""
        return trainer.step_count < (trainer.cfg.max_steps or math.inf) and not self.stop.requested

    def save(self, trainer):
        """The checkpoint first, then what can be drawn again from it (the grid, the GIF, the loss plot). The
        first trained checkpoint of a new run is what replaces the run the folder held (``set_aside``)."""
        self.save_checkpoint(trainer)
        if self.replaced and trainer.step_count > 0:
            shutil.rmtree(self.replaced, ignore_errors=True)
            self.replaced = None
        self.grid = self.side_outputs(trainer)

    def start_metrics(self, keep_up_to_step):
        """Keep rows up to the resumed step (a crash may have logged beyond the checkpoint), rewritten
        atomically: a failure while rewriting leaves the old metrics.csv as it was. Returns the rows kept."""
        rows = []
        if keep_up_to_step > 0 and os.path.lexists(self.metrics):
            every = read_metrics(self.metrics)
            rows = [r for r in every if int(float(r["step"])) <= keep_up_to_step]
            if len(rows) < len(every):
                print(f"note: {self.metrics}: dropped {len(every) - len(rows)} row(s) logged after step "
                      f"{keep_up_to_step}, the checkpoint's (training goes on from there and logs them again)",
                      file=sys.stderr)

        def write(path):
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, METRIC_FIELDS)
                w.writeheader()
                w.writerows(rows)
        writing.write_atomically(self.metrics, write)
        return rows

    def log(self, row):
        try:
            with open(self.metrics, "a", newline="") as f:
                csv.DictWriter(f, METRIC_FIELDS).writerow(row)
        except OSError as e:
            raise TrainingError(f"could not add a row to {self.metrics} ({why(e)}): training stopped; "
                                f"{self.kept()}; free some space, then --resume") from None

    def save_grid(self, trainer):
        """The fixed-noise grid of where training is: samples/epoch_NNN.png at an epoch's end,
        epoch_NNN_step_SSSSSSS.png when it stopped inside epoch NNN + 1 (sorted between the two)."""
        name = f"epoch_{trainer.epoch:03d}" + (f"_step_{trainer.step_count:07d}" if trainer.steps_into_epoch
                                               and trainer.step_count else "")
        path = os.path.join(self.samples, name + ".png")
        save_png(image_grid(trainer.grid_images()), path)
        return path

    def save_gif(self):
        """progress.gif from every grid so far; a grid that cannot be read is left out, with a warning."""
        from PIL import Image
        frames, unreadable = [], []
        for path in sorted(glob.glob(os.path.join(self.samples, "epoch_*.png"))):
            try:
                with Image.open(path) as image:
                    frames.append(np.array(image))
            except Exception:
                unreadable.append(os.path.basename(path))
        if unreadable:
            warn(f"progress.gif leaves out {len(unreadable)} unreadable grid(s): {', '.join(unreadable[:3])}")
        frames = [f[:, :, None] if f.ndim == 2 else f for f in frames if f.shape == frames[-1].shape]
        save_gif(frames, self.gif)
        return self.gif

    def side_outputs(self, trainer):
        """The grid, the GIF and the loss plot: each a warning if it fails, never a stop (the checkpoint is saved)."""
        grid = None
        for what, write in (("the sample grid", lambda: self.save_grid(trainer)), ("progress.gif", self.save_gif),
                            ("losses.png", self.plot_losses)):
            try:
                result = write()
                grid = result if what == "the sample grid" else grid
            except Exception as e:
                warn(f"could not write {what} in {self.out} ({type(e).__name__}: {e}); training goes on")
        return grid

    def save_checkpoint(self, trainer):
        """Atomically; a full disk or a write error is one line, and the previous checkpoint is kept.
        A model with NaN or infinite weights or statistics is never saved: the run stops, as on a NaN loss."""
        state = trainer_state(trainer)
        diverged = non_finite_entries(state)
        if diverged:
            raise TrainingError(f"{name_some(diverged)} became NaN or infinite at step {trainer.step_count}: "
                                f"training diverged; {self.kept()}")
        save_checkpoint(self.checkpoint, state, "the previous checkpoint, if any, is kept as it was")

    def kept(self):
        """What a run that stops on divergence leaves: the checkpoint on disk and where it is, or none."""
        if not os.path.exists(self.checkpoint):
            return "no checkpoint was written"
        with np.load(self.checkpoint) as f:
            step, epoch = int(f["step"]), int(f["epoch"])
        return f"the last good checkpoint {self.checkpoint} (step {step}, epoch {epoch}) is kept"

    def plot_losses(self):
        plot_losses(read_metrics(self.metrics), os.path.join(self.out, LOSSES))


# ---------------------------------------------------------------------------------------------- the guards

LOCK_NAME = writing.LOCK_NAME


@contextmanager
def run_folder(out, samples=True, new=True):
    """``with run_folder(out): ...``: the run folder exists, a checkpoint can be saved in it, and this
    process is the only run writing there. If the body (or this) fails, what this call created (the
    folder and its missing parents, samples/, .lock) is removed again where it is still empty, while the
    lock is still held. A run refused because another holds the folder removes nothing: what is there is
    the other run's, even what both saw missing a moment before.
    ``samples=False``: no samples/ (a --per-class run's root: its grids are in the class folders)."""
    created = [path for path in (os.path.join(out, LOCK_NAME), os.path.join(out, SAMPLES))
               if not os.path.lexists(path)] + missing_folders(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise TrainingError(f"--out {out} is a file, not a folder: choose another --out")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        remove_created(created)
        raise TrainingError(cannot_make(out, e)) from None
    with RunLock(out, new):                              # refused: nothing removed
        try:
            make_folder(out, samples)
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


def cannot_make(folder, error):
    """Why the folder ``folder`` cannot be made, in one line that says what is in the way: a broken link, a file
    where a folder must be (itself or a parent), else the system's words; and what to do."""
    path = os.path.abspath(folder)
    while path != os.path.dirname(path):
        if os.path.islink(path) and not os.path.exists(path):
            return f"{path} is a broken link (to {os.readlink(path)}): remove it, or choose another --out"
        if os.path.exists(path) and not os.path.isdir(path):
            what = "the grids' folder of the run" if os.path.basename(path) == SAMPLES else "a folder"
            return f"{path} is a file, where {what} must be: move it away, or choose another --out"
        path = os.path.dirname(path)
    return f"cannot write in the run folder {folder}: {why(error)}; choose another --out"


def make_folder(out, samples=True):
    """Create the run folder (and samples/) and check that a checkpoint can be saved in it, or say in one
    line why not (before any training: a read-only folder would otherwise fail only at the first save)."""
    try:
        os.makedirs(os.path.join(out, SAMPLES) if samples else out, exist_ok=True)
    except OSError as e:
        raise TrainingError(cannot_make(os.path.join(out, SAMPLES) if samples else out, e)) from None
    writing.probe_writable(out, f"the run folder {out}", ".checkpoint-", ".npz", TrainingError)   # as a save will


def describe_run(out):
    """"a run (mnist, step 468, epoch 1)" or "a --per-class run (mnist)" for a folder holding one, or "a run's
    outputs without a checkpoint (...)" for what a run writes (metrics.csv, grids, the GIF, the loss plot, class
    folders) where no checkpoint is; else None."""
    checkpoint = checkpoint_in(out)
    if is_per_class(out):
        return f"a --per-class run ({per_class_dataset(out)})"
    if os.path.isfile(checkpoint):
        try:
            with np.load(checkpoint, allow_pickle=False) as f:
                cfg = json.loads(str(f["config"]))
                return f"a run ({cfg.get('dataset')}, step {int(f['step'])}, epoch {int(f['epoch'])})"
        except Exception:
            return "a run (a checkpoint.npz that cannot be read)"
    left = run_outputs(out)
    return f"{NO_CHECKPOINT} ({name_some(left)})" if left else None


NO_CHECKPOINT = "a run's outputs without a checkpoint"


def run_outputs(out):
    """What a run (or a --per-class run) writes that ``out`` holds, checkpoint aside: names, for a message (the
    grids counted, class folders that hold something)."""
    names = outputs_of(out) if os.path.isdir(out) else []
    grids = [name for name in names if os.path.dirname(name) == SAMPLES]
    classes = [name for name in names if CLASS_FOLDER.fullmatch(name)]
    found = [name for name in names if name not in grids and name not in classes and name != CHECKPOINT]
    if grids:
        found.append(f"{len(grids)} grid(s) in {SAMPLES}/")
    return found + [name + "/" for name in classes if os.listdir(os.path.join(out, name))]


def per_class_dataset(out):
    """The dataset a --per-class run folder's config names."""
    try:
        with open(per_class_config(out)) as f:
            return json.load(f).get("dataset")
    except (OSError, ValueError, AttributeError):
        return f"a {PER_CLASS_CONFIG} that cannot be read"


def refuse_to_replace(out, overwrite, resume_with):
    """A new run stops here, in one line, if ``out`` holds a run and --overwrite was not given."""
    existing = describe_run(out)
    if existing and not overwrite:
        go_on = ("" if existing.startswith(NO_CHECKPOINT) else
                 f"continue it with --resume {shlex.quote(resume_with)}, ")
        raise TrainingError(f"{out} already holds {existing}: {go_on}choose another --out, or pass --overwrite to "
                            "replace it")


REPLACED = ".replaced-"          # + pid: a run's outputs set aside by a new --overwrite run in the same folder


def outputs_of(out):
    """The paths of a run's (or a --per-class run's) outputs in ``out``, relative to it: its files, its grids,
    its class folders."""
    names = [name for name in OUTPUTS + PER_CLASS_OUTPUTS if os.path.lexists(os.path.join(out, name))]
    names += [os.path.join(SAMPLES, os.path.basename(p)) for p in glob.glob(os.path.join(out, SAMPLES, "epoch_*.png"))]
    return names + [os.path.basename(folder) for folder in class_folders(out).values()]


def set_aside(out):
    """Move the outputs of the run ``out`` holds into a hidden OUT/.replaced-PID/ (renames: nothing copied,
    nothing lost); returns that folder, or None when ``out`` held nothing to replace."""
    names = outputs_of(out)
    if not names:
        return None
    aside = os.path.join(out, f"{REPLACED}{os.getpid()}")
    for name in names:
        os.makedirs(os.path.dirname(os.path.join(aside, name)), exist_ok=True)
        os.rename(os.path.join(out, name), os.path.join(aside, name))
    return aside


def put_back(out, aside):
    """Undo ``set_aside``: remove what the new run wrote, move the old run's outputs back, drop ``aside``."""
    clear_outputs(out)
    for folder, _, files in os.walk(aside):
        for name in files:
            source = os.path.join(folder, name)
            target = os.path.join(out, os.path.relpath(source, aside))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(source, target)
    shutil.rmtree(aside, ignore_errors=True)


def recover_set_aside(out):
    """A run killed while its predecessor was set aside (``kill -9``, a power cut): with a checkpoint of its own
    the new run had replaced it, so the old outputs go; without one, they are put back. Each said in a note."""
    for aside in glob.glob(os.path.join(out, REPLACED + "*")):
        pid = aside.rsplit("-", 1)[-1]
        if pid.isdigit() and writing.process_runs(int(pid)):
            continue                                     # its run is alive (and holds the folder's lock)
        if os.path.isfile(checkpoint_in(out)):
            shutil.rmtree(aside, ignore_errors=True)
            print(f"note: removed {aside}, the outputs of the run a killed --overwrite run had replaced",
                  file=sys.stderr)
        else:
            put_back(out, aside)
            print(f"note: put back the run a killed --overwrite run had set aside in {aside}", file=sys.stderr)


def clear_outputs(out):
    """--overwrite, once the new run has started: remove the previous run's outputs (its sample grids too) and
    a previous --per-class run's (its config, classes.png, and each class folder's run), nothing else."""
    for name in outputs_of(out):
        path = os.path.join(out, name)
        if CLASS_FOLDER.fullmatch(name):
            clear_class_folder(path)
        elif os.path.isfile(path):
            os.remove(path)


def clear_class_folder(folder):
    """One class's run of a --per-class run: its outputs, then its lock, samples/ and itself if now empty."""
    clear_outputs(folder)
    remove_created([os.path.join(folder, LOCK_NAME), os.path.join(folder, SAMPLES), folder])


def resume_folder(path):
    """The run folder ``--resume PATH`` continues: PATH itself, or the folder of PATH/checkpoint.npz."""
    if os.path.isdir(path):
        return path
    if os.path.basename(path) == CHECKPOINT:
        return os.path.dirname(path) or "."
    if os.path.exists(path):
        raise TrainingError(f"--resume {path}: give a run folder or its checkpoint.npz (to continue from this file, "
                            "copy it into a folder as checkpoint.npz and --resume that folder)")
    raise TrainingError(f"--resume {path} does not exist: give a run folder or its checkpoint.npz")


def check_resumable(out):
    """--resume OUT where OUT has no checkpoint: one line saying why and what to do (a run still before its
    first save names the process holding the folder; a run killed before it is started again). One class
    of a --per-class run is resumed through the whole run, which knows the class's data."""
    parent = os.path.dirname(os.path.abspath(out))
    if is_per_class(parent) and CLASS_FOLDER.fullmatch(os.path.basename(os.path.abspath(out))):
        root = os.path.dirname(out.rstrip(os.sep)) or "."
        raise TrainingError(f"{out} is one class of the --per-class run {root}: --resume {shlex.quote(root)} "
                            "continues every class that has not finished")
    if os.path.isfile(checkpoint_in(out)):
        return
    if os.path.isdir(checkpoint_in(out)):
        raise TrainingError(f"{checkpoint_in(out)} is a folder, not a checkpoint: --resume needs the file a run saved")
    holder = writing.lock_holder(out)
    if holder:
        raise TrainingError(f"{out} has no checkpoint yet: it is in use by {holder}, a run still before its first "
                            "save; wait for it (or stop it: it saves and stops), then --resume")
    recover_set_aside(out)                               # a killed --overwrite run's predecessor, put back
    if os.path.isfile(checkpoint_in(out)):
        return
    trained = [name for name, folder in sorted(class_folders(out).items()) if os.path.isfile(checkpoint_in(folder))] \
        if os.path.isdir(out) else []
    if trained:
        raise TrainingError(f"{out} holds {len(trained)} class folder(s) with checkpoints but no {PER_CLASS_CONFIG}, "
                            "the --per-class run's settings: it was removed or damaged; put it back to --resume the "
                            "run (nothing was changed; --overwrite would replace the classes' models)")
    left = run_outputs(out)
    if left:
        raise TrainingError(f"{out} has no checkpoint to resume ({NO_CHECKPOINT}: {name_some(left)}; the run "
                            f"was stopped before its first save): start it again with --out {shlex.quote(out)} "
                            "--overwrite")
    raise TrainingError(f"{out} holds no run (no {CHECKPOINT}): give a run folder or its checkpoint.npz")


def remove_orphans(out):
    """Delete temp files of an interrupted checkpoint save; returns how many."""
    orphans = glob.glob(os.path.join(out, ".checkpoint-*.npz"))
    for path in orphans:
        os.remove(path)
    return len(orphans)


class RunLock(writing.FolderLock):
    """``with RunLock(out): ...``: this process is the only run writing to ``out`` (writing.FolderLock).
    ``new=False`` (--resume): the refusal says to wait, not to choose another folder."""

    def __init__(self, out, new=True):
        super().__init__(out, f"the run folder {out}", TrainingError, instead=(
            "wait for it to finish, or choose another --out" if new else
            "wait for it to finish (Ctrl-C or SIGTERM stops it, saved), then --resume"))
