"""Walking and doing arithmetic in a trained generator's latent space (Radford et al. 2015, section 6).

    python -m examples.latent_space --checkpoint runs/fashion-mnist/checkpoint.npz \\
        --classifier runs/classifier-fashion.npz --out latent/

Two experiments, two images in --out:

latent_grid.png, a walk: four random corner vectors z, and an 8x8 grid whose
cells blend them. Down the left edge z goes from the top-left to the
bottom-left corner, down the right edge likewise, and every row goes from
its left to its right end; each step is a spherical interpolation (slerp,
as in ``dcgan.py generate --interpolate``: N(0, I) samples lie near a sphere,
and a straight line between two of them passes through short, unlikely
vectors). If G has learnt a smooth map, the images change gradually: no
sudden jumps, no memorised training images.

arithmetic.png, vector arithmetic: the paper found that
z(smiling woman) - z(neutral woman) + z(neutral man) draws a smiling man.
Here the concepts are Fashion-MNIST classes. Sample --n vectors z, let the
classifier (examples/train_classifier.py) say what G drew from each, keep the
images it is sure of (probability > --threshold) and average the z of the
--average most confident ones per class (the paper averaged 3 hand-picked
ones; more are steadier): single vectors are noisy, their mean keeps what
the images share. Then, for the default ``--arithmetic Pullover-T-shirt+Dress``::

    z = mean_z(Pullover) - mean_z(T-shirt) + mean_z(Dress)     ("long sleeves, put on a dress")

One row per term and one for the result, each: the image of the vector,
then images of that vector plus N(0, 0.25^2 I) noise (as in the paper), to
show what is near it. The classifier's verdict on the result row is printed.

BatchNorm: G normalises with the statistics of the batch it is given, as in
training. A row of near-identical vectors is not a batch G ever saw (its
batch statistics would cancel the very vector we care about), so the
arithmetic images are generated inside a batch of ordinary random z and
only their images are kept. The grid is one batch of 64, as dcgan.py draws
its sample grids.

It takes an unconditional model (a conditional one, trained with
--conditional, draws a class it is told: refused in one line). Everything
is checked and computed before anything is written; images of an earlier
run in --out are replaced only with --overwrite.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.latent_space ...")

from gan import checkpoint, cli, models, pictures, quality, run_folder, writing
from gan.errors import UserError, why


GRID = 8                   # the walk is GRID x GRID images
NEIGHBOURS = 7             # noisy copies per arithmetic row, after the vector's own image
NOISE = 0.25               # their standard deviation (the paper's)
CONTEXT = 128              # ordinary random z that share the batch with the arithmetic rows
DEFAULT_ARITHMETIC = {"fashion-mnist": "Pullover-T-shirt+Dress"}


# --------------------------------------------------------------------------- the walk

def grid_latents(corners, size=GRID):
    """corners (4, nz) = top-left, top-right, bottom-left, bottom-right -> (size*size, nz), row by row."""
    tl, tr, bl, br = corners
    out = []
    for t in np.linspace(0.0, 1.0, size):                    # down the grid
        left, right = models.slerp(tl, bl, t), models.slerp(tr, br, t)
        out += [models.slerp(left, right, s) for s in np.linspace(0.0, 1.0, size)]   # across the row
    return np.stack(out).astype(np.float32)


def latent_grid(G, nz, rng):
    corners = rng.standard_normal((4, nz))
    z = grid_latents(corners)                                # (64, nz)
    return models.sample(G, z[:, :, None, None])              # (64, C, H, W), one batch


# --------------------------------------------------------------------------- arithmetic

def parse_arithmetic(text, names):
    """'Boot-Sneaker+Sandal' -> [(+1, 9), (-1, 7), (+1, 5)]; names may contain '-' ('T-shirt'), case is ignored."""
    s = text.replace(" ", "")
    terms, sign, i = [], 1, 0
    while True:
        matches = [n for n in names if s[i:].lower().startswith(n.lower())]
        if not matches:
            raise UserError(f"--arithmetic {text!r}: no class name at {s[i:]!r}; "
                                      f"the classes are {', '.join(names)}")
        name = max(matches, key=len)                         # longest match: 'T-shirt' rather than a shorter name
        terms.append((sign, names.index(name)))
        i += len(name)
        if i == len(s):
            break
        if s[i] not in "+-":
            raise UserError(f"--arithmetic {text!r}: expected + or - at {s[i:]!r}")
        sign = 1 if s[i] == "+" else -1
        i += 1
    if len(terms) < 2:
        raise UserError(f"--arithmetic {text!r}: needs at least two classes, e.g. A-B+C")
    return terms


def class_means(z, probs, classes, names, threshold, min_count, average):
    """Mean z (nz,) of the ``average`` most confident samples of each class in ``classes``.

    z (N, nz), probs (N, K). Raises TrainingError naming every class with too few confident samples.
    """
    pred, conf = np.argmax(probs, axis=1), np.max(probs, axis=1)
    means, short = {}, []
    for c in sorted(set(classes)):
        sure = np.flatnonzero((pred == c) & (conf > threshold))
        print(f"  {names[c]}: {len(sure)} of {len(z)} samples classified with probability > {threshold}")
        if len(sure) < min_count:
            short.append(f"{names[c]} ({len(sure)})")
            continue
        best = sure[np.argsort(-conf[sure])][:average]
        means[c] = z[best].mean(axis=0)
    if short:
        raise UserError(f"too few confident samples (need {min_count}) for: {', '.join(short)}; "
                                  f"try a larger --n, a lower --threshold, or a better-trained checkpoint")
    return means


def sample_in_context(G, z, context):
    """G(z) for z (M, nz, 1, 1), generated in one batch together with ordinary random z ``context``."""
    return models.sample(G, np.concatenate([z, context]), chunk=len(z) + len(context))[:len(z)]


def verdict(probs, names):
    """'Sandal x5, Boot x3 (mean confidence 0.87)' for the images of one row."""
    counts = np.bincount(np.argmax(probs, axis=1), minlength=len(names))
    seen = ", ".join(f"{names[c]} x{counts[c]}" for c in np.argsort(-counts) if counts[c])
    return f"{seen} (mean confidence {np.mean(np.max(probs, axis=1)):.2f})"


def arithmetic_plan(cfg, args):
    """The classifier of --classifier, checked against the generator, and the terms of --arithmetic:
    (model, class names, text, terms). Everything that can be refused is, before any work."""
    model, meta = quality.load_classifier(args.classifier)
    if meta["dataset"] != cfg.dataset or (meta["nc"], meta["image_size"]) != (cfg.nc, cfg.image_size):
        raise quality.QualityError(
            f"classifier {args.classifier} takes {meta['dataset']} {meta['nc']}x{meta['image_size']}"
            f"x{meta['image_size']}, the generator draws {cfg.dataset} {cfg.nc}x{cfg.image_size}"
            f"x{cfg.image_size}")
    names = quality.CLASS_NAMES.get(meta["dataset"], [str(i) for i in range(meta["n_classes"])])
    text = args.arithmetic or DEFAULT_ARITHMETIC.get(meta["dataset"])
    if text is None:
        raise UserError(f"no default --arithmetic for {meta['dataset']}: pass one, e.g. "
                                  f"--arithmetic '{names[1]}-{names[2]}+{names[3]}'")
    return model, names, text, parse_arithmetic(text, names)


def arithmetic(G, cfg, args, rng, plan):
    """Classify --n samples, average z per class, do the arithmetic; returns the rows' images (R*8, C, H, W)."""
    model, names, text, terms = plan
    nz = cfg.nz
    z = rng.standard_normal((args.n, nz, 1, 1)).astype(np.float32)
    _, probs = quality.classify(model, models.sample(G, z))                  # (n, K)
    print(f"classified {args.n} samples:")
    means = class_means(z[:, :, 0, 0], probs, [c for _, c in terms], names,
                        args.threshold, args.min_per_class, args.average)
    result = sum(sign * means[c] for sign, c in terms)                      # (nz,)

    rows = [means[c] for _, c in terms] + [result]                          # one vector per row
    z_rows = np.stack([np.concatenate([v[None], v + NOISE * rng.standard_normal((NEIGHBOURS, nz))])
                       for v in rows]).astype(np.float32)                   # (R, 1 + NEIGHBOURS, nz)
    context = rng.standard_normal((CONTEXT, nz, 1, 1)).astype(np.float32)
    images = sample_in_context(G, z_rows.reshape(-1, nz, 1, 1), context)     # (R * 8, C, H, W)
    _, row_probs = quality.classify(model, images)
    row_probs = row_probs.reshape(len(rows), 1 + NEIGHBOURS, -1)
    labels = [("+" if sign > 0 else "-") + names[c] for sign, c in terms] + [f"= {text}"]
    print(f"arithmetic.png rows (the vector, then {NEIGHBOURS} neighbours at noise {NOISE}), "
          f"as the classifier sees them:")
    for label, p in zip(labels, row_probs):
        print(f"  {label:24s} {verdict(p, names)}")
    result_class = names[int(np.argmax(row_probs[-1].mean(axis=0)))]
    print(f"the result {text} is classified as {result_class}")
    return images


# --------------------------------------------------------------------------- command line

def arithmetic_text(text):
    """--arithmetic: any text but the empty one (which would silently mean the default); parsed once the
    classifier's class names are known."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (leave --arithmetic out for the dataset's default)")
    return text


def parser():
    p = cli.command_parser(
        "python -m examples.latent_space",
        "A latent-space walk (latent_grid.png) and vector arithmetic on class-averaged z "
        "(arithmetic.png), after Radford et al. 2015, section 6.")
    p.add_argument("--checkpoint", required=True, type=cli.path_text,
                   help="a checkpoint.npz written by dcgan.py (an unconditional model), or its run folder")
    p.add_argument("--classifier", default=None, type=cli.path_text,
                   help="a classifier .npz from examples/train_classifier.py (without it: only the walk)")
    p.add_argument("--out", required=True, type=cli.path_text, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace latent_grid.png and arithmetic.png of an earlier run in --out")
    p.add_argument("--arithmetic", default=None, metavar="A-B+C", type=arithmetic_text,
                   help="class names joined by + and -, e.g. Boot-Sneaker+Sandal "
                        "(default for fashion-mnist: Pullover-T-shirt+Dress)")
    p.add_argument("--n", type=cli.positive_int, default=2000, help="samples classified to find each class's z")
    p.add_argument("--threshold", default=0.9, help="classifier probability that counts as sure",
                   type=cli.number_type(float, lambda v: 0 <= v < 1, "at least 0 and below 1"))
    p.add_argument("--min-per-class", type=cli.positive_int, default=3,
                   help="confident samples a class needs for the arithmetic")
    p.add_argument("--average", type=cli.positive_int, default=10,
                   help="average the z of up to this many most confident samples per class (the paper: 3)")
    p.add_argument("--seed", type=cli.seed_int, default=0, help="seed for every z drawn")
    cli.add_backend_flag(p)
    return p


ARITHMETIC_FLAGS = ("--arithmetic", "--n", "--threshold", "--min-per-class", "--average")
OUTPUTS = ("latent_grid.png", "arithmetic.png")


def refuse_flags(args):
    """Flags that would do nothing, or cannot all hold, stop the run in one line before anything is read."""
    if args.classifier is None:
        for flag in ARITHMETIC_FLAGS:
            if flag in args.given:
                raise UserError(f"{flag} is only used by the vector arithmetic, which needs --classifier: "
                                f"add --classifier, or leave {flag} out")
    elif args.n < args.min_per_class:
        raise UserError(f"--n {args.n} samples cannot hold --min-per-class {args.min_per_class} confident "
                        f"samples of a class: raise --n or lower --min-per-class")


def check_out(out, overwrite):
    """--out holds no images of an earlier run unless --overwrite replaces them (nothing else is ever touched)."""
    if not os.path.isdir(out):
        return
    earlier = [name for name in OUTPUTS if os.path.lexists(os.path.join(out, name))]
    if earlier and not overwrite:
        raise UserError(f"--out {out} already holds {' and '.join(earlier)} of an earlier run: choose another "
                        f"--out, or pass --overwrite to replace them")
    for name in earlier:
        if not os.path.isfile(os.path.join(out, name)):
            raise UserError(f"--out {out}: {name} is not a file, so not an earlier run's image: move it away")


def run(args):
    refuse_flags(args)
    cli.use_backend(args.backend)
    ckpt = run_folder.checkpoint_file(args.checkpoint)
    cfg, G, _ = checkpoint.load_models(checkpoint.load_checkpoint(ckpt), ckpt)
    if cfg.conditional or cfg.n_classes:
        raise UserError(f"{ckpt} is a conditional model (trained with --conditional, {cfg.n_classes} classes): "
                        "this example takes an unconditional model (a run trained without --conditional)")
    plan = arithmetic_plan(cfg, args) if args.classifier is not None else None
    check_out(args.out, args.overwrite)
    writing.output_folder(args.out)

    rng = np.random.default_rng(args.seed)
    grid = latent_grid(G, cfg.nz, rng)
    images = arithmetic(G, cfg, args, rng, plan) if plan else None       # all the work, then the writing
    path = os.path.join(args.out, "latent_grid.png")
    save_grid(grid, GRID, path)
    print(f"wrote {path}: a {GRID}x{GRID} walk between 4 random corners")
    stale = os.path.join(args.out, "arithmetic.png")
    if images is None:
        if os.path.lexists(stale):                         # an earlier run's (--overwrite): not this run's result
            try:
                os.remove(stale)
            except OSError as e:
                raise UserError(f"could not remove the earlier run's {stale} ({why(e)}): latent_grid.png is "
                                "this run's, that arithmetic.png is not") from None
        print("no --classifier: skipped the vector arithmetic")
        return
    path = os.path.join(args.out, "arithmetic.png")
    save_grid(images, 1 + NEIGHBOURS, path)
    print(f"wrote {path}: {len(images) // (1 + NEIGHBOURS)} rows of {1 + NEIGHBOURS}")


def save_grid(images, nrow, path):
    writing.write_atomically(path, lambda tmp: pictures.save_png(pictures.image_grid(images, nrow=nrow), tmp))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.given = {token.split("=")[0] for token in argv if token.startswith("--")}      # the flags typed
    return cli.run_command(run, args)


if __name__ == "__main__":
    sys.exit(main())
