"""The train command's flags: its parser, the Config a new run gets from them, what --resume overrides.

``python dcgan.py --help`` prints this parser. The defaults are the paper's
recipe (Adam 2e-4, beta1 0.5, batch 128, nz 100, 64 feature maps); a flag
given on ``--resume`` that the checkpoint decides (the model and the
optimiser) is named in one note and ignored.
"""
import argparse
import os

import datasets

from .cli import (HelpFormatter, add_backend_flag, decay, fraction, image_size, momentum, nonnegative_float,
                  path_text, positive_float, positive_int, seed_int)
from .config import Config, absolute
from .errors import UserError
from .models import IMAGE_SIZES, LAYER_LIBRARIES

DATASET_CHANNELS = {"mnist": 1, "fashion-mnist": 1, "cifar10": 3}
DEFAULT_EPOCHS = 25
EMA_DECAY = 0.99            # measured best of 0.99, 0.999, 0.9999 on Fashion-MNIST (docs/usage.md, "The averaged generator")


def train_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py", formatter_class=HelpFormatter,
        description="Train a DCGAN (Radford et al. 2015) with nn/'s hand-written layers. "
                    "Subcommands: 'python dcgan.py generate --help' samples from a checkpoint, "
                    "'python dcgan.py evaluate --help' measures sample quality.")
    add_backend_flag(p)
    p.add_argument("--layers", default=None, choices=LAYER_LIBRARIES,
                   help="the layers G and D are built from: nn (nn/'s readable layers, what the reading order "
                        "shows; the default on numpy) or fast (nn/fast/: the same maths and values as fused "
                        "kernels in a copy-free layout; the default on cupy, and faster on a CPU too: docs/results.md)")
    p.add_argument("--dataset", default="mnist", choices=list(datasets.DATASETS),
                   help="training data; mnist and fashion-mnist download (MD5-checked) unless --data-dir is given")
    p.add_argument("--data-dir", default=None, type=path_text,
                   help="read the dataset's files from this folder and download nothing "
                        "(for folder: the folder of PNG/JPEG images)")
    p.add_argument("--strict-data", action="store_true",
                   help="folder: stop at an unreadable image instead of skipping it with a warning")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="total epochs (default 25; on --resume the run's own total unless given: the total, not more)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per batch")
    p.add_argument("--lr", type=positive_float, default=2e-4, help="Adam learning rate, both networks")
    p.add_argument("--beta1", type=momentum, default=0.5, help="Adam beta1")
    p.add_argument("--nz", type=positive_int, default=100, help="size of the latent vector z")
    p.add_argument("--ngf", type=positive_int, default=64, help="generator width (channels of its last hidden layer)")
    p.add_argument("--ndf", type=positive_int, default=64, help="discriminator width (channels of its first layer)")
    p.add_argument("--image-size", type=image_size, default=None, metavar="SIZE",
                   help=f"{', '.join(map(str, IMAGE_SIZES))}: G and D get one stride-2 layer per doubling from 4x4. "
                        "32 is the default for mnist, fashion-mnist, cifar10 (28x28 is padded to 32x32, other "
                        "sizes are then resized), 64 (the paper's) for folder")
    p.add_argument("--out", default=None, type=path_text, help="run folder (default runs/<dataset>)")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed: same seed, backend and machine = same run")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in --out even though it holds one (a run or a --per-class run): the old "
                        "one is replaced once the new one has loaded its data and starts training")
    p.add_argument("--resume", metavar="OUT", default=None, type=path_text,
                   help="continue the run in folder OUT (or OUT/checkpoint.npz) from its checkpoint (model, "
                        "optimiser, data position, RNG); architecture and optimiser settings come from the checkpoint")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="stop after this many steps in total (a quick smoke run); a checkpoint is saved")
    p.add_argument("--log-every", type=positive_int, default=10,
                   help="steps averaged per metrics.csv row (the only time losses are copied to the host)")
    variants = p.add_argument_group("variants and stabilisers (see docs/usage.md)")
    kind = variants.add_mutually_exclusive_group()
    kind.add_argument("--conditional", action="store_true",
                      help="one model for all classes: the one-hot label joins z in G and enters D as extra channels")
    kind.add_argument("--per-class", action="store_true",
                      help="one G/D pair per class (a separate DCGAN for each class), in OUT/class_KK/, plus OUT/classes.png")
    variants.add_argument("--head", default="conv", choices=["conv", "linear"],
                          help="linear: a Linear layer (with BatchNorm1d) maps z to G's 4x4 maps and ends D "
                               "(the 'linear DCGAN' variant)")
    variants.add_argument("--label-smoothing", type=fraction, nargs="?", const=0.9, default=None, metavar="TARGET",
                          help="one-sided label smoothing: D's target for real images is TARGET (0.9 if no value) "
                               "instead of 1, so D cannot become over-confident; fake targets stay 0")
    variants.add_argument("--instance-noise", type=nonnegative_float, default=0.0, metavar="SIGMA",
                          help="add N(0, sigma^2) noise to every image D sees (real and fake), sigma falling "
                               "linearly from SIGMA to 0 over the run: overlapping the two distributions "
                               "early keeps D's gradients useful to G")
    variants.add_argument("--ema", type=decay, default=EMA_DECAY, metavar="DECAY",
                          help="decay of the averaged generator: an exponential moving average of G's weights, with a "
                               "warm-up (nn/ema.py), that draws the grids and is what generate and evaluate use. "
                               "Training itself is unchanged (the paper's)")
    variants.add_argument("--no-ema", dest="ema", action="store_const", const=None,
                          help="no averaged generator: grids and samples from G's own weights")
    p.add_argument("--classifier", default=None, type=path_text,
                   help="a classifier .npz from examples/train_classifier.py, for --eval-every")
    p.add_argument("--eval-every", type=positive_int, default=None, metavar="K",
                   help="every K epochs, score --eval-n samples with --classifier (Frechet classifier "
                        "distance into metrics.csv and losses.png; see 'dcgan.py evaluate')")
    p.add_argument("--eval-n", type=positive_int, default=2000, help="samples scored by --eval-every")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--show-model", action="store_true",
                   help="print G's and D's layers, each with its output shape and parameters, for these flags "
                        "(or the --resume run's model), and exit without training")
    return p


def config_from_flags(args):
    """The Config of a new run, from the command line."""
    real_label = args.label_smoothing or 1.0               # argparse has checked every range
    return Config(dataset=args.dataset, data_dir=absolute(args.data_dir),      # absolute: usable from anywhere later
                  image_size=args.image_size or (64 if args.dataset == "folder" else 32), strict_data=args.strict_data,
                  nc=DATASET_CHANNELS.get(args.dataset), nz=args.nz, ngf=args.ngf, ndf=args.ndf,
                  head=args.head, conditional=args.conditional, batch_size=args.batch_size, lr=args.lr,
                  beta1=args.beta1, seed=args.seed, real_label=real_label, instance_noise=args.instance_noise,
                  epochs=args.epochs or DEFAULT_EPOCHS, max_steps=args.max_steps, log_every=args.log_every,
                  out=args.out or os.path.join("runs", args.dataset), per_class=args.per_class,
                  eval_every=args.eval_every, classifier=args.classifier, eval_n=args.eval_n, ema=args.ema)


# flags whose value a checkpoint decides on --resume, and the Config field each sets
FIXED_ON_RESUME = [("--dataset", "dataset"), ("--image-size", "image_size"), ("--nz", "nz"), ("--ngf", "ngf"),
                   ("--ndf", "ndf"), ("--head", "head"), ("--conditional", "conditional"), ("--per-class", "per_class"),
                   ("--batch-size", "batch_size"), ("--lr", "lr"), ("--beta1", "beta1"), ("--seed", "seed"),
                   ("--label-smoothing", "real_label"), ("--instance-noise", "instance_noise"),
                   ("--strict-data", "strict_data"), ("--ema", "ema")]


def refuse_flags_without_effect(args, resume_folder=None):
    """Flags that would be ignored without a word stop the run in one line instead: --overwrite with
    --resume, --resume into another --out, --classifier without --eval-every. ``resume_folder``: the run
    folder --resume names."""
    if args.resume and args.overwrite:
        raise UserError("--resume continues a run and --overwrite replaces one: give one of them")
    if resume_folder is not None and args.out and os.path.realpath(args.out) != os.path.realpath(resume_folder):
        raise UserError(f"--resume continues the run in its own folder {resume_folder}, not in --out {args.out}: "
                        f"copy the folder to {args.out} and --resume that, or leave --out out")
    if args.classifier and not args.eval_every:
        raise UserError("--classifier is only used by --eval-every K (scores every K epochs): "
                        "add --eval-every, or leave --classifier out")


def ignored_on_resume(saved, args, given):
    """The flags the user gave that the checkpoint overrides, as "--lr 0.001 (the run's: 0.0002)"."""
    asked = config_from_flags(args)
    return [f"{flag} {getattr(asked, field)} (the run's: {getattr(saved, field)})"
            for flag, field in FIXED_ON_RESUME if flag in given and getattr(asked, field) != getattr(saved, field)]
