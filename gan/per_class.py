"""--per-class: one DCGAN per class, each a normal run in its own folder OUT/class_KK/.

``train_per_class(cfg, train, ...)`` checks what every class's run needs
before the first one starts (``check_per_class_start``), then trains the
classes one after the other with ``train`` (dcgan.py's, passed in: nothing
in gan/ imports dcgan.py), and finally draws OUT/classes.png, one row of
samples per class.
"""
import dataclasses
import os
import pathlib
import shutil
import sys

import numpy as np

from . import quality
from .checkpoint import checkpoint_config, load_checkpoint, load_models, load_resumable
from .config import resumed
from .errors import TrainingError
from .data import load_training_data
from .models import grid_noise, sample
from .pictures import image_grid, save_png
from .run_folder import (CLASSES_GRID, check_class_checkpoint, checkpoint_in, class_folder, per_class_config, put_back,
                         refuse_to_replace, run_folder, set_aside)
from .writing import write_atomically


def train_per_class(cfg, train, progress=True, resuming=False, overwrite=False):
    """--per-class (one DCGAN per class): one G/D pair per class, each a normal run in OUT/class_KK/,
    trained by ``train`` (dcgan.train: one run, returning its Trainer).

    Resuming continues each class where it stopped and skips finished ones. A new per-class run sets aside
    what OUT held (with --overwrite) once the data is loaded and every class has a batch, and drops it once a
    class has saved a trained checkpoint; stopped or failed before that, the old run is put back.
    At the end OUT/classes.png shows 8 samples of every class's generator, one row each.
    """
    with run_folder(cfg.out, samples=False, new=not resuming):
        if not resuming:
            refuse_to_replace(cfg.out, overwrite, cfg.out)
        images, labels = load_training_data(cfg)
        check_per_class_start(cfg, labels)
        if len(np.unique(labels)) == 1:
            print(f"note: --per-class: the data has one class (an image folder's classes are its first-level "
                  f"subfolders): one run, in {class_folder(cfg.out, int(labels[0]))}", file=sys.stderr)
        aside = None if resuming else set_aside(cfg.out)          # the old run: put back unless a class trains
        try:
            write_atomically(per_class_config(cfg.out), lambda tmp: pathlib.Path(tmp).write_text(cfg.to_json()))
            rows = []
            for k in np.unique(labels):
                sub = dataclasses.replace(cfg, per_class=False, out=class_folder(cfg.out, int(k)))
                ckpt = checkpoint_in(sub.out)
                state = load_resumable(ckpt) if resuming and os.path.exists(ckpt) else None
                print(f"--- class {k} ---")
                if state is not None:
                    check_class_run(cfg, checkpoint_config(state, ckpt), ckpt, int(k))
                elif resuming:
                    print(f"note: class {k} has no checkpoint in {sub.out}: it trains from the start",
                          file=sys.stderr)
                if state is not None and int(state["epoch"]) >= cfg.epochs:
                    print(f"{ckpt}: already trained {int(state['epoch'])} epochs")
                else:
                    if state is not None:
                        sub = resumed(checkpoint_config(state, ckpt), sub.out, cfg)   # as the driver resumed
                    trainer = train(sub, state, progress, data=(images, labels), class_filter=int(k),
                                    run_root=cfg.out, overwrite=state is None)   # a class folder without a checkpoint
                    if aside and trainer.step_count > 0 and os.path.exists(ckpt):   # is ours to redo
                        shutil.rmtree(aside, ignore_errors=True)      # a class has trained: the old run is replaced
                        aside = None
                    if trainer.interrupted:
                        return
                _, G, _ = load_models(load_checkpoint(ckpt), ckpt)
                rows.append(sample(G, grid_noise(cfg, 8)))            # the first row of the class's own grids
        finally:
            if aside:
                put_back(cfg.out, aside)
                print(f"note: {cfg.out} holds the run it held before (the new --per-class run trained no class)",
                      file=sys.stderr)
        save_png(image_grid(np.concatenate(rows)), os.path.join(cfg.out, CLASSES_GRID))
    print(f"wrote {os.path.join(cfg.out, CLASSES_GRID)}: one row per class")


SHARED = ("dataset", "image_size", "nz", "ngf", "ndf", "head", "batch_size", "lr", "beta1", "real_label",
          "instance_noise", "ema")            # what per_class.json and every class's checkpoint agree on


def check_class_run(cfg, saved, ckpt, k):
    """Resuming class k: its checkpoint is class k's own, and agrees with per_class.json on the model and the
    optimiser (else one of them was edited or copied in: one line, nothing trained)."""
    check_class_checkpoint(ckpt, k, saved.out)
    differ = [f"{name} ({getattr(cfg, name)} vs {getattr(saved, name)})" for name in SHARED
              if getattr(cfg, name) != getattr(saved, name)]
    if differ:
        raise TrainingError(f"{per_class_config(cfg.out)} and {ckpt} disagree on {', '.join(differ)}: one of them "
                            "was edited or copied in; nothing was trained")


def check_per_class_start(cfg, labels):
    """What every class's run needs, checked before the first one starts: a batch of images of each class,
    and the --eval-every classifier."""
    counts = np.bincount(labels)
    smallest = int(np.flatnonzero(counts)[np.argmin(counts[counts > 0])])
    if counts[smallest] < cfg.batch_size:
        raise TrainingError(f"--per-class: class {smallest} has {counts[smallest]} images, fewer than one batch of "
                            f"{cfg.batch_size}: pass a smaller --batch-size (at most {counts[smallest]}) or add images")
    if cfg.eval_every:
        quality.load_classifier(cfg.classifier)
