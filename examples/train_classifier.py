"""Train the small CNN that scores generated images (quality.py), with nn/ and Adam only.

    python -m examples.train_classifier --dataset fashion-mnist \\
        --data-dir /usr/share/datasets/fashion-mnist --out classifier-fashion.npz

Trains on the training split, reports the test split's accuracy after every
epoch, saves the model (.npz, written atomically) and prints the test
accuracy as its last line: ``test accuracy 0.9123``. Then
``python dcgan.py evaluate --classifier classifier-fashion.npz ...`` uses it.

The recipe (defaults): 10 epochs of Adam, batch 64, the learning rate from
2e-3 down to near 0 along a cosine (``--schedule``), each training image
moved by up to one pixel down and across every time it is seen (``--shift``:
the classifier learns shapes, not positions). The network is the one
``gan/quality.py`` scores with (three strided convolutions, 128 features);
only how it is trained changed. Measured in docs/results.md ("The
classifier"): on Fashion-MNIST, 60,000 training images, 10,000 test images.

A model that cannot be trusted is not saved: if the loss becomes NaN or
infinite, or the test accuracy is no better than chance (within three
standard errors of always guessing the test split's commonest class), the
run ends with one ``error:`` line and nothing is written: training diverged
(try a smaller --lr), or, at the default --lr or below, did not learn (try
more --epochs). --out never replaces one of the dataset's
files, nor a file that is not a classifier; an earlier classifier only with
--overwrite.
"""
import math
import os
import sys
import time

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.train_classifier ...")

import datasets
import nn
from datasets.mnist import FILES as IDX_FILES
from gan import checkpoint, cli, pictures, quality, writing
from gan.errors import TrainingError
from nn import backend

DEFAULT_LR = 2e-3
DEFAULT_BATCH_SIZE = 64
DEFAULT_EPOCHS = 10
DEFAULT_SHIFT = 1          # the 28x28 images sit in 32x32 with 2 black pixels each side: a shift of 1 cuts none
MAX_SHIFT = 4
SCHEDULES = ("cosine", "constant")
# Adam moves every weight by about lr a step: above 1 no network trains
learning_rate = cli.number_type(float, lambda v: 0 < v <= 1, "above 0 and at most 1")
shift_pixels = cli.number_type(int, lambda v: 0 <= v <= MAX_SHIFT, f"an integer from 0 to {MAX_SHIFT}")


def accuracy(model, images, labels):
    model.eval()
    with np.errstate(over="ignore", invalid="ignore"):        # a diverged model's overflow: refused, in one line
        _, probs = quality.classify(model, images)
    model.train()
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def parser():
    p = cli.command_parser("python -m examples.train_classifier", __doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="the data to classify")
    p.add_argument("--data-dir", default=None, type=cli.path_text,
                   help="folder with the dataset's files (else download)")
    p.add_argument("--out", required=True, type=cli.path_text,
                   help="where to save the classifier (.npz; missing folders are created)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the classifier already at --out (never any other file)")
    p.add_argument("--epochs", type=cli.positive_int, default=DEFAULT_EPOCHS, help="passes over the training split")
    p.add_argument("--batch-size", type=cli.positive_int, default=DEFAULT_BATCH_SIZE, help="images per Adam step")
    p.add_argument("--lr", type=learning_rate, default=DEFAULT_LR,
                   help="Adam learning rate (the first step's, with --schedule cosine)")
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES,
                   help="the learning rate over the run: cosine (from --lr at the first step down to near 0 at "
                        "the last) or constant (--lr throughout)")
    p.add_argument("--shift", type=shift_pixels, default=DEFAULT_SHIFT, metavar="PIXELS",
                   help="augmentation: every training image, every time it is seen, moved by a random whole "
                        "number of pixels from -PIXELS to PIXELS down and across (the border filled with black); "
                        "0: the images as they are")
    cli.add_backend_flag(p)
    p.add_argument("--seed", type=cli.seed_int, default=0, help="seed for initialisation and batch order")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=cli.positive_int, default=None, help="use only this many training images")
    p.add_argument("--image-size", type=cli.image_size, default=32,
                   help="the size of the images it scores: the --image-size of the models it will score")
    return p


def is_classifier(path):
    """Is the file at ``path`` a classifier this program wrote (what --overwrite may replace)?"""
    try:
        checkpoint.read_npz(path, quality.CLASSIFIER_FORMAT, "classifier")
    except cli.USER_ERRORS:
        return False
    return True


def data_files(data_dir):
    """The files of --data-dir this program reads (gzipped or not): --out may be none of them."""
    if not data_dir:
        return []
    names = [name for pair in IDX_FILES.values() for name in pair]
    return [os.path.join(data_dir, name + gz) for name in names for gz in ("", ".gz")]


def run(args):
    # a bad --out is one line now, not after the training; an earlier classifier is replaced only with --overwrite
    writing.output_file(args.out, inputs=data_files(args.data_dir), overwrite=args.overwrite, ours=is_classifier,
                        what="a classifier")
    cli.use_backend(args.backend)
    backend.seed(args.seed)
    x_train, y_train = datasets.load_dataset(args.dataset, data_dir=args.data_dir, split="train",
                                             image_size=args.image_size)
    x_test, y_test = datasets.load_dataset(args.dataset, data_dir=args.data_dir, split="test",
                                           image_size=args.image_size)
    if args.limit and args.limit >= len(x_train):
        print(f"note: --limit {args.limit} is not below the {len(x_train)} training images: all of them are used",
              file=sys.stderr)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.batch_size > len(x_train):
        print(f"note: --batch-size {args.batch_size} is more than the {len(x_train)} training images: each step "
              f"takes all of them", file=sys.stderr)
    model = quality.Classifier(nc=x_train.shape[1], n_classes=10, image_size=x_train.shape[2])
    print(f"{args.dataset}: {len(x_train)} training, {len(x_test)} test images; "
          f"{model.num_parameters():,} parameters; backend {args.backend}")
    train(model, x_train, y_train, x_test, y_test, args)
    acc = accuracy(model, x_test, y_test)
    refuse_chance_level(acc, y_test, args.lr)
    save(args.out, model, {"dataset": args.dataset, "nc": int(x_train.shape[1]), "image_size": int(x_train.shape[2]),
                           "n_classes": 10, "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None,
                           "test_accuracy": acc, "epochs": args.epochs, "lr": args.lr, "schedule": args.schedule,
                           "shift": args.shift, "batch_size": args.batch_size, "seed": args.seed,
                           "training_images": int(len(x_train))})
    print(f"saved {args.out}")
    print(f"test accuracy {acc:.4f}")


def diverged(what, lr):
    return TrainingError(f"training diverged: {what}; nothing was saved: try a smaller --lr (this run's: {lr:g}, "
                         f"the default: {DEFAULT_LR:g})")


def chance_level(labels):
    """The accuracy of always guessing the commonest class, plus three standard errors of a guess that good
    on len(labels) images: an accuracy up to this is no better than chance."""
    p = np.bincount(labels).max() / len(labels)
    return p + 3 * math.sqrt(p * (1 - p) / len(labels))


def refuse_chance_level(acc, labels, lr):
    """A model no better than chance is not saved: diverged (a large --lr), or it has not learnt yet."""
    if acc <= chance_level(labels):
        common = np.bincount(labels).max() / len(labels)
        what = (f"its test accuracy {acc:.4f} is no better than chance (always guessing the commonest class "
                f"scores {common:.4f})")
        if lr > DEFAULT_LR:
            raise diverged(what, lr)
        raise TrainingError(f"training did not learn: {what}; nothing was saved: try more --epochs or more "
                            f"training images, or a smaller --lr (this run's: {lr:g})")


def shifted(images, shift, rng):
    """Each image of ``images`` (N, C, H, W) moved by its own random offset of -shift..shift whole pixels down
    and across, the border filled with 0 (black): pad by ``shift`` on every side, then crop H x W at a random
    corner. Same shape and dtype; the offsets are drawn from ``rng`` (the run's generator: a seed reproduces)."""
    if shift == 0:
        return images
    n, c, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    top, left = rng.integers(0, 2 * shift + 1, size=(2, n))
    rows = (top[:, None] + np.arange(h))[:, None, :, None]                     # (N, 1, H, 1)
    cols = (left[:, None] + np.arange(w))[:, None, None, :]                    # (N, 1, 1, W)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def learning_rate_at(step, steps, lr, schedule):
    """The learning rate of ``step`` (0 .. steps-1) of a run of ``steps``: cosine decay
    lr * (1 + cos(pi * step / steps)) / 2, from lr at the first step to just above 0 at the last
    (Loshchilov & Hutter 2017, without restarts); or lr throughout (constant)."""
    if schedule == "constant":
        return lr
    return lr * (1 + math.cos(math.pi * step / steps)) / 2


def train(model, x_train, y_train, x_test, y_test, args):
    """--epochs of Adam on the training split, each batch's images shifted (--shift), the learning rate following
    --schedule; the test accuracy after each epoch. A NaN or infinite loss stops it (TrainingError): nothing
    trained from there on can be trusted."""
    opt = nn.Adam(model, lr=args.lr)
    loss_fn = nn.SoftmaxCrossEntropy()
    b = min(args.batch_size, len(x_train))
    steps = len(x_train) // b
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = backend.rng().permutation(len(x_train))
        total = 0.0
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{args.epochs}", unit="step", leave=False,
                   disable=args.no_progress, dynamic_ncols=True)
        for s in range(steps):
            idx = np.sort(order[s * b:(s + 1) * b])
            opt.lr = learning_rate_at((epoch - 1) * steps + s, args.epochs * steps, args.lr, args.schedule)
            images = shifted(x_train[idx], args.shift, backend.rng())
            model.zero_grad()
            with np.errstate(over="ignore", invalid="ignore"):     # an overflow is caught below, in one line
                loss, grad = loss_fn(model.forward(pictures.to_model_range(images)),
                                     backend.to_device(y_train[idx]))
                if not math.isfinite(float(loss)):
                    bar.close()
                    raise diverged(f"the loss became {float(loss)} at epoch {epoch}, step {s + 1}", args.lr)
                model.backward(grad)
                opt.step()
            total += float(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{total / (s + 1):.3f}", refresh=False)
        bar.close()
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}/{args.epochs}  train loss {total / steps:.4f}  test accuracy {acc:.4f}  "
              f"lr {opt.lr:.2g}  {time.perf_counter() - t0:.1f} s", flush=True)


def save(path, model, meta):
    """The classifier file, written atomically (its dataset recorded, so evaluate can say when samples differ)."""
    quality.save_classifier(path, model, meta, f"nothing was written there, and the classifier just trained "
                                               f"(test accuracy {meta['test_accuracy']:.4f}) is lost: free some "
                                               "space, run again")


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
