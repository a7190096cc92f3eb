"""Sampling a saved model: the ``generate`` and ``evaluate`` commands and ``SavedModel`` behind them.

``SavedModel(path)`` is whatever a person may point at: a checkpoint.npz, a
run folder, or a --per-class run folder (one generator per class).
``generate`` writes PNGs, samples.npy, a grid and optionally a latent-space
walk; ``evaluate`` scores samples (generated, a .npy or a PNG folder) with a
classifier (``quality.py``).
"""
import argparse
import glob
import json
import os

import numpy as np

from . import quality
from .checkpoint import PER_CLASS_CONFIG, class_folder, load_checkpoint, load_models
from .cli import HelpFormatter, add_backend_flag, positive_int, seed_int, use_backend
from .config import Config
from .errors import UserError
from .models import sample, slerp
from .pictures import image_grid, save_gif, save_png, to_uint8


class SavedModel:
    """A trained generator to sample from: a checkpoint.npz, a run folder, or a --per-class run folder.

    ``classes`` lists the classes it can be asked for (empty: an unconditional model).
    """

    def __init__(self, path, generator="average"):
        self.path, self.generator = path, generator
        self.per_class = os.path.isdir(path) and os.path.exists(os.path.join(path, PER_CLASS_CONFIG))
        if self.per_class:
            with open(os.path.join(path, PER_CLASS_CONFIG)) as f:
                self.cfg = Config.from_json(f.read())
            self.classes = sorted(int(d[6:]) for d in os.listdir(path)
                                  if d.startswith("class_") and os.path.exists(os.path.join(path, d, "checkpoint.npz")))
            if not self.classes:
                raise UserError(f"{path}: a per-class run without any class checkpoint yet")
            self._generators = {}
            return
        ckpt = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
        self.cfg, self.G, _ = load_models(load_checkpoint(ckpt), ckpt, generator)
        self.n_classes = self.cfg.n_classes
        self.classes = list(range(self.n_classes))

    def _class_generator(self, k):
        if k not in self._generators:
            ckpt = os.path.join(class_folder(self.path, k), "checkpoint.npz")
            self._generators[k] = load_models(load_checkpoint(ckpt), ckpt, self.generator)[1]
        return self._generators[k]

    def generate(self, n, rng, bn_stats="batch", class_index=None):
        """n images (host float32, [-1, 1]) and their classes (None for an unconditional model)."""
        if class_index is not None and class_index not in self.classes:
            if not self.classes:
                raise UserError(f"--class: {self.path} is not a conditional or per-class model")
            raise UserError(f"--class {class_index}: this model knows classes {self.classes[0]}..{self.classes[-1]}")
        z = rng.standard_normal((n, self.cfg.nz, 1, 1)).astype(np.float32)
        if self.per_class:
            labels = np.full(n, class_index) if class_index is not None else np.array(self.classes)[np.arange(n) % len(self.classes)]
            images = np.empty((n, self.cfg.nc, self.cfg.image_size, self.cfg.image_size), np.float32)
            for k in np.unique(labels):
                images[labels == k] = sample(self._class_generator(int(k)), z[labels == k], bn_stats)
            return images, labels
        if not self.n_classes:
            return sample(self.G, z, bn_stats), None
        labels = np.full(n, class_index) if class_index is not None else rng.integers(0, self.n_classes, n)
        return sample(self.G, z, bn_stats, labels=labels, n_classes=self.n_classes), labels


def evaluate_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py evaluate", formatter_class=HelpFormatter,
        description="Score generated images with a classifier trained by examples/train_classifier.py: "
                    "Frechet classifier distance to the real test images (with the real-train-vs-real-test "
                    "floor), class coverage and mean confidence.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="sample --n images from this checkpoint (or run folder; a "
                                             "--per-class run folder: an equal share from every class)")
    source.add_argument("--samples", help="score these instead: a samples.npy (N, C, H, W) in [-1, 1] "
                                          "or a folder of PNG images")
    p.add_argument("--classifier", required=True, help="classifier .npz")
    p.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist"],
                   help="the real images (default: the checkpoint's, else the classifier's dataset)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the dataset's files (default: the checkpoint's, else the classifier's)")
    p.add_argument("--n", type=positive_int, default=10000, help="samples to generate from --checkpoint")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for z")
    p.add_argument("--bn-stats", default="batch", choices=["batch", "running"], help="as in generate")
    add_generator_flag(p)
    add_backend_flag(p)
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    return p


def add_generator_flag(parser):
    parser.add_argument("--generator", default="average", choices=["average", "raw"],
                        help="average: the averaged generator of a run trained with --ema (G itself if there is "
                             "none); raw: G's own weights")


TOLERANCE = 1e-3                   # float samples may overshoot [-1, 1] by rounding, not more


def check_samples(images, source):
    """Samples to score must be at least 2, finite, and uint8 or floats in [-1, 1]: else one line, not a score."""
    if len(images) < 2:
        raise UserError(f"{source}: {len(images)} sample(s); a Frechet distance needs at least 2")
    if images.dtype == np.uint8:
        return
    if not np.all(np.isfinite(images)):
        raise UserError(f"{source}: {int(np.sum(~np.isfinite(images)))} values are NaN or infinite")
    low, high = float(images.min()), float(images.max())
    if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
        raise UserError(f"{source}: samples range over [{low:g}, {high:g}], not [-1, 1] (what G draws and "
                        "generate's samples.npy holds); rescale them, e.g. x / 127.5 - 1 for 0..255")


def load_samples(path):
    """A samples.npy (float in [-1, 1]) or a folder of PNGs (uint8) as (N, C, H, W)."""
    from PIL import Image
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.png")))
        files = [f for f in files if os.path.basename(f)[0].isdigit()] or files    # skip grid.png if numbered ones exist
        if not files:
            raise UserError(f"no PNG images in {path}")
        arrays = []
        for f in files:
            try:
                with Image.open(f) as image:
                    arrays.append(np.array(image))
            except Exception as e:
                raise UserError(f"{f} cannot be read as an image ({type(e).__name__}: {e})") from None
        if any(a.dtype != np.uint8 for a in arrays):
            raise UserError(f"the PNG images in {path} must be 8-bit (found {sorted({str(a.dtype) for a in arrays})}): "
                            "score what generate writes, or a samples.npy in [-1, 1]")
        if len({a.shape for a in arrays}) != 1:
            raise UserError(f"the PNG images in {path} do not all have the same size")
        x = np.stack(arrays)
        return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"samples {path} cannot be read ({type(e).__name__}: {e})") from None
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
        raise UserError(f"samples {path} must be a float array (N, C, H, W), got {x.dtype} {x.shape}")
    return x.astype(np.float32)


def evaluate(args):
    use_backend(args.backend)
    cfg = None
    if args.checkpoint:
        model = SavedModel(args.checkpoint, args.generator)
        cfg = model.cfg
        images, _ = model.generate(args.n, np.random.default_rng(args.seed), args.bn_stats)
    else:
        images = load_samples(args.samples)
    check_samples(images, args.checkpoint or args.samples)
    classifier = quality.load_classifier(args.classifier)
    cls_meta = classifier[1]
    dataset = args.dataset or (cfg.dataset if cfg else cls_meta["dataset"])
    data_dir = args.data_dir or (cfg.data_dir if cfg else None) or cls_meta.get("data_dir")
    scorer = quality.make_scorer(classifier, dataset, data_dir, images.shape[2], images.shape[1], len(images))
    result = scorer(images)
    result["dataset"] = dataset
    print(quality.format_table(result, quality.CLASS_NAMES.get(dataset)))
    if args.json:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        except OSError as e:
            raise UserError(f"cannot write --json {args.json}: {e.strerror or e}") from None
        print(f"wrote {args.json}")


def generate_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py generate", formatter_class=HelpFormatter,
        description="Write images sampled from a trained generator: N PNGs, samples.npy (N, C, H, W) "
                    "float32 in [-1, 1] and grid.png; optionally a latent-space interpolation GIF.")
    p.add_argument("--checkpoint", required=True,
                   help="a checkpoint.npz written by training, or a run folder (a --per-class run's folder too)")
    p.add_argument("--class", dest="class_index", type=int, default=None, metavar="K",
                   help="only class K (conditional and per-class models); without it they also write "
                        "classes.png, one row per class")
    p.add_argument("--n", type=positive_int, default=64, help="number of images")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for z: same seed = same images")
    add_backend_flag(p)
    add_generator_flag(p)
    p.add_argument("--bn-stats", default="batch", choices=["batch", "running"],
                   help="BatchNorm statistics: batch (each batch's own, as in training) or running (the averages)")
    p.add_argument("--interpolate", type=positive_int, default=None, metavar="K",
                   help="also write interpolation.gif: 16 walks through latent space, K frames each, "
                        "by spherical interpolation between random z")
    return p


def generate(args):
    use_backend(args.backend)
    model = SavedModel(args.checkpoint, args.generator)
    rng = np.random.default_rng(args.seed)
    images, labels = model.generate(args.n, rng, args.bn_stats, args.class_index)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out} cannot be a folder: {e.strerror or e}") from None
    np.save(os.path.join(args.out, "samples.npy"), images)
    if labels is not None:
        np.save(os.path.join(args.out, "labels.npy"), labels)
    for i, tile in enumerate(to_uint8(images)):
        save_png(tile, os.path.join(args.out, f"{i:05d}.png"))
    save_png(image_grid(images[:64]), os.path.join(args.out, "grid.png"))
    print(f"wrote {args.n} images, samples.npy {images.shape} and grid.png to {args.out}")
    if model.classes and args.class_index is None:
        rows = [model.generate(8, np.random.default_rng(args.seed), args.bn_stats, k)[0] for k in model.classes]
        save_png(image_grid(np.concatenate(rows)), os.path.join(args.out, "classes.png"))
        print("wrote classes.png: one row per class")
    if args.interpolate:
        if model.per_class:
            raise UserError("--interpolate needs one generator: pass a class's checkpoint "
                                f"({class_folder(args.checkpoint, 0)}/checkpoint.npz)")
        k = args.interpolate
        ends = rng.standard_normal((2, 16, model.cfg.nz)).astype(np.float32)
        walk_labels = np.full(16, args.class_index) if args.class_index is not None else (
            rng.integers(0, model.n_classes, 16) if model.n_classes else None)
        frames = []
        for t in np.linspace(0.0, 1.0, k):
            zt = np.stack([slerp(a, b, t) for a, b in zip(ends[0], ends[1])]).astype(np.float32)
            walk = sample(model.G, zt[:, :, None, None], args.bn_stats, labels=walk_labels, n_classes=model.n_classes)
            frames.append(image_grid(walk, nrow=4))
        save_gif(frames + frames[-2:0:-1], os.path.join(args.out, "interpolation.gif"), duration_ms=120)
        print(f"wrote interpolation.gif ({k} frames there and back) to {args.out}")
