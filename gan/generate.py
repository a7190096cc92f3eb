"""The ``generate`` command: images sampled from a saved model, and ``SavedModel``, what it samples from.

``SavedModel(path)`` is whatever a person may point at: a checkpoint.npz, a
run folder, or a --per-class run folder (one generator per class); ``evaluate``
samples from it too. ``generate`` writes PNGs, samples.npy, a grid and
optionally a latent-space walk, all at once (staged in a temp folder, then
renamed into place), and never over the output of an earlier generate unless
``--overwrite``. ``generated.json`` (``GENERATED``) says what drew them.
"""
import json
import os
import shutil
import sys

import numpy as np

from .checkpoint import load_checkpoint, load_models, read_config_file
from .cli import use_backend
from .errors import UserError
from .memory import FLOAT32, check_fits, human
from .models import sample, slerp
from .pictures import image_grid, save_gif, save_png, to_uint8
from .run_folder import (check_class_checkpoint, checkpoint_file, checkpoint_in, class_folder, class_folders,
                         is_per_class, missing_folders, per_class_config, remove_created)
from .errors import name_some
from .writing import FolderLock, StagedFolder, output_folder, write_json

GENERATED = "generated.json"
GENERATE_OUTPUTS = ("samples.npy", "labels.npy", "grid.png", "classes.png", "interpolation.gif", GENERATED)


class SavedModel:
    """A trained generator to sample from: a checkpoint.npz, a run folder, or a --per-class run folder.

    ``classes`` lists the classes it can be asked for (empty: an unconditional model).
    """

    def __init__(self, path, generator="average"):
        self.path, self.generator = path, generator
        self.per_class = is_per_class(path)
        if self.per_class:
            self.classes = [k for k, folder in class_folders(path).items()
                            if os.path.exists(checkpoint_in(folder))]
            if not self.classes:
                raise UserError(f"{path}: a per-class run without any class checkpoint yet")
            read_config_file(per_class_config(path))                 # a damaged per_class.json: one line
            gaps = sorted(set(range(self.classes[-1] + 1)) - set(self.classes))
            if gaps:
                print(f"note: {path} has no checkpoint for class(es) {name_some([str(k) for k in gaps])}: "
                      f"sampling classes {name_some([str(k) for k in self.classes])}", file=sys.stderr)
            self._generators = {}
            self.files = [checkpoint_in(class_folder(path, k)) for k in self.classes]
            self.cfg = self.class_generator(self.classes[0])[0]      # what the data said (channels), unlike per_class.json
            return
        ckpt = checkpoint_file(path)
        self.files = [ckpt]                                         # the files read: a program's inputs
        self.cfg, self.G, _ = load_models(load_checkpoint(ckpt), ckpt, generator)
        self.n_classes = self.cfg.n_classes
        self.classes = list(range(self.n_classes))

    def class_generator(self, k):
        """(config, G) of class k's run, checked to be class k's (``check_class_checkpoint``)."""
        if k not in self._generators:
            ckpt = checkpoint_in(class_folder(self.path, k))
            cfg, G, _ = load_models(load_checkpoint(ckpt), ckpt, self.generator)
            check_class_checkpoint(ckpt, k, cfg.out)
            self._generators[k] = cfg, G
        return self._generators[k]

    def check_class(self, class_index):
        """--class K must be one of the model's classes (None: any)."""
        if class_index is not None and class_index not in self.classes:
            if not self.classes:
                raise UserError(f"--class: {self.path} is not a conditional or per-class model")
            raise UserError(f"--class {class_index}: this model knows classes {self.classes[0]}..{self.classes[-1]}")

    def check_fits(self, n):
        """--n images and their z, checked against the memory before drawing any."""
        c, s = self.cfg.nc or 1, self.cfg.image_size
        check_fits(n * (c * s * s + self.cfg.nz) * FLOAT32, f"--n {n} images of {c}x{s}x{s}", "the images and their z")

    def generate(self, n, rng, bn_stats="batch", class_index=None):
        """n images (host float32, [-1, 1]) and their classes (None for an unconditional model)."""
        self.check_class(class_index)
        z = rng.standard_normal((n, self.cfg.nz, 1, 1)).astype(np.float32)
        images, labels = self._draw(z, rng, bn_stats, class_index)
        check_finite(images, self.path)
        return images, labels

    def _draw(self, z, rng, bn_stats, class_index):
        n = len(z)
        if self.per_class:
            labels = np.full(n, class_index) if class_index is not None else np.array(self.classes)[np.arange(n) % len(self.classes)]
            images = np.empty((n, self.cfg.nc, self.cfg.image_size, self.cfg.image_size), np.float32)
            for k in np.unique(labels):
                images[labels == k] = sample(self.class_generator(int(k))[1], z[labels == k], bn_stats)
            return images, labels
        if not self.n_classes:
            return sample(self.G, z, bn_stats), None
        labels = np.full(n, class_index) if class_index is not None else rng.integers(0, self.n_classes, n)
        return sample(self.G, z, bn_stats, labels=labels, n_classes=self.n_classes), labels


def check_finite(images, source):
    """G's images are finite, or its checkpoint is broken: one line, before anything is written."""
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        raise UserError(f"{source}: G drew {int(bad.sum())} of {len(images)} images with NaN or infinite values: "
                        "its weights or BatchNorm statistics are not finite (a run that diverged?); use a "
                        "checkpoint saved before that. Nothing was written")


def generate_writes(name):
    """Could generate have written a file of this name? Its numbered PNGs and ``GENERATE_OUTPUTS``, nothing else."""
    return name in GENERATE_OUTPUTS or (name.endswith(".png") and name[:-4].isdigit())


def earlier_output(out):
    """The files an earlier generate wrote into ``out``: the regular files its generated.json lists ("files")
    that generate could have written (a listed notes.txt of yours is not one: it is never replaced); a
    generated.json older than that list: its numbered PNGs and ``GENERATE_OUTPUTS``. No generated.json:
    nothing here is generate's. A generated.json that cannot be read is one line (a UserError)."""
    manifest = os.path.join(out, GENERATED)
    if not os.path.isfile(manifest):
        return []
    try:
        with open(manifest, encoding="utf-8") as f:
            about = json.load(f)
        if not isinstance(about, dict):
            raise ValueError(f"a JSON {type(about).__name__}, not generate's object")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{manifest} cannot be read ({e}): so what an earlier generate wrote in {out} is unknown, "
                        "and nothing there is replaced; choose a new or empty --out") from None
    listed = about.get("files")
    if listed is None:                                       # an older generate's: its names say what is its
        listed = os.listdir(out)
    elif not (isinstance(listed, list) and all(isinstance(n, str) for n in listed)):
        raise UserError(f"{manifest}: its \"files\" is not a list of file names: so what an earlier generate wrote "
                        f"in {out} is unknown, and nothing there is replaced; choose a new or empty --out")
    return sorted(n for n in set(listed) & set(os.listdir(out)) | {GENERATED}
                  if generate_writes(n) and os.path.isfile(os.path.join(out, n)) and not os.path.islink(os.path.join(out, n)))


def describe_output(names):
    """"20 images, samples.npy, grid.png"."""
    images = sum(n[:-4].isdigit() for n in names)
    return ", ".join(([f"{images} images"] if images else []) + [n for n in names if not n[:-4].isdigit()])


def prepare_out(args, model):
    """--out made, writable, holding nothing but an earlier generate's output (and that only with --overwrite),
    with room for samples.npy; returns the earlier output's file names (what --overwrite replaces)."""
    output_folder(args.out)
    earlier = earlier_output(args.out)
    others = sorted(n for n in os.listdir(args.out) if n not in earlier and not n.startswith("."))   # folders too
    if others:
        raise UserError(f"{args.out} holds files generate did not write ({name_some(others)}): nothing there is "
                        "replaced or mixed with samples; choose a new or empty --out")
    if earlier and not args.overwrite:
        raise UserError(f"{args.out} already holds the output of an earlier generate ({describe_output(earlier)}): "
                        "choose another --out, or pass --overwrite to replace it")
    c, s = model.cfg.nc or 1, model.cfg.image_size
    needed, free = args.n * c * s * s * FLOAT32, shutil.disk_usage(args.out).free
    if needed > free:
        raise UserError(f"--n {args.n}: samples.npy alone needs {human(needed)}, the disk of {args.out} has "
                        f"{human(free)} free")
    return earlier


def interpolation_frames(model, args, rng):
    """--interpolate K: K frames of 16 slerp walks between random z, there and back (a --per-class run's:
    in the generator of --class K)."""
    ends = rng.standard_normal((2, 16, model.cfg.nz)).astype(np.float32)
    if model.per_class:
        G, n_classes, walk_labels = model.class_generator(args.class_index)[1], 0, None
    else:
        G, n_classes = model.G, model.n_classes
        walk_labels = np.full(16, args.class_index) if args.class_index is not None else (
            rng.integers(0, n_classes, 16) if n_classes else None)
    frames = []
    for t in np.linspace(0.0, 1.0, args.interpolate):
        zt = np.stack([slerp(a, b, t) for a, b in zip(ends[0], ends[1])]).astype(np.float32)
        walk = sample(G, zt[:, :, None, None], args.bn_stats, labels=walk_labels, n_classes=n_classes)
        frames.append(image_grid(walk, nrow=4))
    return frames + frames[-2:0:-1]


def write_samples(args, model):
    """Draw the samples and write them into --out, all at once: (the earlier output it replaced, the images,
    classes.png's rows or None, interpolation.gif's frames or None). --out is checked again under the lock."""
    earlier = prepare_out(args, model)
    rng = np.random.default_rng(args.seed)
    images, labels = model.generate(args.n, rng, args.bn_stats, args.class_index)
    rows = None
    if model.classes and args.class_index is None:
        rows = [model.generate(8, np.random.default_rng(args.seed), args.bn_stats, k)[0] for k in model.classes]
    frames = interpolation_frames(model, args, rng) if args.interpolate else None
    about = {"checkpoint": os.path.abspath(args.checkpoint), "dataset": model.cfg.dataset, "n": args.n,
             "seed": args.seed, "class": args.class_index, "generator": args.generator, "bn_stats": args.bn_stats}
    with StagedFolder(args.out) as stage:                  # all or nothing: a full disk changes nothing in --out
        stage.write("samples.npy", lambda path: np.save(path, images))
        if labels is not None:
            stage.write("labels.npy", lambda path: np.save(path, labels))
        for i, tile in enumerate(to_uint8(images)):
            stage.write(f"{i:05d}.png", lambda path: save_png(tile, path))
        stage.write("grid.png", lambda path: save_png(image_grid(images[:64]), path))
        if rows is not None:
            stage.write("classes.png", lambda path: save_png(image_grid(np.concatenate(rows)), path))
        if frames is not None:
            stage.write("interpolation.gif", lambda path: save_gif(frames, path, duration_ms=120))
        about["files"] = sorted(stage.names + [GENERATED])           # what --overwrite may replace, and only that
        stage.write(GENERATED, lambda path: write_json(path, about))
        stage.commit()
        for name in set(earlier) - set(stage.names):       # --overwrite: the earlier output is replaced whole
            os.remove(os.path.join(args.out, name))
    return earlier, images, rows, frames


def generate(args):
    use_backend(args.backend)
    model = SavedModel(args.checkpoint, args.generator)
    model.check_class(args.class_index)
    if args.interpolate and model.per_class and args.class_index is None:
        raise UserError(f"--interpolate walks one generator, and {args.checkpoint} is a --per-class run (one per "
                        f"class): add --class K, K one of {', '.join(map(str, model.classes))}")
    model.check_fits(args.n)
    created = missing_folders(args.out)                 # removed again if generate ends without writing
    try:
        prepare_out(args, model)             # refused before a .lock is put into a folder that is not generate's
        with FolderLock(args.out, f"--out {args.out}", remove=True):     # one generate at a time in a folder
            earlier, images, rows, frames = write_samples(args, model)
    except BaseException:
        remove_created(created)
        raise
    replaced = f" (replacing an earlier generate's {describe_output(earlier)})" if earlier else ""
    print(f"wrote {args.n} images, samples.npy {images.shape} and grid.png to {args.out}{replaced}")
    if rows is not None:
        print("wrote classes.png: one row per class")
    if frames is not None:
        print(f"wrote interpolation.gif ({args.interpolate} frames there and back) to {args.out}")
