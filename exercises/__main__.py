"""python -m exercises list | start NAME [--dir DIR] [--solution] | check NAME [--dir DIR]"""
import os
import pathlib
import sys
import time

from gan import cli
from gan.errors import UserError

from . import catalogue, library
from .checking import run_checks
from .skeleton import skeleton

DEFAULT_DIR = "my_layers"


def parser():
    p = cli.command_parser("python -m exercises", "Write each backward pass of the DCGAN yourself, checked by "
                           "gradient checks; then train on your own layers (python dcgan.py --layers my_layers).")
    commands = p.add_subparsers(dest="command", required=True, metavar="{list,start,check}")
    commands.add_parser("list", help="the exercises, in reading order, with what each asks")
    for name, text in (("start", "write DIR/NAME.py, the piece with the bodies to write"),
                       ("check", "run the gradient checks on DIR/NAME.py, with a diagnosis")):
        command = commands.add_parser(name, help=text, allow_abbrev=False)
        command.error = p.error
        command.add_argument("name", metavar="NAME", help="an exercise (python -m exercises list)")
        command.add_argument("--dir", default=DEFAULT_DIR, type=cli.path_text,
                             help="the folder of your exercise files")
        if name == "start":
            command.add_argument("--solution", action="store_true",
                                 help="write the solved piece instead (a teacher's answer key)")
    return p


def exercise_named(name):
    if name not in catalogue.BY_NAME:
        raise UserError(f"no exercise {name!r}: one of {', '.join(catalogue.BY_NAME)} (python -m exercises list)")
    return catalogue.BY_NAME[name]


def list_exercises(args):
    for number, exercise in enumerate(catalogue.EXERCISES, start=1):
        print(f"{number:2d}. {exercise.name:17s} {exercise.asks} (about {exercise.minutes} min)")
    print(f"\npython -m exercises start NAME writes {DEFAULT_DIR}/NAME.py; python -m exercises check NAME checks it; "
          f"python dcgan.py --layers {DEFAULT_DIR} trains with what you wrote")


def start(args):
    exercise = exercise_named(args.name)
    path = library.student_file(args.dir, exercise)
    if os.path.lexists(path):
        raise UserError(f"{path} already exists (your work is kept): to start over, move it away or delete it, "
                        "then run start again")
    from gan.writing import output_file, write_atomically
    output_file(path, "--dir")
    text = skeleton(exercise, solution=args.solution)
    write_atomically(path, lambda tmp: pathlib.Path(tmp).write_text(text), replace=False)
    what = "the solved piece" if args.solution else f"{', '.join(exercise.blanks)} to write"
    print(f"wrote {path}: {what}. Then: python -m exercises check {exercise.name}"
          + (f" --dir {args.dir}" if args.dir != DEFAULT_DIR else ""))


def check(args):
    exercise = exercise_named(args.name)
    path = library.student_file(args.dir, exercise)
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist: python -m exercises start {exercise.name}"
                        + (f" --dir {args.dir}" if args.dir != DEFAULT_DIR else ""))
    started = time.perf_counter()
    try:
        module = library.load(args.dir, exercise)
    except Exception as error:                                 # their file: its traceback, then the verdict
        import traceback
        traceback.print_exception(type(error), error, error.__traceback__)
        raise UserError(f"{path} cannot be imported ({type(error).__name__}: {error}): the traceback above "
                        "shows where") from None
    print(f"check {exercise.name}: {path}, against nn/'s checks (float64, a random upstream gradient, bound 1e-6)")
    lines = run_checks(exercise, module)
    for line in lines:
        print(line.text())
    failed = [line for line in lines if line.ok is False]
    checks = [line for line in lines if line.ok is not None]
    seconds = time.perf_counter() - started
    if failed:
        print(f"\nFAILED: {len(failed)} of {len(checks)} checks ({seconds:.1f} s)")
        raise SystemExit(1)
    print(f"\npassed: all {len(checks)} checks ({seconds:.1f} s)")


COMMANDS = {"list": list_exercises, "start": start, "check": check}


def main(argv=None):
    args = parser().parse_args(argv)
    return cli.run_command(COMMANDS[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
