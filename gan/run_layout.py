"""The layout of a run folder, in one place: what each file in it is called, and where a --per-class run keeps
its classes. Everything that reads or writes a run folder asks here.

    OUT/checkpoint.npz      everything needed to resume (gan/checkpoint.py)
    OUT/metrics.csv         a row every --log-every steps
    OUT/samples/            epoch_NNN.png: the fixed-noise grid at step 0 and after every epoch
    OUT/progress.gif        those grids, in order
    OUT/losses.png          the curves of metrics.csv

A --per-class run folder holds ``per_class.json`` (its Config), ``classes.png`` (one row per class) and one
run folder per class, ``class_KK/``.
"""
import os
import re

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


def checkpoint(folder):
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
