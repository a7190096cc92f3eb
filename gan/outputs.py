"""What a run writes in its folder: metrics.csv, the sample grids, progress.gif, losses.png, checkpoint.npz.

``Run(out)`` names each file and writes it. The checkpoint is written first
and atomically; the pictures after it are each only a warning if they fail
(they can be drawn again from the checkpoint). The guards around the folder
itself (its lock, what it held before, --overwrite) are in runfolder.py.

``open_run`` is a run's life around the training loop: the folder locked and
checked before anything is loaded; then, once training starts
(``Run.training``), stop signals heard, what an older run left replaced, the
opening lines, the closing line; ``goes_on``, ``steps_on`` and ``save`` are
what the loop asks and does.
"""
import csv
import glob
import math
import os
import sys
import time
from contextlib import contextmanager

import numpy as np

from . import run_layout, writing
from .checkpoint import name_some, non_finite_entries, save_checkpoint, trainer_state
from .errors import TrainingError
from .pictures import image_grid, plot_losses, save_gif, save_png
from .report import closing_line, opening_lines
from .runfolder import clear_outputs, refuse_to_replace, remove_orphans, run_folder
from .signals import StopRequest

METRIC_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "fcd"]


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


@contextmanager
def open_run(out, new, overwrite=False, run_root=None):
    """The run folder ``out``, locked for this process (one writer at a time), as a ``Run``. A ``new`` run
    refuses a folder that holds a run unless ``overwrite`` (``run_root``: the --per-class run it belongs
    to); what an interrupted checkpoint save left is removed, with a note."""
    with run_folder(out):
        if new:
            refuse_to_replace(out, overwrite, run_root or out)
        if remove_orphans(out):
            print(f"note: removed the temp file(s) of an interrupted checkpoint save in {out}", file=sys.stderr)
        yield Run(out, new, run_root)


class Run:
    """The run folder: metrics.csv, sample grids, progress.gif, losses.png, checkpoint.npz."""

    def __init__(self, out, new=True, run_root=None):
        self.out, self.new, self.run_root = out, new, run_root
        self.samples = os.path.join(out, run_layout.SAMPLES)
        self.checkpoint = run_layout.checkpoint(out)
        self.metrics = os.path.join(out, run_layout.METRICS)
        self.gif = os.path.join(out, run_layout.GIF)
        self.stop, self.grid = None, None

    @contextmanager
    def training(self, trainer):
        """From the first step to the closing line: SIGTERM and Ctrl-C ask the loop to stop and save; a new
        run replaces what the folder held (--overwrite) here, once it is known to start; the opening
        lines, the step-0 grid, metrics.csv (rewritten up to a resumed step); the closing line."""
        with StopRequest() as self.stop:
            if self.new:
                clear_outputs(self.out)
            self.start_metrics(trainer.step_count)
            print(opening_lines(trainer, self.new))
            if trainer.step_count == 0:
                self.save_grid(trainer)
            started, first_step = time.perf_counter(), trainer.step_count
            yield self
            trainer.interrupted = self.stop.requested
        print(closing_line(trainer, self, self.stop.requested, time.perf_counter() - started,
                           trainer.step_count - first_step, self.grid, self.run_root), flush=True)

    def goes_on(self, trainer):
        """Another epoch: epochs left, --max-steps not reached, no stop asked for (a stop before the first
        step still goes once round, to save a new run's step-0 checkpoint, so that it can be resumed)."""
        cfg = trainer.cfg
        return (trainer.epoch < cfg.epochs and trainer.step_count < (cfg.max_steps or math.inf)
                and not (self.stop.requested and os.path.exists(self.checkpoint)))

    def steps_on(self, trainer):
        """Another step: --max-steps not reached and no stop asked for."""
        return trainer.step_count < (trainer.cfg.max_steps or math.inf) and not self.stop.requested

    def save(self, trainer):
        """The checkpoint first, then what can be drawn again from it (the grid, the GIF, the loss plot)."""
        self.save_checkpoint(trainer)
        self.grid = self.side_outputs(trainer)

    def start_metrics(self, keep_up_to_step):
        """Keep rows up to the resumed step (a crash may have logged beyond the checkpoint), rewritten
        atomically: a failure while rewriting leaves the old metrics.csv as it was."""
        rows = []
        if keep_up_to_step > 0 and os.path.exists(self.metrics):
            with open(self.metrics, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_up_to_step]

        def write(path):
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, METRIC_FIELDS)
                w.writeheader()
                w.writerows(rows)
        writing.write_atomically(self.metrics, write)

    def log(self, row):
        with open(self.metrics, "a", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS).writerow(row)

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
        try:
            save_checkpoint(self.checkpoint, state)
        except OSError as e:
            raise TrainingError(f"could not write {self.checkpoint} ({writing.why(e)}); the previous checkpoint, "
                                "if any, is kept as it was") from None

    def kept(self):
        """What a run that stops on divergence leaves: the checkpoint on disk and where it is, or none."""
        if not os.path.exists(self.checkpoint):
            return "no checkpoint was written"
        with np.load(self.checkpoint) as f:
            step, epoch = int(f["step"]), int(f["epoch"])
        return f"the last good checkpoint {self.checkpoint} (step {step}, epoch {epoch}) is kept"

    def plot_losses(self):
        with open(self.metrics, newline="") as f:
            rows = list(csv.DictReader(f))
        plot_losses(rows, os.path.join(self.out, run_layout.LOSSES))
