"""What a run writes in its folder: metrics.csv, the sample grids, progress.gif, losses.png, checkpoint.npz.

``Run(out)`` names each file and writes it. The checkpoint is written first
and atomically; the pictures after it are each only a warning if they fail
(they can be drawn again from the checkpoint). The guards around the folder
itself (its lock, what it held before, --overwrite) are in runfolder.py.
"""
import csv
import glob
import os
import sys

import numpy as np

from . import files
from .checkpoint import name_some, non_finite_entries, save_checkpoint
from .errors import TrainingError
from .pictures import image_grid, plot_losses, save_gif, save_png

METRIC_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "fcd"]


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


class Run:
    """The run folder: metrics.csv, sample grids, progress.gif, losses.png, checkpoint.npz."""

    def __init__(self, out):
        self.out = out
        self.samples = os.path.join(out, "samples")
        self.checkpoint = os.path.join(out, "checkpoint.npz")
        self.metrics = os.path.join(out, "metrics.csv")
        self.gif = os.path.join(out, "progress.gif")

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
        files.write_atomically(self.metrics, write)

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
        state = trainer.state()
        diverged = non_finite_entries(state)
        if diverged:
            raise TrainingError(f"{name_some(diverged)} became NaN or infinite at step {trainer.step_count}: "
                                f"training diverged; {self.kept()}")
        try:
            save_checkpoint(self.checkpoint, state)
        except OSError as e:
            raise TrainingError(f"could not write {self.checkpoint} ({files.why(e)}); the previous checkpoint, "
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
        plot_losses(rows, os.path.join(self.out, "losses.png"))
