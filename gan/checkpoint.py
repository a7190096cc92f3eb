"""Checkpoints: atomic .npz files, reading them back with one-line errors, models from a checkpoint.

A checkpoint is one flat .npz: "format" (a marker naming the program),
"config" (the run's Config as JSON), each model's state under a prefix
("G/0.weight", "D/...", "opt_G/m.0.weight", ...) and the training position.
It is written to a temp file in the same folder and renamed over the old
one, so a crash or a full disk never leaves a half-written checkpoint.

``trainer_state`` and ``load_trainer_state`` are what a Trainer puts in a
checkpoint and takes back from one. What older versions of the program
wrote is made current here, and only here (``config_from_json``, ``load_resumable``): the classes that read a
config or an optimizer state (``Config``, ``nn.Adam``) read only the
current form.
"""
import dataclasses
import json
import os

import numpy as np

from nn import backend

from .config import Config, config_problem
from .errors import TrainingError, UserError, name_some, why
from .models import build_models
from .writing import holds_python_objects, numpy_file_kind, write_atomically

CHECKPOINT_FORMAT = "numpy-dcgan-checkpoint-1"


def save_checkpoint(path, state, if_it_fails="nothing was written there"):
    """Write ``state`` (flat dict of arrays/str/numbers) to ``path`` atomically (``writing.write_atomically``,
    the temp file named .checkpoint-*.npz: what ``remove_orphans`` clears after a killed save)."""
    write_atomically(path, lambda tmp: np.savez(tmp, **state), prefix=".checkpoint-", if_it_fails=if_it_fails)


def read_npz(path, marker, what):
    """Every array of an .npz written by ``save_checkpoint`` whose "format" entry is ``marker``.

    A missing, corrupt or foreign file is a UserError naming ``what`` it should have been.
    """
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file: give the {what} file itself")
    if not os.path.isfile(path):
        raise UserError(f"{what} {path} does not exist")
    kind = numpy_file_kind(path)
    if kind != "npz":
        held = "a single NumPy array (.npy)" if kind == "npy" else "not a NumPy .npz archive"
        raise UserError(f"{what} {path} cannot be read: it is {held}, so not a {what} of this program")
    try:
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
    except Exception as e:
        if holds_python_objects(e):                      # object arrays: Python objects are never unpickled
            raise UserError(f"{what} {path} cannot be read: it holds Python objects, not arrays of numbers; "
                            f"not a {what} of this program") from None
        raise UserError(f"{what} {path} cannot be read ({type(e).__name__}: {e})") from None
    if str(state.get("format", "")) != marker:
        raise UserError(f"{path} is not a {what} of this program (no '{marker}' marker)")
    return state


def load_checkpoint(path):
    """Read a training checkpoint into a dict of arrays."""
    return read_npz(path, CHECKPOINT_FORMAT, "checkpoint")


def load_resumable(path):
    """A checkpoint to continue training from, its optimizer states made current (``upgraded_optimizers``).
    One holding NaN or infinity (saved by a version that did not check) is refused by name: its run had
    diverged, and training on would only report a NaN loss."""
    state = load_checkpoint(path)
    diverged = non_finite_entries(state)
    if diverged:
        raise TrainingError(f"{path} holds NaN or infinite values ({name_some(diverged)}): its run had diverged "
                            "and cannot be continued; start it again with --overwrite (perhaps with a smaller --lr)")
    cfg = checkpoint_config(state, path)
    state = upgraded_optimizers(state, cfg)
    check_entries(state, cfg, path, resumable=True)
    return state


# -- a Trainer's state ----------------------------------------------------------------------------------

def trainer_state(trainer):
    """Everything needed to resume a Trainer exactly, as one flat dict of arrays: what checkpoint.npz holds."""
    s = {"format": np.array(CHECKPOINT_FORMAT), "config": np.array(trainer.cfg.to_json()),
         "step": np.array(trainer.step_count), "epoch": np.array(trainer.epoch),
         "batch_index": np.array(trainer.batch_index),
         "order": np.array(trainer.order if trainer.order is not None else [], dtype=np.int64),
         "rng": np.array(json.dumps(backend.get_rng_state())),
         "fixed_noise": trainer.fixed_noise}
    s.update(prefixed("G", trainer.G.state_dict()))
    s.update(prefixed("D", trainer.D.state_dict()))
    if trainer.ema is not None:
        s.update(prefixed("G_avg", trainer.G_avg.state_dict()))
        s["ema_t"] = np.array(trainer.ema.t)
    for name, opt in (("opt_G", trainer.opt_G), ("opt_D", trainer.opt_D)):
        s.update(prefixed(name, {k: np.asarray(v) for k, v in opt.state_dict().items()}))
    return s


def load_trainer_state(trainer, state, path):
    """Put a checkpoint's ``state`` (read from ``path`` by ``load_resumable``, so every entry checked against
    its config) into a fresh Trainer of that config: models, optimizers, the average, the position in the data
    and the random state. Refuses, in one line, what does not fit the data or cannot be restored."""
    order = state["order"]                                         # a permutation: checked by load_resumable
    if order.size and order.size != len(trainer.images):
        raise TrainingError(f"{path} was trained on {order.size} images, the data has {len(trainer.images)}: "
                            "resume with the same data (--data-dir), or start a new run")
    step, epoch, b, per_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_index"]), \
        trainer.batches_per_epoch
    if b > per_epoch or step != epoch * per_epoch + b % per_epoch:
        raise TrainingError(f"{path}: step {step}, epoch {epoch} and batch {b} do not fit together at {per_epoch} "
                            "batches per epoch of this data: the file was edited, or the data is not the run's "
                            "(--data-dir: its own), or the batch size changed")
    for name, model in (("G", trainer.G), ("D", trainer.D)):
        try:
            model.load_state_dict(unprefixed(name, state))
        except ValueError as e:
            raise TrainingError(f"{path}: {name} does not match the model: {e}") from None
    for name, opt in (("opt_G", trainer.opt_G), ("opt_D", trainer.opt_D)):
        opt.load_state_dict(unprefixed(name, state))
    if trainer.ema is not None:                                    # the checkpoint's config says it has one
        trainer.G_avg.load_state_dict(unprefixed("G_avg", state))
        trainer.ema.t = int(state["ema_t"])
    trainer.step_count = int(state["step"])
    trainer.epoch = int(state["epoch"])
    trainer.batch_index = int(state["batch_index"])
    trainer.order = state["order"] if state["order"].size else None
    trainer.fixed_noise = state["fixed_noise"]
    try:
        backend.set_rng_state(json.loads(str(state["rng"])))
    except (ValueError, TypeError, KeyError) as e:
        raise TrainingError(f"{path}: its random state cannot be restored ({type(e).__name__}: {e}): the file was "
                            "damaged or edited; start the run again with --overwrite") from None


# -- the schema: what a checkpoint holds, checked on every read ------------------------------------------

def expected_entries(cfg, resumable=True):
    """Every entry a checkpoint of ``cfg`` holds: ({key: (kind, shape)}, the keys that may be absent).

    The one declaration of a checkpoint's contents (``trainer_state`` writes them). kind: "float32" (weights,
    moments, noise), "int", "real" (a setting: any real number type) or "text"; shape: a tuple, None for any
    length (the data order's). ``resumable=False``: only what sampling reads (G, D, the average).
    An optimizer's moments of a parameter ("m.NAME", "v.NAME", "step.NAME") exist once it has had an update.
    """
    with backend.preserved_rng():                        # building draws weights: not the run's random numbers
        G, D = build_models(cfg)
    entries, optional = {"format": ("text", ()), "config": ("text", ())}, set()
    for prefix, model in [("G", G), ("D", D)] + ([("G_avg", G)] if cfg.ema is not None else []):
        entries.update({f"{prefix}/{k}": ("float32", v.shape) for k, v in model.state_dict().items()})
    if not resumable:
        return entries, optional
    entries.update(step=("int", ()), epoch=("int", ()), batch_index=("int", ()), order=("int", (None,)),
                   rng=("text", ()), fixed_noise=("float32", (None, cfg.nz, 1, 1)))
    if cfg.ema is not None:
        entries["ema_t"] = ("int", ())
    for opt, model in (("opt_G", G), ("opt_D", D)):
        entries.update({f"{opt}/t": ("int", ()), f"{opt}/lr": ("real", ()), f"{opt}/betas": ("real", (2,)),
                        f"{opt}/eps": ("real", ())})
        for name, p in model.named_parameters():
            moments = {f"{opt}/m.{name}": ("float32", p.shape), f"{opt}/v.{name}": ("float32", p.shape),
                       f"{opt}/step.{name}": ("int", ())}
            entries.update(moments)
            optional |= set(moments)
    return entries, optional


KINDS = {"float32": (lambda a: a.dtype == np.float32, "float32"),
         "int": (lambda a: a.dtype.kind in "iu", "an integer"),
         "real": (lambda a: a.dtype.kind in "fiu", "a real number"),
         "text": (lambda a: a.dtype.kind == "U", "text")}


def entry_problem(state, cfg, resumable=True):
    """The first thing in a checkpoint's ``state`` that does not fit ``expected_entries(cfg)``, in a few
    words; None when everything fits."""
    expected, optional = expected_entries(cfg, resumable)
    missing = [k for k in expected if k not in state and k not in optional]
    if missing:
        return f"it lacks {name_some(missing)}"
    for key, (kind, shape) in expected.items():
        if key not in state:
            continue
        value = np.asarray(state[key])
        fits, noun = KINDS[kind]
        if not fits(value):
            return f"{key} holds {value.dtype}, but must be {noun}"
        if len(value.shape) != len(shape) or any(n is not None and n != m for n, m in zip(shape, value.shape)):
            return f"{key} has the shape {value.shape}, but a model of its config needs {shape}"
    for key in sorted(k for k in optional if k in state and "/m." in k):        # a moment, then its companions
        for companion in (key.replace("/m.", "/v.", 1), key.replace("/m.", "/step.", 1)):
            if companion not in state:
                return f"it has {key} but lacks {companion} (an optimizer's m., v. and step. go together)"
    for key in optional:
        if key in state and key.replace("/v.", "/m.", 1).replace("/step.", "/m.", 1) not in state:
            return f"it has {key} without the moment m. of that parameter"
    unexpected = sorted(set(state) - set(expected))
    if unexpected and resumable:
        return f"it holds {name_some(unexpected)}, which a checkpoint of its config does not"
    return value_problem(state, cfg, resumable)


def value_problem(state, cfg, resumable):
    """The values a checkpoint's entries must hold, beyond their dtype and shape: counts that agree with each
    other, the optimiser's settings the config's, statistics that are statistics, a data order that is one."""
    bad = [k for k in non_finite_entries(state) if k.startswith(("G/", "D/", "G_avg/"))]
    if bad:
        return f"{name_some(bad)} hold NaN or infinite values (its run had diverged)"
    negative = [k for k in state if k.endswith("running_var") or "/v." in k if (np.asarray(state[k]) < 0).any()]
    if negative:
        return f"{negative[0]} holds negative values, but a variance is never negative"
    if not resumable:
        return None
    step = int(state["step"])
    counts = {k: int(state[k]) for k in ("epoch", "batch_index", "opt_G/t", "opt_D/t", "ema_t") if k in state}
    if step < 0 or min(counts.values()) < 0:
        return "a count (step, epoch, batch_index, the optimisers' t) is below 0"
    for k in ("opt_G/t", "opt_D/t") + (("ema_t",) if "ema_t" in state else ()):
        if counts[k] != step:
            return f"{k} is {counts[k]}, but the run took {step} steps"
    for opt in ("opt_G", "opt_D"):
        expected = {"lr": cfg.lr, "betas": (cfg.beta1, 0.999), "eps": 1e-8}
        for name, value in expected.items():
            if not np.allclose(np.asarray(state[f"{opt}/{name}"], dtype=np.float64), value, rtol=1e-12, atol=0):
                return (f"{opt}/{name} is {np.asarray(state[f'{opt}/{name}']).tolist()}, but the config's is "
                        f"{list(value) if isinstance(value, tuple) else value}")
        steps = {k: int(v) for k, v in state.items() if k.startswith(f"{opt}/step.")}
        wrong = [k for k, v in steps.items() if not 1 <= v <= step]
        if wrong:
            return f"{wrong[0]} is {steps[wrong[0]]}, but a parameter's updates are 1 to the run's {step} steps"
    order = np.asarray(state["order"])
    if order.size and not np.array_equal(np.sort(order), np.arange(order.size)):
        return "order is not a permutation of the data's images (each image once)"
    return None


def check_entries(state, cfg, path, resumable=True):
    """One line (a UserError) naming the first entry of the checkpoint at ``path`` that does not fit its config."""
    problem = entry_problem(state, cfg, resumable)
    if problem:
        raise UserError(f"{path} does not fit its own config: {problem} (the file was damaged or edited, or "
                        "written by another program); it cannot be "
                        f"{'resumed' if resumable else 'sampled from'}")


# -- what older versions wrote, made current ------------------------------------------------------

# A config's keys: those every version wrote (a config without one was cut or edited), and those older
# versions wrote that are no longer fields (a --per-class run's driver state, dropped). The fields added since
# (conditional, per_class, n_classes, head, real_label, instance_noise, instance_noise_steps, ema, strict_data,
# eval_every, classifier, eval_n) take their defaults.
ALWAYS_WRITTEN = ("dataset", "data_dir", "image_size", "nc", "nz", "ngf", "ndf", "batch_size", "lr", "beta1", "seed",
                  "epochs", "max_steps", "log_every", "out")
NO_LONGER_FIELDS = {"class_filter", "run_root"}


def config_from_json(text):
    """The Config of a checkpoint's (or a --per-class run's) JSON, every field checked (``config.RULES``:
    a ValueError names the first that does not fit). Older versions also wrote keys that are no longer
    fields (a --per-class run's driver state: dropped), n_classes as null (0), and no "ema" (no averaged
    generator)."""
    saved = json.loads(text)
    if not isinstance(saved, dict):
        raise ValueError(f"it is a JSON {type(saved).__name__}, not an object of settings")
    known = {f.name for f in dataclasses.fields(Config)}
    missing = [k for k in ALWAYS_WRITTEN if k not in saved]
    if missing:
        raise ValueError(f"it lacks {name_some(missing)}, which every version wrote")
    unknown = sorted(set(saved) - known - NO_LONGER_FIELDS)
    if unknown:
        raise ValueError(f"it holds {name_some(unknown)}, which no version of this program wrote")
    values = {k: v for k, v in saved.items() if k in known}
    values["n_classes"] = values.get("n_classes") or 0
    values.setdefault("ema", None)
    problem = config_problem(values)
    if problem:
        raise ValueError(problem)
    return Config(**values)


def upgraded_optimizers(state, cfg):
    """``state`` with each optimizer's entries in the form ``nn.Adam.load_state_dict`` reads. Older versions
    kept one step count "t" for every parameter (now "step.NAME" each: PyTorch's per-parameter count) and
    no settings (the config's lr and beta1, and Adam's defaults beta2 0.999, eps 1e-8)."""
    state = dict(state)
    for opt in ("opt_G", "opt_D"):
        if f"{opt}/t" not in state:
            continue
        for key in [k for k in state if k.startswith(f"{opt}/m.")]:
            state.setdefault(f"{opt}/step.{key[len(opt) + 3:]}", state[f"{opt}/t"])
        state.setdefault(f"{opt}/lr", np.array(cfg.lr))
        state.setdefault(f"{opt}/betas", np.array([cfg.beta1, 0.999]))
        state.setdefault(f"{opt}/eps", np.array(1e-8))
    return state


def prefixed(prefix, d):
    """{"w": a} -> {"G/w": a}: one model's state inside a flat checkpoint."""
    return {f"{prefix}/{k}": v for k, v in d.items()}


def unprefixed(prefix, state):
    """The entries of one model ("G/...") with the prefix taken off."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in state.items() if k.startswith(prefix + "/")}


def checkpoint_config(state, path="checkpoint"):
    """The Config a checkpoint was trained with."""
    if "config" not in state:
        raise UserError(f"{path} has no config entry: not a training checkpoint of this program")
    cfg = config_from_text(str(state["config"]), f"{path}'s config")
    if cfg.per_class:
        raise UserError(f"{path}'s config says per_class, but a checkpoint is one run's (or one class's): a "
                        "--per-class run's settings are in its per_class.json; the file was edited")
    return cfg


def config_from_text(text, what):
    """``config_from_json`` with every failure one line naming ``what`` was read ("PATH's config")."""
    try:
        return config_from_json(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{what} cannot be read: it is not JSON ({e}); the file was damaged or edited") from None
    except (ValueError, TypeError) as e:
        raise UserError(f"{what} does not fit this program: {e} (the file was damaged or edited)") from None


def read_config_file(path):
    """The Config in a JSON file (a --per-class run's per_class.json), every failure one line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path} cannot be read ({why(e) if isinstance(e, OSError) else 'not text'})") from None
    return config_from_text(text, path)


def load_models(state, path="checkpoint", generator="average"):
    """Build G and D from a checkpoint's config and load their weights (any backend).

    ``generator="average"`` gives the averaged generator (``--ema``) when the
    checkpoint has one, else G itself; "raw" always gives G's own weights.
    """
    cfg = checkpoint_config(state, path)
    check_entries(state, cfg, path, resumable=False)
    with backend.preserved_rng():                        # the weights come from the checkpoint
        G, D = build_models(cfg)
    use_average = generator == "average" and has_average(state)
    for name, model in (("G", G), ("D", D)) + ((("G_avg", G),) if use_average else ()):   # all checked
        try:
            model.load_state_dict(unprefixed(name, state))
        except ValueError as e:
            raise UserError(f"{path}: {name} does not match the architecture in its config: {e}") from None
    return cfg, G, D


def has_average(state):
    """Does the checkpoint hold an averaged generator (trained with --ema)?"""
    return any(k.startswith("G_avg/") for k in state)


def non_finite_entries(state):
    """The names of a checkpoint state's float arrays that hold NaN or infinity (a diverged model)."""
    return [k for k, v in state.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
