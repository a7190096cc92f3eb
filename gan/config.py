"""Config: everything a training run is asked to do, typed and frozen; stored in every checkpoint as JSON.

A Config is never changed in place: what a run learns about its data
(``nc``, the number of channels; ``n_classes`` for a conditional model) is
filled in with ``dataclasses.replace`` before the models are built, and a
resumed run gets a new Config from ``resumed(saved, ...)``: the checkpoint
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
        """A Config from a checkpoint's JSON; keys of older versions that are not fields are ignored."""
        saved = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in saved.items() if k in known}
        values["n_classes"] = values.get("n_classes") or 0          # older checkpoints wrote null
        values.setdefault("ema", None)                               # older runs had no averaged generator
        return cls(**values)


def absolute(path):
    return os.path.abspath(path) if path else None


def resumed(saved, out, epochs, max_steps, log_every, data_dir=None, eval_every=None, classifier=None,
            eval_n=None):
    """The Config a resumed run trains with: the checkpoint's model and optimiser, the command line's run.

    ``epochs`` is the total to reach (None: the run's own); ``data_dir`` (if given) replaces the saved one;
    --eval-every settings replace the saved ones only when --eval-every is given.
    """
    changes = dict(out=out, epochs=epochs or saved.epochs, max_steps=max_steps, log_every=log_every)
    if data_dir:
        changes["data_dir"] = absolute(data_dir)
    if eval_every:
        changes.update(eval_every=eval_every, classifier=classifier, eval_n=eval_n or saved.eval_n)
    return dataclasses.replace(saved, **changes)
