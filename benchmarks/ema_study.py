"""Does averaging G's weights give better samples, and with which decay? Measured on one training run.

    python -m benchmarks.ema_study --data-dir /usr/share/datasets/fashion-mnist \\
        --classifier runs/classifier-fashion.npz --seed 0 --epochs 10 --out runs/ema-study-seed0

Training is the paper's and does not depend on the average (nn.EMA only reads
G's weights), so one run can follow several averages at once: every decay
in --decays, each with the warm-up d_t = min(decay, (1 + t) / (10 + t)) that
``--ema`` uses and without it (a plain constant decay from the initial
weights). After each epoch in --at it scores raw G and every average with
the Frechet classifier distance of ``dcgan.py evaluate`` (same classifier,
same --n samples from the same z for every generator, batch statistics), and
appends one JSON line per generator to OUT/results.jsonl; after the last
epoch it also saves each generator as OUT/epochNNN-<generator>.npz.

Everything is checked before training, each in one line: the values (--at
within --epochs, every decay above 0 and below 1), the classifier (it must
score --dataset's images), the data, and --out: a folder, which must not
hold an earlier study (its results.jsonl, its generators) unless
--overwrite replaces it; one study writes there at a time.
"""
import argparse
import glob
import json
import os
import sys
import time

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.ema_study ...")

import numpy as np

import dcgan
import datasets
import nn
from gan import checkpoint, cli, models, quality, writing
from gan.config import Config
from gan.data import fit_to_data
from gan.errors import UserError, why
from nn import backend

RESULTS = "results.jsonl"
GENERATORS = "epoch[0-9][0-9][0-9]-*.npz"          # the final generators, for dcgan.py evaluate/generate


def epoch_list(text):
    """"1,3,10" -> [1, 3, 10]: the argparse type of --at."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of epochs (integers from 1), "
                                         "e.g. 1,3,10")
    return sorted(set(values))


def decay_list(text):
    """"0.99,0.999" -> [0.99, 0.999]: the argparse type of --decays."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < v < 1 for v in values):                 # NaN fails it too
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of decays, each above 0 and "
                                         "below 1, e.g. 0.99,0.999")
    return list(dict.fromkeys(values))


def parser():
    p = cli.command_parser("python -m benchmarks.ema_study", __doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist", choices=["mnist", "fashion-mnist"],
                   help="the data trained on and scored against (what train_classifier.py takes)")
    p.add_argument("--data-dir", required=True, type=cli.path_text, help="folder with the dataset's files")
    p.add_argument("--classifier", required=True, type=cli.path_text,
                   help="a classifier .npz from examples/train_classifier.py, of --dataset")
    p.add_argument("--seed", type=cli.seed_int, default=0, help="random seed of the training run")
    p.add_argument("--epochs", type=cli.positive_int, default=10, help="epochs trained")
    p.add_argument("--at", type=epoch_list, default="1,3,10", metavar="EPOCH,...",
                   help="score after these epochs (each at most --epochs)")
    p.add_argument("--decays", type=decay_list, default="0.99,0.999,0.9999", metavar="DECAY,...",
                   help="the averages followed, each with and without warm-up")
    p.add_argument("--n", type=cli.positive_int, default=10000, help="samples scored per generator")
    p.add_argument("--limit", type=cli.positive_int, default=None,
                   help="train on the first N images only (smoke runs)")
    p.add_argument("--out", required=True, type=cli.path_text, help="the study's folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier study in --out (its results.jsonl and generators)")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def earlier_study(out):
    """The files of an earlier study in the folder ``out`` (none if it is not a folder)."""
    if not os.path.isdir(out):
        return []
    found = [os.path.join(out, RESULTS)] if os.path.lexists(os.path.join(out, RESULTS)) else []
    return found + sorted(glob.glob(os.path.join(out, GENERATORS)))


def check_out(args):
    """--out can be this study's folder: not a file, no earlier study unless --overwrite. Nothing is created yet."""
    if os.path.lexists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out} cannot be a folder: it is a file; choose another --out")
    earlier = earlier_study(args.out)
    if earlier and not args.overwrite:
        names = ", ".join(os.path.basename(path) for path in earlier[:3]) + (" ..." if len(earlier) > 3 else "")
        raise UserError(f"--out {args.out} already holds an earlier study ({names}): its rows would mix with this "
                        "one's; choose another --out, or pass --overwrite to replace it")


def run(args):
    late = [epoch for epoch in args.at if epoch > args.epochs]
    if late:
        raise UserError(f"--at {','.join(map(str, late))}: training stops after --epochs {args.epochs}, so nothing "
                        "would be scored there; lower --at or raise --epochs")
    check_out(args)
    classifier = quality.load_classifier(args.classifier)
    cli.use_backend("numpy")
    cfg = Config(dataset=args.dataset, data_dir=os.path.abspath(args.data_dir), seed=args.seed,
                 epochs=args.epochs, out=args.out)          # dcgan.py's defaults otherwise: the paper's recipe
    backend.seed(cfg.seed)                                     # as dcgan.train() does
    images, labels = datasets.load_dataset(cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size)
    if args.limit and args.limit >= len(images):
        print(f"note: --limit {args.limit} is not below the {len(images)} training images: all of them are used",
              file=sys.stderr)
    images, labels = images[:args.limit], labels[:args.limit]
    if len(images) < cfg.batch_size:                           # (fit_to_data would suggest a flag this has not)
        raise UserError(f"{len(images)} images is fewer than one batch of {cfg.batch_size} (dcgan.py's default, "
                        f"what this study trains with): " + ("raise --limit" if args.limit else "give more images"))
    cfg = fit_to_data(cfg, images, labels)
    quality.check_classifier_fits(classifier, cfg.dataset, cfg.image_size, cfg.nc)
    writing.output_folder(args.out)
    with writing.FolderLock(args.out, f"--out {args.out}"):
        check_out(args)                                        # as it is now that this study holds the folder
        for path in earlier_study(args.out):                   # --overwrite: the earlier study goes
            try:
                os.remove(path)
            except OSError as e:
                raise UserError(f"could not remove the earlier study's {path} ({why(e)})") from None
        study(args, cfg, images, labels, classifier)


def study(args, cfg, images, labels, classifier):
    trainer = dcgan.Trainer(cfg, images, labels)
    averages = {}
    for decay in args.decays:
        for warm in (True, False):
            with backend.preserved_rng():                      # the copies must not shift training's draws
                G_avg, _ = models.build_models(cfg)
            ema = nn.EMA(trainer.G, G_avg, decay)
            if not warm:
                ema.current_decay = lambda e=ema: e.decay      # constant decay, from the initial weights
            averages[f"ema {decay} {'warm-up' if warm else 'constant'}"] = ema
    scorer = quality.make_scorer(classifier, cfg.dataset, cfg.data_dir, cfg.image_size, cfg.nc, args.n)
    z = np.random.default_rng(0).standard_normal((args.n, cfg.nz, 1, 1)).astype(np.float32)   # as evaluate --seed 0
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        for _ in range(trainer.batches_per_epoch):
            trainer.step(*trainer.next_batch())
            for ema in averages.values():
                ema.update()
        trainer.epoch = epoch
        print(f"epoch {epoch}: step {trainer.step_count}, {time.perf_counter() - t0:.0f} s", flush=True)
        if epoch not in args.at:
            continue
        generators = {"raw G": trainer.G, **{k: e.average for k, e in averages.items()}}
        for name, G in generators.items():
            result = scorer(models.sample(G, z))
            row = {"seed": args.seed, "epoch": epoch, "step": trainer.step_count, "generator": name,
                   "fcd": round(result["fcd"], 3), "floor": round(result["fcd_real_floor"], 3),
                   "classes_covered": result["classes_covered"], "confidence": round(result["mean_confidence"], 3)}
            print(json.dumps(row), flush=True)
            try:
                with open(os.path.join(args.out, RESULTS), "a") as f:
                    f.write(json.dumps(row) + "\n")
            except OSError as e:
                raise UserError(f"could not write {os.path.join(args.out, RESULTS)} ({why(e)})") from None
            if epoch == args.epochs:                            # the final generators, for dcgan.py evaluate/generate
                state = checkpoint.trainer_state(trainer)
                state.update(checkpoint.prefixed("G", G.state_dict()))
                checkpoint.save_checkpoint(os.path.join(args.out, f"epoch{epoch:03d}-{name.replace(' ', '_')}.npz"), state)


if __name__ == "__main__":
    sys.exit(main())
