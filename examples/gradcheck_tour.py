"""A tour of every layer's backward pass, proven against numerical gradients.

    python -m examples.gradcheck_tour [--backend numpy|cupy|array_api_strict]

For each layer it builds a tiny instance in float64, draws a random input
and a random upstream gradient, runs forward + backward, and compares the
gradients with central differences (nn/gradcheck.py). It prints one row per
layer: the relative error of dx and of each parameter gradient. Around 1e-10
is a correct backward; a wrong one shows up as 1e-2 or worse, and then the
tour ends with one error: line and exit code 1.
"""
import argparse
import sys

import numpy as np

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.gradcheck_tour ...")

import nn
from gan import cli
from gan.errors import UserError
from nn.gradcheck import check_layer, check_loss

BOUND = 1e-6            # a correct backward gives about 1e-10, a wrong one 1e-2 or worse
LAYERS = [
    ("Conv2d(3, 4, k=4, s=2, p=1)", lambda: nn.Conv2d(3, 4, 4, 2, 1), (2, 3, 6, 6)),
    ("Conv2d(3, 2, k=4, s=1, p=0)", lambda: nn.Conv2d(3, 2, 4, 1, 0, bias=False), (2, 3, 4, 4)),
    ("Conv2d(2, 3, k=3, s=1, p=1)", lambda: nn.Conv2d(2, 3, 3, 1, 1), (2, 2, 5, 5)),
    ("ConvTranspose2d(4, 3, k=4, s=2, p=1)", lambda: nn.ConvTranspose2d(4, 3, 4, 2, 1), (2, 4, 3, 3)),
    ("ConvTranspose2d(4, 2, k=4, s=1, p=0)", lambda: nn.ConvTranspose2d(4, 2, 4, 1, 0, bias=False), (2, 4, 1, 1)),
    ("BatchNorm2d(3), train", lambda: nn.BatchNorm2d(3), (4, 3, 2, 2)),
    ("BatchNorm2d(3), eval", lambda: nn.BatchNorm2d(3).eval(), (4, 3, 2, 2)),
    ("BatchNorm1d(4), train", lambda: nn.BatchNorm1d(4), (5, 4)),
    ("Linear(5, 3)", lambda: nn.Linear(5, 3), (4, 5)),
    ("ReLU", nn.ReLU, (3, 4)),
    ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), (3, 4)),
    ("Tanh", nn.Tanh, (3, 4)),
    ("Sigmoid", nn.Sigmoid, (3, 4)),
    ("Flatten", nn.Flatten, (2, 3, 2, 2)),
    ("Reshape(2, 2, 2)", lambda: nn.Reshape(2, 2, 2), (3, 8)),
]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m examples.gradcheck_tour", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy", choices=nn.backend.BACKENDS)
    return cli.run_command(tour, parser.parse_args(argv))


def tour(args):
    nn.backend.use(args.backend)
    print(f"backend {args.backend}, float64, central differences h=1e-6, random upstream gradient\n")
    print(f"{'layer':40s} {'gradient':10s} {'rel error':>10s}")
    errors = {}                                # (layer, gradient) -> relative error
    for title, make, shape in LAYERS:
        # keep ReLU-like inputs away from the kink at 0, where the derivative jumps
        x = np.random.default_rng(1).standard_normal(shape)
        x = np.where(np.abs(x) < 0.1, 0.1 * np.sign(x) + x, x)
        for row, (grad, err) in enumerate(check_layer(make(), shape, x=x).items()):
            print(f"{title if row == 0 else '':40s} d{grad:9s} {err:10.1e}")      # the layer's name once
            errors[title, "d" + grad] = err
    rng = np.random.default_rng(2)
    for title, loss, x in [("BCEWithLogits", nn.BCEWithLogits(), rng.standard_normal((6, 1)) * 3),
                           ("BCE (probabilities)", nn.BCE(), rng.uniform(0.05, 0.95, (6, 1)))]:
        err = check_loss(loss, x, rng.integers(0, 2, (6, 1)).astype(np.float64))
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
