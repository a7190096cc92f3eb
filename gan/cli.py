"""The command line around every program here: one-line errors, argparse number types, the backend flag.

``run_command(command, args)`` is how dcgan.py and the examples run: a
user error (``USER_ERRORS``) or running out of memory becomes one line
``error: ...`` and exit code 1; any other exception is a bug (in the
project, or in a layer you are editing): its traceback, then one line saying
so, and exit code 1.
"""
import argparse
import bdb
import math
import sys
import traceback

import datasets
from nn import backend

from .errors import UserError
from .memory import keep_freed_memory

USER_ERRORS = (UserError, datasets.DatasetError, backend.BackendError)
BACKEND_CHOICES = ["numpy", "cupy"]


def run_command(command, args):
    """Run ``command(args)`` as a program; returns the exit code (0, 1 for errors, 130 for Ctrl-C)."""
    try:
        command(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except bdb.BdbQuit:                          # q in a debugger (python -m pdb dcgan.py): the debugger's to handle
        raise
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
