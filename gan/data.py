"""The Config meets the data: the data a Config names, and what only the data can say about the model.

``load_training_data(cfg)`` loads it; ``fit_to_data(cfg, images, labels)``
returns the Config with the channels and (conditional) the classes filled
in, or stops in one line when the data cannot train it (fewer images than
a batch, a class with no images, other channels than a checkpoint's);
``planned_steps`` is how many steps a run of the Config takes on the data.
"""
import dataclasses
import os
import sys

import numpy as np

import datasets

from .errors import TrainingError, name_some


def load_training_data(cfg):
    """(images, labels) of the data the Config names: --dataset, --data-dir, --image-size, --strict-data; with a
    note where its images are resized to --image-size."""
    if cfg.data_dir and os.path.exists(cfg.data_dir) and not os.path.isdir(cfg.data_dir):
        raise TrainingError(f"--data-dir {cfg.data_dir} is a file: give the folder that holds the dataset's files")
    if cfg.data_dir and not os.path.isdir(cfg.data_dir):
        raise TrainingError(f"the data folder {cfg.data_dir} does not exist (moved or renamed?): pass --data-dir "
                            "with the folder where the data is now (--resume takes --data-dir too)")
    if cfg.dataset == "folder" and cfg.data_dir and inside(cfg.out, cfg.data_dir):
        raise TrainingError(f"the run folder {cfg.out} is inside the image folder {cfg.data_dir}: the run's grids "
                            "and plots would become training images; choose an --out outside it")
    note = datasets.resize_note(cfg.dataset, cfg.image_size)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return datasets.load_dataset(cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size,
                                 strict=cfg.strict_data)


def inside(path, folder):
    """Is ``path`` the folder ``folder`` or somewhere below it (links resolved)?"""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def fit_to_data(cfg, images, labels):
    """The Config with what only the data can say filled in: channels, and classes for a conditional model."""
    nc = cfg.nc if cfg.nc is not None else int(images.shape[1])
    n_classes = conditional_classes(labels, cfg.n_classes) if cfg.conditional else cfg.n_classes
    if images.shape[1] != nc:
        raise TrainingError(f"the data has {images.shape[1]} channels, the checkpoint's model {nc}")
    if len(images) < cfg.batch_size:
        raise TrainingError(f"{len(images)} images is fewer than one batch of {cfg.batch_size}: "
                            f"pass a smaller --batch-size (at most {len(images)}) or add images")
    return dataclasses.replace(cfg, nc=nc, n_classes=n_classes)


def planned_steps(cfg, n_images):
    """The steps a run of this Config takes: its epochs of full batches, or --max-steps if that is fewer."""
    steps = cfg.epochs * (n_images // cfg.batch_size)
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


def conditional_classes(labels, saved=0):
    """How many classes a conditional model has: the checkpoint's (``saved``), or one per label value from 0 to
    the largest, each of which must have images (one stray label of 99 would build a 100-class model)."""
    n = int(labels.max()) + 1
    if saved and n > saved:
        raise TrainingError(f"--conditional: the data has label {n - 1}, the checkpoint's model knows classes "
                            f"0..{saved - 1}: resume with the data it was trained on")
    if saved:
        return saved
    if n == 1:
        print("note: --conditional: the data has one class (an image folder's classes are its first-level "
              "subfolders), so the labels tell G and D nothing", file=sys.stderr)
    empty = np.flatnonzero(np.bincount(labels, minlength=n) == 0)
    if empty.size:
        raise TrainingError(f"--conditional: the labels run up to {n - 1}, but {empty.size} of the classes 0..{n - 1} "
                            f"have no images ({name_some([str(k) for k in empty])}): a conditional model needs images "
                            "of every class; check the data's labels")
    return n
