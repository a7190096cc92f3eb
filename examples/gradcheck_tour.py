"""A tour of every layer's backward pass, proven against numerical gradients.

    python -m examples.gradcheck_tour [--backend numpy|cupy|array_api_strict]

For each layer it builds a tiny instance in float64, draws a random input
and a random upstream gradient, runs forward + backward, and compares the
gradients with central differences (nn/gradcheck.py). It prints one row per
layer: the relative error of dx and of each parameter gradient. Around 1e-10
is a correct backward; a wrong one shows up as 1e-2 or worse, and then the
tour ends with one error: line and exit code 1.
"""
import sys


if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.gradcheck_tour ...")

import nn
from gan import cli
from gan.errors import UserError
from nn.gradcheck import LAYER_CASES, LOSS_CASES, away_from_zero, check_layer, check_loss

BOUND = 1e-6            # a correct backward gives about 1e-10, a wrong one 1e-2 or worse


def parser():
    p = cli.command_parser("python -m examples.gradcheck_tour", __doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=nn.backend.BACKENDS,
                   help="array backend: numpy, cupy (NVIDIA GPU) or array_api_strict (the standard's minimum)")
    return p


def main(argv=None):
    return cli.run_command(tour, parser().parse_args(argv))


def tour(args):
    nn.backend.use(args.backend)
    print(f"backend {args.backend}, float64, central differences h=1e-6, random upstream gradient\n")
    print(f"{'layer':40s} {'gradient':10s} {'rel error':>10s}")
    errors = {}                                # (layer, gradient) -> relative error
    for title, make, shape in LAYER_CASES:                 # the cases the tests check (nn/gradcheck.py)
        for row, (grad, err) in enumerate(check_layer(make(nn), shape, x=away_from_zero(shape)).items()):
            print(f"{title if row == 0 else '':40s} d{grad:9s} {err:10.1e}")      # the layer's name once
            errors[title, "d" + grad] = err
    for title, make, x, target in LOSS_CASES:
        err = check_loss(make(nn), x, target)
        print(f"{title:40s} d{'input':9s} {err:10.1e}")
        errors[title, "dinput"] = err
    (layer, grad), worst = max(errors.items(), key=lambda item: item[1])
    passed = worst < BOUND
    print(f"\nworst relative error: {worst:.1e}, {grad} of {layer}  ({'OK' if passed else 'FAILED'}: bound {BOUND:g})")
    if not passed:                             # the claim above, asserted: a failed check is a failed run
        wrong = [f"{g} of {name}" for (name, g), e in errors.items() if e >= BOUND]
        raise UserError(f"{len(wrong)} gradient(s) above the bound {BOUND:g}, the worst {grad} of {layer} "
                        f"({worst:.1e}): {', '.join(wrong[:4])}{' ...' if len(wrong) > 4 else ''}: "
                        "those backward passes are wrong")


if __name__ == "__main__":
    sys.exit(main())
