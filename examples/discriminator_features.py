"""The trained discriminator as a feature extractor (Radford et al. 2015, section 5.1).

    python -m examples.discriminator_features --checkpoint runs/fashion-mnist/checkpoint.npz \\
        --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --per-class 10,100,1000

D learnt, without a single label, to tell real images from generated ones.
Does it also know what is *in* an image? The paper's test: freeze D, read
out its hidden layers, and train only a linear classifier on top with a few
labelled images. If D's features are good, that beats a linear classifier on
the raw pixels, most of all when labels are scarce.

The features of one image (D in eval mode: BatchNorm uses its running
statistics, so each image's features do not depend on the rest of the batch)::

    every hidden LeakyReLU output  (C, H, W)  e.g. 64x16x16, 128x8x8, 256x4x4 at 32x32, ndf 64
      -> average-pool to a 4x4 grid  (C, 4, 4)
      -> flatten and concatenate     64*16 + 128*16 + 256*16 = 7168 numbers

(The paper max-pools to 4x4 grids and trains an L2-SVM; a softmax regression
on average-pooled features is the same idea with the layers nn/ already has.)

For each k in --per-class: k labelled training images of every class
(seeded; the smaller sets are subsets of the larger ones), features
standardised with that set's mean and standard deviation, a linear softmax
classifier (nn.Linear + nn.SoftmaxCrossEntropy) trained with nn.Adam and a
small L2 weight decay for a fixed number of steps on mini-batches of up to
1000 (so 1000 labels per class train as fast as 10), then the accuracy on
the whole test split. The same classifier on the raw pixels (in [-1, 1]) is
the baseline. Prints a markdown table; ``--json PATH`` writes it too (an
earlier table there is replaced only with --overwrite; another file never).

It takes an unconditional model: a conditional D (--conditional) sees the
label as extra input channels, so its features would hand the classifier the
answer (refused in one line). A fit whose weights or logits become NaN or
infinite is refused too (try a smaller --lr): no row of the table is then printed.
"""
import argparse
import math
import sys
import time

import numpy as np

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.discriminator_features ...")

import datasets
import nn
from gan import checkpoint, cli, pictures, run_folder, writing
from gan.errors import UserError
from nn import backend

POOL = 4            # every hidden activation is pooled to a POOL x POOL grid
CHUNK = 500         # images per forward pass through D


# --------------------------------------------------------------------------- features

def pool_to_grid(a, size=POOL):
    """(N, C, H, W) -> (N, C, size, size) by averaging each (H/size) x (W/size) block; H, W multiples of size."""
    n, c, h, w = a.shape
    return a.reshape(n, c, size, h // size, size, w // size).mean(axis=(3, 5))


def discriminator_features(D, images, chunk=CHUNK):
    """uint8 images (N, C, S, S) -> float32 features (N, F): every hidden LeakyReLU of D, pooled to 4x4.

    Runs D layer by layer up to its last LeakyReLU (the final conv that makes the logit is skipped).
    """
    D.eval()
    last = max(i for i, layer in enumerate(D.layers) if isinstance(layer, nn.LeakyReLU))
    out = []
    for start in range(0, len(images), chunk):
        x = pictures.to_model_range(images[start:start + chunk])        # (n, C, S, S) on the device
        pooled = []
        for layer in D.layers[:last + 1]:
            x = layer.forward(x)
            if isinstance(layer, nn.LeakyReLU):                        # (n, C_l, H_l, W_l)
                a = backend.to_numpy(x)
                pooled.append(pool_to_grid(a).reshape(len(a), -1))     # (n, C_l * 16)
        out.append(np.concatenate(pooled, axis=1).astype(np.float32))
    D.clear_cache()                                                    # nothing will backpropagate
    return np.concatenate(out)


def pixel_features(images):
    """uint8 (N, C, S, S) -> float32 (N, C*S*S) in [-1, 1]: the baseline."""
    return images.reshape(len(images), -1).astype(np.float32) / 127.5 - 1.0


def feature_layout(D):
    """A readable account of the features, e.g. '64x4x4 + 128x4x4 + 256x4x4 = 7168'."""
    parts, channels = [], None
    for layer in D.layers:
        if isinstance(layer, nn.Conv2d):
            channels = layer.weight.shape[0]                   # weight (C_out, C_in, 4, 4)
        if isinstance(layer, nn.LeakyReLU):
            parts.append(channels)
    return " + ".join(f"{c}x{POOL}x{POOL}" for c in parts) + f" = {sum(parts) * POOL * POOL}"


# --------------------------------------------------------------------------- the linear classifier

def standardise(train, test):
    """Scale every feature to mean 0, std 1 on the training set; constant features (std 0) are only centred."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 1e-6] = 1.0
    train, test = train - mean, test - mean                # new arrays: the caller's stay as they were
    train /= std                                           # in place: these arrays can be hundreds of MB
    test /= std
    return train, test


def batches(n, batch_size, rng):
    """Endless index arrays of a mini-batch each: a new random order every pass, the short remainder dropped."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield np.sort(order[start:start + batch_size])


class Diverged(Exception):
    """A linear fit that became NaN or infinite (``linear_probe`` names which one)."""


def train_linear(x, y, n_classes, args, rng):
    """Softmax regression on host float32 features x (N, F), labels y (N,): Adam, L2 on W.

    ``args.steps`` updates, each on a mini-batch of ``args.batch_size`` (the whole set when
    smaller): a fixed amount of work whatever N is. The loss is convex, so the weights start
    at zero and only the data (and the batch order) decide the result.
    """
    model = nn.Linear(x.shape[1], n_classes)
    model.weight.data = backend.xp().zeros_like(model.weight.data)          # (K, F)
    model.needs_input_grad = False                                         # nobody needs d/dfeatures
    opt = nn.Adam(model, lr=args.lr)
    loss_fn = nn.SoftmaxCrossEntropy()
    b = min(args.batch_size, len(x))
    next_batch = batches(len(x), b, rng)
    if b == len(x):
        xb, yb = backend.to_device(x), backend.to_device(y)                # full batch: copy once
    for _ in range(args.steps):
        if b < len(x):
            idx = next(next_batch)
            xb, yb = backend.to_device(x[idx]), backend.to_device(y[idx])  # (b, F), (b,)
        model.zero_grad()
        loss, dlogits = loss_fn(model.forward(xb), yb)                     # logits (b, K)
        if not math.isfinite(float(loss)):
            raise Diverged(f"its loss became {float(loss)}")
        model.backward(dlogits)
        model.weight.grad += args.weight_decay * model.weight.data         # d/dW of (wd / 2) |W|^2
        opt.step()
    return model


def accuracy(model, x, y, chunk=2000):
    if not all(np.isfinite(backend.to_numpy(p.data)).all() for p in model.parameters()):
        raise Diverged("its weights became NaN or infinite")
    correct = 0
    for i in range(0, len(x), chunk):
        logits = backend.to_numpy(model.forward(backend.to_device(x[i:i + chunk])))
        if not np.isfinite(logits).all():
            raise Diverged("its outputs became NaN or infinite")
        correct += int(np.sum(np.argmax(logits, axis=1) == y[i:i + chunk]))
    model.clear_cache()
    return correct / len(x)


def linear_probe(train, y_train, test, y_test, n_classes, args, what):
    """Standardise, train, and return the test accuracy; a fit that diverged is one line naming ``what``."""
    train, test = standardise(train, test)
    try:
        with np.errstate(over="ignore", invalid="ignore"):               # an overflow is refused, in one line
            model = train_linear(train, y_train, n_classes, args, np.random.default_rng(args.seed))
            return accuracy(model, test, y_test)
    except Diverged as e:
        raise UserError(f"the linear classifier on {what} diverged ({e}) with --lr {args.lr:g} and --weight-decay "
                        f"{args.weight_decay:g}: no table is printed from it; try a smaller --lr "
                        f"(the default: 0.001)") from None


# --------------------------------------------------------------------------- labelled subsets

def per_class_order(labels, n_classes, k_max, rng):
    """For each class a random order of k_max of its training indices; the first k of each are the k-subset."""
    order = []
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < k_max:
            raise UserError(f"class {c} has only {len(idx)} training images, "
                                      f"fewer than --per-class {k_max}")
        order.append(rng.permutation(idx)[:k_max])
    return np.stack(order)                                                 # (n_classes, k_max)


def per_class_list(text):
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"need positive integers, got {text!r}")
    return values


def markdown_table(rows):
    lines = ["| labels per class | D features | raw pixels |", "| ---: | ---: | ---: |"]
    lines += [f"| {r['per_class']} | {r['d_features']:.4f} | {r['raw_pixels']:.4f} |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line

def parser():
    p = cli.command_parser(
        "python -m examples.discriminator_features",
        "Linear classifiers on a trained DCGAN discriminator's features versus on raw pixels, "
        "with few labels (Radford et al. 2015, section 5.1).")
    p.add_argument("--checkpoint", required=True, type=cli.path_text,
                   help="a checkpoint.npz written by dcgan.py (an unconditional model), or its run folder")
    p.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist", "cifar10"],
                   help="labelled data (default: the checkpoint's dataset)")
    p.add_argument("--data-dir", default=None, type=cli.path_text,
                   help="folder with the dataset's files (default: the checkpoint's)")
    p.add_argument("--per-class", type=per_class_list, default="10,100,1000", metavar="K,K,...",
                   help="labelled training images per class, one table row each")
    p.add_argument("--steps", type=cli.positive_int, default=200,
                   help="Adam updates of each linear classifier (the same for every row)")
    p.add_argument("--batch-size", type=cli.positive_int, default=1000,
                   help="labelled images per update (all of them when there are fewer)")
    p.add_argument("--lr", type=cli.number_type(float, lambda v: 0 < v <= 1, "above 0 and at most 1"), default=1e-3,
                   help="Adam learning rate (Adam moves every weight by about this much a step)")
    p.add_argument("--weight-decay", type=cli.nonnegative_float, default=1e-3,
                   help="L2 penalty on the classifier's weights")
    p.add_argument("--seed", type=cli.seed_int, default=0,
                   help="seed for the choice of labelled images and the batch order")
    cli.add_backend_flag(p)
    p.add_argument("--json", default=None, metavar="PATH", type=cli.path_text, help="also write the table as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace the table an earlier run wrote to --json")
    return p


JSON_KEYS = ("checkpoint", "d_features", "raw_pixels", "rows")          # what marks a file as this program's --json


def run(args):
    if args.overwrite and not args.json:
        raise UserError("--overwrite is for --json (an earlier run's table): leave it out")
    cli.use_backend(args.backend)
    ckpt = run_folder.checkpoint_file(args.checkpoint)
    cfg, _, D = checkpoint.load_models(checkpoint.load_checkpoint(ckpt), ckpt)
    if cfg.conditional or cfg.n_classes:
        raise UserError(f"{ckpt} is a conditional model (trained with --conditional, {cfg.n_classes} classes): "
                        "its D sees the label, so its features would give the answer away; this example takes "
                        "an unconditional model (a run trained without --conditional)")
    if args.json:                                                 # before the work, not after it
        writing.output_file(args.json, "--json", inputs=[ckpt], overwrite=args.overwrite,
                            ours=writing.json_with_keys(*JSON_KEYS), what="an earlier run's table")
    dataset = args.dataset or cfg.dataset
    if dataset not in ("mnist", "fashion-mnist", "cifar10"):
        raise UserError(f"the checkpoint was trained on {dataset}, which has no labels: "
                                  f"pass --dataset and --data-dir")
    data_dir = args.data_dir or (cfg.data_dir if dataset == cfg.dataset else None)
    x_train, y_train = datasets.load_dataset(dataset, data_dir=data_dir, image_size=cfg.image_size, split="train")
    x_test, y_test = datasets.load_dataset(dataset, data_dir=data_dir, image_size=cfg.image_size, split="test")
    if x_train.shape[1] != cfg.nc:
        raise UserError(f"{dataset} has {x_train.shape[1]} channels, the checkpoint's D takes {cfg.nc}")
    n_classes = int(y_train.max()) + 1

    # one seeded order per class; every k-subset is a prefix of it, so features are computed once
    order = per_class_order(y_train, n_classes, max(args.per_class), np.random.default_rng(args.seed))
    chosen = np.sort(order.ravel())                                        # every training image any row uses
    images, labels = x_train[chosen], y_train[chosen]
    t0 = time.perf_counter()
    feats_train = discriminator_features(D, images)                        # (len(chosen), F)
    feats_test = discriminator_features(D, x_test)                         # (N_test, F)
    if not (np.isfinite(feats_train).all() and np.isfinite(feats_test).all()):
        raise UserError(f"{ckpt}: its D gives NaN or infinite features: the checkpoint holds a diverged model")
    print(f"{dataset}: D features {feature_layout(D)} per image, "
          f"{len(chosen)} training + {len(x_test)} test images in {time.perf_counter() - t0:.1f} s")
    pixels_train, pixels_test = pixel_features(images), pixel_features(x_test)

    rows = []
    for k in args.per_class:
        t0 = time.perf_counter()
        rows_k = np.searchsorted(chosen, order[:, :k].ravel())             # (n_classes * k,) rows of feats_train
        acc_d = linear_probe(feats_train[rows_k], labels[rows_k], feats_test, y_test, n_classes, args,
                             f"D's features ({k} per class)")
        acc_px = linear_probe(pixels_train[rows_k], labels[rows_k], pixels_test, y_test, n_classes, args,
                              f"raw pixels ({k} per class)")
        rows.append({"per_class": k, "n_train": len(rows_k), "d_features": acc_d, "raw_pixels": acc_px})
        print(f"{k} per class ({len(rows_k)} images): D features {acc_d:.4f}, raw pixels {acc_px:.4f}  "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    print()
    print(markdown_table(rows))
    if args.json:
        table = {"checkpoint": ckpt, "dataset": dataset, "n_test": len(x_test),
                 "d_features": int(feats_test.shape[1]), "raw_pixels": int(pixels_test.shape[1]),
                 "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                 "weight_decay": args.weight_decay, "seed": args.seed, "rows": rows}
        writing.write_atomically(args.json, lambda tmp: writing.write_json(tmp, table), replace=args.overwrite)
        print(f"wrote {args.json}")


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
