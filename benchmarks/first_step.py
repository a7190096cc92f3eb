"""How long a run's first steps take, compile included: numba's kernels (nn/fast/cpu_kernels.py).

    python -m benchmarks.first_step                       # with the compile cache as it is
    NUMBA_CACHE_DIR=$(mktemp -d) python -m benchmarks.first_step   # cold: every kernel compiled
    python -m benchmarks.first_step --cases 64x64

One JSON line per case: the numba status, seconds to import the layers and numba, the first
step (which compiles the kernels it calls, or loads them from the cache), the second and
third (compiled), with nn.fast and the averaged G, as dcgan.py trains it. The first step
less the third is what compiling (or loading) costs.
"""
import json
import sys
import time

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.first_step ...")

from benchmarks.cases import case_list
from gan import cli


def parser():
    p = cli.command_parser("python -m benchmarks.first_step", __doc__.splitlines()[0])
    p.add_argument("--cases", default="32x128", type=case_list,
                   help="a comma list of SIZExBATCH, e.g. 32x128,64x64: size 32 (1 channel) or 64 (3 channels)")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def run(args):
    t = time.perf_counter()
    import nn.fast
    from nn.fast import cpu_kernels
    status = cpu_kernels.status()                     # imports numba (and the loops' module), compiles nothing
    loaded = time.perf_counter() - t
    from benchmarks.cases import case_memory, make_trainer
    from nn import backend
    for size, channels, batch in args.cases:
        backend.seed(0)
        with case_memory(size, batch):
            trainer = make_trainer(size, channels, batch, ema=True, layers=nn.fast)
            steps = []
            for _ in range(3):
                t = time.perf_counter()
                trainer.step(*trainer.next_batch())
                steps.append(time.perf_counter() - t)
        print(json.dumps({"case": f"{size}x{batch}", "numba": status,
                          "cache": cpu_kernels.cache_dir() if status else None,
                          "import_s": round(loaded, 3), "step_s": [round(s, 3) for s in steps],
                          "first_step_extra_s": round(steps[0] - steps[2], 3)}), flush=True)
        loaded = 0.0                                  # imported once, for the first case


if __name__ == "__main__":
    sys.exit(main())
