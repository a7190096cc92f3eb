"""Which files and lines of the project one training step runs: what a debugger visits stepping through it.

    python -m benchmarks.step_lines                 # NumPy, dcgan.py's defaults (the readable layers), 32x32 batch 64
    python -m benchmarks.step_lines --layers fast   # the same step built from nn/fast/

It builds a Trainer as dcgan.py does (with the averaged generator, as by default), takes one step
untraced (Adam's moments exist from then on), then traces the next ``Trainer.step`` with
``sys.settrace`` and prints, per file of the project, the distinct lines that ran, and the totals.
"""
import collections
import os
import sys

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.step_lines ...")

from benchmarks.cases import make_trainer
from gan import cli
from gan.models import LAYER_LIBRARIES, layer_library, use_layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lines_of_one_step(trainer):
    """{file relative to the repository: set of line numbers} that one ``trainer.step`` runs (benchmarks/ left out)."""
    batch = trainer.next_batch()
    seen = collections.defaultdict(set)

    def tracer(frame, event, arg):
        path = frame.f_code.co_filename
        if not path.startswith(ROOT) or os.sep + "benchmarks" + os.sep in path:
            return None
        if event == "line":
            seen[os.path.relpath(path, ROOT)].add(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    try:
        trainer.step(*batch)
    finally:
        sys.settrace(None)
    return dict(seen)


def parser():
    p = cli.command_parser("python -m benchmarks.step_lines", __doc__.splitlines()[0])
    p.add_argument("--layers", default=None, choices=LAYER_LIBRARIES,
                   help="as dcgan.py's --layers (default: nn on NumPy)")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def run(args):
    use_layers(args.layers)
    try:
        trainer = make_trainer(32, 1, 64, ema=True, layers=layer_library())
        trainer.step(*trainer.next_batch())
        seen = lines_of_one_step(trainer)
        for path in sorted(seen):
            print(f"{path:28s} {len(seen[path]):4d} lines")
        print(f"{len(seen)} files, {sum(map(len, seen.values()))} distinct lines ({layer_library().__name__})")
    finally:
        use_layers(None)


if __name__ == "__main__":
    sys.exit(main())
