"""What a run reports as it trains: opening lines, metrics rows, the progress bar, epoch lines, the closing line.

``EpochLog`` is one epoch's bookkeeping: each step's statistics (loss_d,
loss_g, D(x), D(G(z))) are summed on the device; every --log-every steps
they are copied to the host once, checked for NaN/inf and written as a
metrics.csv row (with the quality score at an epoch's end, if
--eval-every asks); the epoch ends with one summary line. ``closing_line``
is the last line of a run: why it ended, where, and how to continue it.
"""
import os
import shlex
import time

import numpy as np

from nn import backend
from nn.fast import cpu_kernels

from .errors import TrainingError
from .models import chosen_layers, layers_name, shape_line


class EpochLog:
    """The statistics, metrics.csv rows, progress bar and summary line of the epoch under way."""

    def __init__(self, trainer, run, progress=True, score_samples=None):
        self.trainer, self.run, self.score_samples = trainer, run, score_samples
        self.epoch = trainer.epoch + 1
        self.bar = progress_bar(trainer.batches_per_epoch, trainer.steps_into_epoch,
                                f"epoch {self.epoch}/{trainer.cfg.epochs}", progress)
        self.sums, self.steps = None, 0                    # device-side sums since the last row
        self.epoch_sums, self.epoch_steps = 0.0, 0         # host-side, for the summary line
        self.note = ""                                     # the quality score, for the summary line
        self.epoch_done = False                            # until the step of the epoch's last batch
        self.started = self.last_row = time.perf_counter()

    def add(self, stats):
        """One step's statistics, added on the device: no host transfer; every --log-every steps and at the
        epoch's end, the row of the steps since the last one (a loop that stops earlier: ``close``)."""
        self.sums = stats if self.sums is None else self.sums + stats
        self.steps += 1
        self.bar.update(1)
        self.epoch_done = self.trainer.batch_index >= self.trainer.batches_per_epoch      # its last batch
        if self.steps == self.trainer.cfg.log_every or self.epoch_done:
            self.write_row(self.epoch_done)

    def write_row(self, epoch_done):
        """The mean since the last row, copied to the host once and checked, as a metrics.csv row; at the
        epoch's end the quality score too (every --eval-every epochs). Returns the mean."""
        cfg = self.trainer.cfg
        mean = backend.to_numpy(self.sums) / self.steps    # the one host transfer
        self.check_finite(mean)
        now = time.perf_counter()
        row = {"step": self.trainer.step_count, "epoch": self.epoch, "loss_d": f"{mean[0]:.5f}",
               "loss_g": f"{mean[1]:.5f}", "d_x": f"{mean[2]:.5f}", "d_g_z": f"{mean[3]:.5f}",
               "images_per_s": f"{self.steps * cfg.batch_size / max(now - self.last_row, 1e-9):.1f}"}
        row.update(self.run.doctor.signs())                # G's fixed-noise samples: how varied (gan/diagnosis.py)
        if epoch_done and self.score_samples and self.epoch % cfg.eval_every == 0:
            row["fcd"], row["top_two_share"], self.note = score(self.score_samples)
            self.started += time.perf_counter() - now      # scoring is not training time
            now = time.perf_counter()
        self.run.log(row)
        said = self.run.doctor.watch(row)                   # a line when the diagnosis changes, else None
        if said:
            self.bar.write(said)
        self.bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}", img_s=row["images_per_s"])
        self.epoch_sums, self.epoch_steps = self.epoch_sums + mean * self.steps, self.epoch_steps + self.steps
        self.sums, self.steps, self.last_row = None, 0, now
        self.trainer.last_losses = mean

    def check_finite(self, mean):
        """A NaN or infinite loss stops the run in one line, saying which checkpoint is kept."""
        if not np.all(np.isfinite(mean)):
            self.bar.close()
            raise TrainingError(f"loss became {mean[0] if not np.isfinite(mean[0]) else mean[1]} at step "
                                f"{self.trainer.step_count}: training diverged; {self.run.kept()}")

    def close(self):
        """The row of steps not yet written (--max-steps or a stop request ended the epoch early); a
        completed epoch counts, and ends with its summary line."""
        if self.steps:
            self.write_row(self.epoch_done)
        self.bar.close()
        if self.epoch_done:
            self.trainer.epoch += 1
            print(self.summary_line(), flush=True)

    def summary_line(self):
        """The epoch's mean statistics and speed (scoring time left out), after ``close``."""
        cfg = self.trainer.cfg
        seconds = time.perf_counter() - self.started
        m = self.epoch_sums / self.epoch_steps
        return (f"epoch {self.epoch}/{cfg.epochs}  step {self.trainer.step_count}  loss_d {m[0]:.3f}  "
                f"loss_g {m[1]:.3f}  D(x) {m[2]:.3f}  D(G(z)) {m[3]:.3f}  "
                f"{self.epoch_steps * cfg.batch_size / seconds:.0f} img/s  {seconds:.1f} s{self.note}")


def score(score_samples):
    """The quality score of the sampler now: (metrics.csv's fcd and top_two_share fields, the note for the
    summary line)."""
    scored = score_samples()
    note = (f"  FCD {scored['fcd']:.2f} (floor {scored['fcd_real_floor']:.2f}), "
            f"{scored['classes_covered']} classes, confidence {scored['mean_confidence']:.2f}")
    top_two = sum(sorted(scored["class_histogram"])[-2:])
    return f"{scored['fcd']:.4f}", f"{top_two:.4f}", note


def progress_bar(total, initial, desc, enabled):
    """A tqdm bar of the epoch's steps that disappears when closed (``enabled`` False: --no-progress)."""
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False,
                disable=not enabled, dynamic_ncols=True)


def layers_text(layers):
    """The --layers value of ``layers``, "nn" or "fast"; where NumPy's default chose the readable ones, with
    a word on the faster ones: "nn (the readable ones; --layers fast trains faster)"; a student's folder with
    the exercises it holds: "my_layers (yours: relu, batchnorm; the rest nn's)"; nn.fast on NumPy with what
    runs its element-wise work: "fast (numba 0.61.0 on 2 threads)", or why numba does not."""
    name = layers_name(layers)
    if name == "nn" and backend.name() == "numpy" and chosen_layers() is None:
        return "nn (the readable ones; --layers fast trains faster)"
    if getattr(layers, "student_exercises", None):
        return f"{name} (yours: {', '.join(layers.student_exercises)}; the rest nn's)"
    words = cpu_kernels.in_words() if name == "fast" else None
    return f"fast ({words})" if words else name


def idle_flag_notes(trainer):
    """Notes on run-length flags that will do nothing in this run (else they would pass without a word):
    --max-steps not above where the run is, or beyond its end; --eval-every with no epoch to score."""
    cfg, per_epoch, at = trainer.cfg, trainer.batches_per_epoch, trainer.step_count
    total = cfg.epochs * per_epoch
    notes = []
    if cfg.max_steps and cfg.max_steps <= at:
        notes.append(f"--max-steps {cfg.max_steps} is not above the run's step {at}: nothing is trained (raise it, "
                     "or leave it out)")
    elif cfg.max_steps and cfg.max_steps >= total:
        notes.append(f"--max-steps {cfg.max_steps} is not below the run's {total} steps ({cfg.epochs} epoch(s) of "
                     f"{per_epoch}): it changes nothing")
    if cfg.eval_every:
        last = min(cfg.epochs, (cfg.max_steps or total) // max(per_epoch, 1))     # the last epoch that completes
        if not any(e % cfg.eval_every == 0 for e in range(trainer.epoch + 1, last + 1)):
            notes.append(f"--eval-every {cfg.eval_every}: no epoch this run completes (up to epoch {last}) is a "
                         f"multiple of {cfg.eval_every}, so nothing is scored; lower --eval-every")
    return [f"note: {note}" for note in notes]


def opening_lines(trainer, new_run):
    """What is trained, on what, where; resuming, where training picks up and how far it goes; then the shapes
    G and D make, layer by layer (as PyTorch's example prints netG and netD)."""
    cfg = trainer.cfg
    lines = [f"{cfg.dataset}: {len(trainer.images)} images {tuple(trainer.images.shape[1:])}, backend "
             f"{backend.name()}, layers {layers_text(trainer.layers)}, G {trainer.G.num_parameters():,} and "
             f"D {trainer.D.num_parameters():,} parameters, {trainer.batches_per_epoch} steps per epoch, "
             f"run folder {cfg.out}"]
    if not new_run:
        inside = f", {trainer.steps_into_epoch} steps into epoch {trainer.epoch + 1}" if trainer.steps_into_epoch else ""
        lines.append(f"resuming at step {trainer.step_count} ({trainer.epoch} of {cfg.epochs} epochs done{inside}); "
                     f"training to epoch {cfg.epochs}" + (f" or step {cfg.max_steps}" if cfg.max_steps else ""))
    k, size = cfg.n_classes, cfg.image_size
    lines.append(shape_line("G", trainer.G, (cfg.nz + k, 1, 1)))
    lines.append(shape_line("D", trainer.D, (cfg.nc + k, size, size)) + "   (python dcgan.py --show-model: every layer)")
    return "\n".join(lines)


def closing_line(trainer, run, stopped_by, seconds, steps, grid, run_root):
    """Why training ended, where it is, the last losses, what it wrote, and the command that continues it."""
    cfg = trainer.cfg
    where = f"{trainer.epoch} of {cfg.epochs} epochs" + (f" + {trainer.steps_into_epoch} steps"
                                                         if trainer.steps_into_epoch else "")
    why = f"stopped by {stopped_by}" if stopped_by else (
        "finished" if trainer.epoch >= cfg.epochs else f"stopped at --max-steps {cfg.max_steps}")
    losses = (f"; last losses D {trainer.last_losses[0]:.3f} G {trainer.last_losses[1]:.3f}"
              if trainer.last_losses is not None else "")
    again = f"python dcgan.py --resume {shlex.quote(run_root or cfg.out)}"
    resume = (f"; to train more: {again} --epochs N, N above {cfg.epochs} (the total)" if trainer.epoch >= cfg.epochs
              else f"; continue with: {again}")
    return (f"{why}: step {trainer.step_count} ({where}), {steps} steps in {seconds:.0f} s{losses}; checkpoint "
            f"{run.checkpoint}" +
            (f", grid {grid} ({'averaged G' if trainer.G_avg is not None else 'G'})" if grid else "") +
            (f", {run.gif}" if os.path.exists(run.gif) else "") + resume)
