"""The benchmark cases, and a Trainer for one: what bench_step.py times and launches.py counts."""
import argparse
import contextlib

import numpy as np

import dcgan
from gan import cli
from gan.config import Config
from gan.errors import UserError

CASES = [(32, 1, 64), (32, 1, 128), (64, 3, 64), (64, 3, 128)]     # (image size, channels, batch)


def parse_case(text):
    """"32x128" -> (32, 1, 128): 32x32 is the MNIST case (1 channel), 64x64 the paper's (3 channels)."""
    size, _, batch = text.partition("x")
    if size not in ("32", "64") or not batch.isdigit() or int(batch) < 1:
        raise ValueError(f"{text!r} is not SIZExBATCH with SIZE 32 or 64 and BATCH at least 1")
    return int(size), 1 if size == "32" else 3, int(batch)


def case_list(text):
    """The argparse type of --cases: "32x128,64x64" -> [(32, 1, 128), (64, 3, 64)]; anything else is one line."""
    try:
        return [parse_case(case) for case in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of SIZExBATCH: SIZE 32 (1 channel) or 64 (3 channels), "
            "BATCH at least 1, e.g. 32x128,64x64") from None


@contextlib.contextmanager
def case_memory(size, batch):
    """Running out of memory inside the block is one line naming the case (not the flags of dcgan.py that
    run_command's own line would name)."""
    try:
        yield
    except MemoryError as e:
        raise UserError(f"--cases {size}x{batch}: out of memory ({e or 'MemoryError'}): ask for a smaller "
                        "batch") from None


def make_trainer(size, nc, batch, ema=False, layers=None):
    """A Trainer of this case on random images; ``layers``: nn or nn.fast (default: dcgan.py's choice)."""
    cfg = Config(nc=nc, image_size=size, batch_size=batch,         # otherwise dcgan.py's defaults
                 ema=cli.EMA_DECAY if ema else None)
    images = np.random.default_rng(0).integers(0, 256, (batch * 4, nc, size, size), dtype=np.uint8)
    return dcgan.Trainer(cfg, images, layers=layers)
