"""dcgan.py's commands: ``train`` (a new run from the flags, --resume, a --per-class run, --show-model),
``generate``, ``evaluate`` and ``doctor``, chosen by the first word of the command line.

The story of a run (the Trainer, its step, the training loop) stays in dcgan.py; this file decides which
command runs and with what Config. dcgan.py passes its ``train`` in, so that nothing in gan/ imports it.
"""
import dataclasses
import os
import sys

from . import doctor, evaluate, generate
from .checkpoint import checkpoint_config, load_resumable, read_config_file
from .cli import (DATASET_CLASSES, config_from_flags, doctor_parser, evaluate_parser, generate_parser, ignored_on_resume,
                  pytorch_spellings, refuse_another_out, refuse_flags_without_effect, run_command, train_parser,
                  use_backend)
from .config import resumed
from .errors import TrainingError
from .models import LAYER_LIBRARIES, model_table, use_layers
from .per_class import train_per_class
from .run_folder import check_resumable, checkpoint_in, is_per_class, per_class_config, resume_folder


def note_ignored_flags(cfg, args):
    """One note naming the flags --resume does not apply (the run's model and optimiser are its own)."""
    ignored = ignored_on_resume(cfg, args, args.given)
    if ignored:
        print(f"note: --resume trains the checkpoint's model with its settings; ignoring {', '.join(ignored)}",
              file=sys.stderr)


SHAPES_THE_MODEL = {"--show-model", "--dataset", "--data-dir", "--image-size", "--nz", "--ngf", "--ndf", "--head",
                    "--conditional", "--per-class", "--layers", "--backend", "--resume"}


def show_model(cfg, given=()):
    """--show-model: G's and D's layers for the Config, each with its output shape; nothing trained or written
    (the flags ``given`` that would only matter to training are named in a note)."""
    idle = sorted(set(given) - SHAPES_THE_MODEL)
    if idle:
        print(f"note: --show-model trains and writes nothing: ignoring {', '.join(idle)}", file=sys.stderr)
    if cfg.nc is None:
        print("note: --dataset folder: shown with 3 channels (a folder of grayscale images trains with 1)")
    if cfg.conditional and not cfg.n_classes:
        cfg = dataclasses.replace(cfg, n_classes=DATASET_CLASSES.get(cfg.dataset, 0))
        if not cfg.n_classes:
            print("note: --conditional adds one input channel per class to G and D, from the data's labels "
                  "(a folder's classes are its subfolders): shown without them")
    print(model_table(dataclasses.replace(cfg, nc=cfg.nc or 3)))


def exercise_layers(folder):
    """--layers DIR: the layer library of a folder of exercises (python -m exercises), each piece checked first."""
    from exercises.library import layer_library
    return layer_library(folder)


def train_main(args, train):
    """The train command (``train``: dcgan.py's training loop): a new run from the flags (gan/cli.py), or --resume OUT (a run folder, its
    checkpoint.npz, or a --per-class run folder) from its checkpoint."""
    use_backend(args.backend)
    use_layers(args.layers if args.layers in LAYER_LIBRARIES + (None,) else exercise_layers(args.layers))
    refuse_flags_without_effect(args)
    out = resume_folder(args.resume) if args.resume else None
    if out is not None:
        refuse_another_out(args, out)
    resume_state = None
    if out is not None and is_per_class(out):
        cfg = resumed(read_config_file(per_class_config(out)), out, args)
        note_ignored_flags(cfg, args)
        if args.show_model:
            return show_model(cfg, args.given)
        return train_per_class(cfg, train, not args.no_progress, resuming=True)
    elif out is not None:
        check_resumable(out)
        ckpt = checkpoint_in(out)
        resume_state = load_resumable(ckpt)
        saved = checkpoint_config(resume_state, ckpt)
        if os.path.basename(os.path.normpath(saved.out)) != os.path.basename(os.path.realpath(out)):  # copied in
            print(f"note: {ckpt} was saved by a run in {saved.out}; it continues here, in {out} (moved or copied: "
                  f"{out}'s metrics.csv and grids go on from what this folder holds)", file=sys.stderr)
        cfg = resumed(saved, out, args)
        note_ignored_flags(cfg, args)
        if args.show_model:
            return show_model(cfg, args.given)
        if int(resume_state["epoch"]) >= cfg.epochs:
            print(f"{ckpt} has already trained {int(resume_state['epoch'])} of its {cfg.epochs} epochs; "
                  f"pass a larger --epochs (the total) to train more")
            return
    else:
        cfg = config_from_flags(args)
        if args.show_model:
            return show_model(cfg, args.given)
    if cfg.eval_every and not cfg.classifier:
        raise TrainingError("--eval-every needs --classifier CLS.npz (train one with examples/train_classifier.py)")
    if cfg.per_class:
        return train_per_class(cfg, train, not args.no_progress, resuming=bool(args.resume),
                               overwrite=args.overwrite)
    train(cfg, resume_state, progress=not args.no_progress, overwrite=args.overwrite)


def main(argv, train):
    """Run dcgan.py's command line ``argv``: generate, evaluate, doctor, or train (the default; ``train`` is dcgan.py's
    training loop, passed in: nothing in gan/ imports dcgan.py). Returns the exit code."""
    if argv[:1] == ["generate"]:
        return run_command(generate.generate, generate_parser().parse_args(argv[1:]))
    if argv[:1] == ["evaluate"]:
        return run_command(evaluate.evaluate, evaluate_parser().parse_args(argv[1:]))
    if argv[:1] == ["doctor"]:
        return run_command(doctor.doctor, doctor_parser().parse_args(argv[1:]))
    argv = pytorch_spellings(argv[1:] if argv[:1] == ["train"] else argv)
    args = train_parser().parse_args(argv)
    args.given = {token.split("=")[0] for token in argv if token.startswith("--")}      # the flags typed
    return run_command(lambda parsed: train_main(parsed, train), args)
