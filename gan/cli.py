"""The command line of every program here: how a command runs, the flags' types, and every command's flags.

``run_command(command, args)`` is how dcgan.py and the examples run: a
user error (``USER_ERRORS``) or running out of memory becomes one line
``error: ...`` and exit code 1; any other exception is a bug (in the
project, or in a layer you are editing): its traceback, then one line saying
so, and exit code 1.

The flags: ``train_parser`` (``python dcgan.py --help``; the defaults are the
paper's recipe: Adam 2e-4, beta1 0.5, batch 128, nz 100, 64 feature maps),
``config_from_flags`` (the Config of a new run), what ``--resume`` overrides
(``FIXED_ON_RESUME``: the checkpoint decides the model and the optimiser; a
flag given for those is named in one note and ignored), and the parsers of
``generate`` and ``evaluate``.
"""
import argparse
import bdb
import math
import os
import sys
import traceback

import datasets
from nn import backend

from .config import Config, absolute
from .errors import UserError
from .memory import keep_freed_memory
from .models import IMAGE_SIZES

USER_ERRORS = (UserError, datasets.DatasetError, backend.BackendError)
BACKEND_CHOICES = ["numpy", "cupy"]


def run_command(command, args):
    """Run ``command(args)`` as a program; returns the exit code (0, 1 for errors, 130 for Ctrl-C)."""
    try:
        command(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return 130
    except bdb.BdbQuit:                          # q in a debugger (python -m pdb dcgan.py): the debugger's to handle
        raise
    except BrokenPipeError:                      # | head: the reader has all it wanted; not a bug, not bad input
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so that exit's flush stays quiet
        return 141                               # 128 + SIGPIPE, as a shell reports it
    except MemoryError as e:                     # sizes asked for that no estimate caught beforehand
        print(f"error: out of memory ({e or 'MemoryError'}): ask for smaller sizes (--n, --batch-size, --nz, "
              "--ngf, --ndf)", file=sys.stderr)
        return 1
    except Exception as e:                       # a bug: where it happened, then what it is
        traceback.print_exc()
        print(f"error: a bug, not bad input ({type(e).__name__}): the traceback above shows where; "
              "if it is not in code you changed, please report it with that traceback", file=sys.stderr)
        return 1
    return 0


def use_backend(name):
    """Activate the array backend of --backend; on NumPy also keep freed memory for the next step."""
    backend.use(name)
    if name == "numpy":
        keep_freed_memory()              # reuse freed pages step after step: ~15% faster on CPU


def add_backend_flag(parser):
    parser.add_argument("--backend", default="numpy", choices=BACKEND_CHOICES,
                        help="array backend: numpy (CPU) or cupy (NVIDIA GPU)")


def number_type(cast, check, requirement):
    """An argparse type: ``cast`` the text, then insist on ``check(value)`` ("must be <requirement>")."""
    noun = "an integer" if cast is int else "a number"

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


positive_int = number_type(int, lambda v: v >= 1, "at least 1")
at_least_two = number_type(int, lambda v: v >= 2, "at least 2")


def image_size(text):
    """--image-size: one of datasets' sizes, else the one line that names the nearest."""
    value = number_type(int, lambda v: True, "")(text)
    problem = datasets.size_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value

seed_int = number_type(int, lambda v: 0 <= v < 2 ** 32, "an integer from 0 to 2**32 - 1")
positive_float = number_type(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
nonnegative_float = number_type(float, lambda v: v >= 0 and math.isfinite(v), "0 or more")
fraction = number_type(float, lambda v: 0 < v <= 1, "in (0, 1]")                        # NaN fails every test
momentum = number_type(float, lambda v: 0 <= v < 1, "at least 0 and below 1")
decay = number_type(float, lambda v: 0 < v < 1, "above 0 and below 1")


def path_text(text):
    """An argparse type for a path: any text but the empty one (which would silently mean the default)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusal is one line, ``error: ...``, saying where the flags are listed (exit 2),
    and that refuses a flag given twice (argparse lets the last one win without a word)."""

    also_spelled = {}                         # a flag -> another spelling of it that the program accepts

    def parse_known_args(self, args=None, namespace=None):
        tokens = list(sys.argv[1:] if args is None else args)
        tokens = tokens[:tokens.index("--")] if "--" in tokens else tokens
        names = [token.partition("=")[0] for token in tokens if token.startswith("--")]
        for name in dict.fromkeys(names):
            if names.count(name) > 1 and name in self._option_string_actions:
                other = self.also_spelled.get(name)
                self.error(f"{name} is given more than once" + (f" ({other} is another spelling of it)" if other
                                                                else "") + ": give it once")
        return super().parse_known_args(args, namespace)

    def error(self, message):
        command = self.prog if self.prog.startswith("python") else f"python {self.prog}"
        print(f"error: {message} ('{command} --help' lists the flags)", file=sys.stderr)
        sys.exit(2)


def command_parser(prog, description, **kwargs):
    """The argument parser of every program here (dcgan.py and its commands, examples/, benchmarks/).

    ``allow_abbrev=False``: argparse would otherwise take ``--batch 64`` for ``--batch-size 64`` and
    ``--ng`` for ``--ngf``, so a typo could silently become another flag; here a flag is spelled in full
    or refused in one line (``CommandParser``). Defaults are shown in --help.
    """
    return CommandParser(prog=prog, description=description, allow_abbrev=False,
                         formatter_class=kwargs.pop("formatter_class", HelpFormatter), **kwargs)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" except where there is no default worth showing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


# PyTorch's DCGAN example (pytorch/examples dcgan/main.py) spells some flags differently; its users'
# muscle memory works here too. Not listed in --help; docs/usage.md lists them once.
PYTORCH_FLAGS = {"--dataroot": "--data-dir", "--batchSize": "--batch-size", "--imageSize": "--image-size",
                 "--niter": "--epochs", "--outf": "--out", "--manualSeed": "--seed", "--cuda": "--backend=cupy"}


def pytorch_spellings(argv):
    """argv with PyTorch's DCGAN example's flag names replaced by ours (--batchSize 64 -> --batch-size 64)."""
    out = []
    for token in argv:
        name, eq, value = token.partition("=")
        out.append(PYTORCH_FLAGS[name] + eq + value if name in PYTORCH_FLAGS else token)
    return out


# ------------------------------------------------------------------------------------------ train's flags

DATASET_CHANNELS = {"mnist": 1, "fashion-mnist": 1, "cifar10": 3}
DATASET_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10}      # a folder's: its subfolders
DEFAULT_EPOCHS = 25
EMA_DECAY = 0.99            # measured best of 0.99, 0.999, 0.9999 on Fashion-MNIST (docs/usage.md, "The averaged generator")


def train_parser():
    p = command_parser(
        "dcgan.py",
        "Train a DCGAN (Radford et al. 2015) with nn/'s hand-written layers. "
        "Subcommands: 'python dcgan.py generate --help' samples from a checkpoint, "
        "'python dcgan.py evaluate --help' measures sample quality, "
        "'python dcgan.py doctor --help' says whether a run's training is working.")
    p.also_spelled = {ours.partition("=")[0]: theirs for theirs, ours in PYTORCH_FLAGS.items()}
    add_backend_flag(p)
    p.add_argument("--layers", default=None, type=path_text, metavar="{nn,fast,DIR}",
                   help="the layers G and D are built from: nn (nn/'s readable layers, what the reading order "
                        "shows; the default on numpy), fast (nn/fast/: the same maths and values as fused "
                        "kernels in a copy-free layout; the default on cupy, and faster on a CPU too: "
                        "docs/results.md), or a folder of your exercises (python -m exercises: your pieces in "
                        "place of nn's, each checked first)")
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
                        "one is set aside when the new one starts training, and removed once the new one has saved "
                        "a trained checkpoint (stopped or failed before that, the old one is put back)")
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
    p.add_argument("--eval-n", type=at_least_two, default=2000,
                   help="samples scored by --eval-every (a Frechet distance needs at least 2)")
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


def refuse_flags_without_effect(args):
    """Flags that contradict each other, or would be ignored without a word, stop the run in one line
    instead, before anything is read. ``args.given``: the flags typed."""
    given = getattr(args, "given", set())
    if args.resume and args.overwrite:
        raise UserError("--resume continues a run and --overwrite replaces one: give one of them")
    if {"--ema", "--no-ema"} <= given:
        raise UserError("--ema DECAY keeps an averaged generator and --no-ema keeps none: give one of them")
    for flag in ("--classifier", "--eval-n"):
        if flag in given and not args.eval_every:
            raise UserError(f"{flag} is only used by --eval-every K (scores every K epochs): "
                            f"add --eval-every, or leave {flag} out")
    if args.strict_data and args.dataset != "folder" and not args.resume:
        raise UserError(f"--strict-data is for --dataset folder (an unreadable image stops the run instead of being "
                        f"skipped); {args.dataset}'s files are checked whole (MD5 or format): leave --strict-data out")


def refuse_another_out(args, resume_folder):
    """--resume with an --out that is not the run's own folder (``resume_folder``) is refused: a run stays in its folder."""
    if args.out and os.path.realpath(args.out) != os.path.realpath(resume_folder):
        raise UserError(f"--resume continues the run in its own folder {resume_folder}, not in --out {args.out}: "
                        f"copy the folder to {args.out} and --resume that, or leave --out out")


def ignored_on_resume(saved, args, given):
    """The flags the user gave that the checkpoint overrides, as "--lr 0.001 (the run's: 0.0002)"."""
    asked = config_from_flags(args)
    return [f"{flag} {getattr(asked, field)} (the run's: {getattr(saved, field)})"
            for flag, field in FIXED_ON_RESUME if flag in given and getattr(asked, field) != getattr(saved, field)]


# ------------------------------------------------------------------------------- generate's and evaluate's

def generate_parser():
    p = command_parser(
        "dcgan.py generate",
        "Write images sampled from a trained generator: N PNGs, samples.npy (N, C, H, W) "
        "float32 in [-1, 1], grid.png and generated.json (what drew them); optionally a "
        "latent-space interpolation GIF.")
    p.add_argument("--checkpoint", type=path_text, required=True,
                   help="a checkpoint.npz written by training, or a run folder (a --per-class run's folder too)")
    p.add_argument("--class", dest="class_index", type=int, default=None, metavar="K",
                   help="only class K (conditional and per-class models); without it they also write "
                        "classes.png, one row per class")
    p.add_argument("--n", type=positive_int, default=64, help="number of images")
    p.add_argument("--out", type=path_text, required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output of an earlier generate in --out (its numbered PNGs, samples.npy, ...); "
                        "without it such a folder is refused")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for z: same seed = same images")
    add_backend_flag(p)
    add_generator_flag(p)
    p.add_argument("--bn-stats", default="batch", choices=["batch", "running"],
                   help="BatchNorm statistics: batch (each batch's own, as in training) or running (the averages)")
    p.add_argument("--interpolate", type=positive_int, default=None, metavar="K",
                   help="also write interpolation.gif: 16 walks through latent space, K frames each, "
                        "by spherical interpolation between random z")
    return p


EVALUATE_DEFAULTS = {"n": 10000, "seed": 0, "bn_stats": "batch", "generator": "average"}   # --checkpoint only


def evaluate_parser():
    p = command_parser(
        "dcgan.py evaluate",
        "Score generated images with a classifier trained by examples/train_classifier.py: "
        "Frechet classifier distance to the real test images (with the real-train-vs-real-test "
        "floor), class coverage and mean confidence.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=path_text, help="sample --n images from this checkpoint (or run folder; a "
                                             "--per-class run folder: an equal share from every class)")
    source.add_argument("--samples", type=path_text, help="score these instead: a samples.npy (N, C, H, W) in [-1, 1] "
                                          "(or uint8 pixels) or a folder of PNG images")
    p.add_argument("--classifier", type=path_text, required=True, help="classifier .npz")
    p.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist"],
                   help="the real images (default: the checkpoint's, else the classifier's dataset)")
    p.add_argument("--data-dir", type=path_text, default=None,
                   help="folder with the dataset's files (default: the checkpoint's, else the classifier's)")
    # None: not given (--samples names the ones it ignores); EVALUATE_DEFAULTS fills them in
    p.add_argument("--n", type=positive_int, default=None, help="samples to generate from --checkpoint (default 10000)")
    p.add_argument("--seed", type=seed_int, default=None, help="seed for z (default 0)")
    p.add_argument("--bn-stats", default=None, choices=["batch", "running"], help="as in generate (default batch)")
    add_generator_flag(p, default=None)
    add_backend_flag(p)
    p.add_argument("--json", type=path_text, default=None, metavar="PATH",
                   help="also write the result as JSON (a new file)")
    p.add_argument("--overwrite", action="store_true",
                   help="--json may replace an earlier evaluate's result (never any other file)")
    return p


def doctor_parser():
    p = command_parser(
        "dcgan.py doctor",
        "Is my training working? Read a run folder's metrics.csv and checkpoint and say: healthy, or what went "
        "wrong (D wins, G collapsed, stalled, oscillating), since which step, and what to try (docs/doctor.md). "
        "It only reads the run folder.")
    p.add_argument("run", type=path_text, metavar="RUN", help="a run folder (a --per-class one too) or its checkpoint.npz")
    p.add_argument("--classifier", type=path_text, default=None,
                   help="a classifier .npz (examples/train_classifier.py): also say which classes the averaged G's "
                        "samples look like (a collapsed G fills one or two)")
    # None: not given (without --classifier they are refused); gan/doctor.py fills in 1000 and 0
    p.add_argument("--n", type=at_least_two, default=None, help="samples the --classifier sorts (default 1000)")
    p.add_argument("--seed", type=seed_int, default=None, help="seed for their z (default 0)")
    add_backend_flag(p)
    p.add_argument("--json", type=path_text, default=None, metavar="PATH",
                   help="also write the report as JSON (a new file, outside the run folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="--json may replace an earlier doctor's report (never any other file)")
    return p


def add_generator_flag(parser, default="average"):
    parser.add_argument("--generator", default=default, choices=["average", "raw"],
                        help="average: the averaged generator of a run trained with --ema (G itself if there is "
                             "none); raw: G's own weights" + (" (default average)" if default is None else ""))


def with_evaluate_defaults(args):
    """``args`` with the sampling flags that were not given set to their defaults; notes those --samples ignores."""
    given = {k: getattr(args, k) for k in EVALUATE_DEFAULTS if getattr(args, k) is not None}
    if args.samples and given:
        flags = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
        print(f"note: --samples scores the samples given, all of them; ignoring {flags} (they apply to --checkpoint)",
              file=sys.stderr)
    return argparse.Namespace(**{**vars(args), **EVALUATE_DEFAULTS, **given})
