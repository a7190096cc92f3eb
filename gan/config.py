"""Config: everything a training run is asked to do, typed and frozen; stored in every checkpoint as JSON.

A Config is never changed in place: what a run learns about its data
(``nc``, the number of channels; ``n_classes`` for a conditional model) is
filled in with ``dataclasses.replace`` before the models are built, and a
resumed run gets a new Config from ``resumed(saved, out, asked)``: the checkpoint
decides the model and the optimiser, the command line only how far to go,
how to log, and where the data is.
"""
import dataclasses
import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    # data
    dataset: str = "mnist"
    data_dir: str | None = None         # absolute, so a run can be resumed from any folder
    image_size: int = 32
    nc: int | None = None               # image channels; None until the data is seen
    strict_data: bool = False           # folder: refuse unreadable images instead of skipping them
    # the models (the paper's at the defaults)
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    head: str = "conv"                  # "linear": a Linear layer maps z to G's 4x4 maps and ends D
    conditional: bool = False
    n_classes: int = 0                  # > 0: a conditional model with this many classes
    # the optimisation
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    real_label: float = 1.0             # < 1: one-sided label smoothing
    instance_noise: float = 0.0
    instance_noise_steps: int | None = None   # the steps the noise fades over: the run's length when it began
    ema: float | None = None            # decay of the averaged generator (nn/ema.py); None: no average
    # the run
    epochs: int = 25
    max_steps: int | None = None
    log_every: int = 10
    out: str = "runs/mnist"
    per_class: bool = False
    eval_every: int | None = None
    classifier: str | None = None
    eval_n: int = 2000

    def to_json(self):
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        """The Config ``to_json`` wrote (what older versions wrote: ``gan.checkpoint.config_from_json``)."""
        return cls(**json.loads(text))


def _number(kind, check, requirement, optional=False):
    """A field rule: (is the JSON value acceptable?, what the field must be). bool is not a number here."""
    def ok(value):
        if value is None:
            return optional
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            return False
        return check(value)
    return ok, requirement + (" or null" if optional else "")


def _choice(*choices):
    return (lambda value: value in choices), "one of " + ", ".join(map(repr, choices))


def _text(optional=False):
    return (lambda value: isinstance(value, str) and value != "" or (optional and value is None),
            "a non-empty text" + (" or null" if optional else ""))


_FLAG = (lambda value: isinstance(value, bool)), "true or false"
_FINITE = float("inf")

# What each field may hold, checked whenever a Config is read back from a file (a checkpoint's config, a
# --per-class run's per_class.json): the same ranges as the command line's flags (gan/cli.py), so an edited
# or damaged file is one line naming the first field that does not fit, never a traceback at the first step.
RULES = {
    "dataset": _choice("mnist", "fashion-mnist", "cifar10", "folder"),
    "data_dir": _text(optional=True),
    "image_size": _choice(16, 32, 64, 128),
    "nc": _choice(None, 1, 3),
    "strict_data": _FLAG,
    "nz": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "ngf": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "ndf": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "head": _choice("conv", "linear"),
    "conditional": _FLAG,
    "n_classes": _number(int, lambda v: v >= 0, "an integer at least 0"),
    "batch_size": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "lr": _number(float, lambda v: 0 < v < _FINITE, "a positive number"),
    "beta1": _number(float, lambda v: 0 <= v < 1, "a number at least 0 and below 1"),
    "seed": _number(int, lambda v: 0 <= v < 2 ** 32, "an integer from 0 to 2**32 - 1"),
    "real_label": _number(float, lambda v: 0 < v <= 1, "a number above 0 and at most 1"),
    "instance_noise": _number(float, lambda v: 0 <= v < _FINITE, "a number at least 0"),
    "instance_noise_steps": _number(int, lambda v: v >= 1, "an integer at least 1", optional=True),
    "ema": _number(float, lambda v: 0 < v < 1, "a number above 0 and below 1", optional=True),
    "epochs": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "max_steps": _number(int, lambda v: v >= 1, "an integer at least 1", optional=True),
    "log_every": _number(int, lambda v: v >= 1, "an integer at least 1"),
    "out": _text(),
    "per_class": _FLAG,
    "eval_every": _number(int, lambda v: v >= 1, "an integer at least 1", optional=True),
    "classifier": _text(optional=True),
    "eval_n": _number(int, lambda v: v >= 2, "an integer at least 2"),
}


def config_problem(values):
    """What is wrong with a Config's fields read back from a file (a dict), in a few words; None if nothing."""
    for name, (ok, requirement) in RULES.items():
        if name in values and not ok(values[name]):
            return f"{name} is {json.dumps(values[name])}, but must be {requirement}"
    if values.get("conditional") and values.get("per_class"):
        return "conditional and per_class are both true, but a run is one or the other"
    return None


def absolute(path):
    return os.path.abspath(path) if path else None


def resumed(saved, out, asked):
    """The Config a resumed run trains with: the checkpoint's model and optimiser, the command line's run.

    ``asked`` holds the run settings by name (``epochs``, ``max_steps``, ``log_every``, ``data_dir``,
    ``eval_every``, ``classifier``, ``eval_n``): the parsed flags of ``--resume``, or for one class of
    a --per-class run the Config its driver resumed with, so both merge the same way. ``epochs`` is the
    total to reach (None: the run's own); ``data_dir`` (if given) replaces the saved one, made absolute;
    --eval-every settings replace the saved ones only when --eval-every is given.
    """
    changes = dict(out=out, epochs=asked.epochs or saved.epochs, max_steps=asked.max_steps,
                   log_every=asked.log_every)
    if asked.data_dir:
        changes["data_dir"] = absolute(asked.data_dir)
    if asked.eval_every:
        changes.update(eval_every=asked.eval_every, classifier=asked.classifier,
                       eval_n=asked.eval_n or saved.eval_n)
    return dataclasses.replace(saved, **changes)
