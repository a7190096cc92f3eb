"""How long a run's first steps take, compile included: numba's kernels (nn/fast/cpu_kernels.py).

    python -m benchmarks.first_step                       # with the compile cache as it is
    NUMBA_CACHE_DIR=$(mktemp -d) python -m benchmarks.first_step   # cold: every kernel compiled

One JSON line: the numba status, seconds to import the layers and numba, the first
step (which compiles the kernels it calls, or loads them from the cache), the second and
third (compiled), for the 32x32 batch-128 case with nn.fast and the averaged G, as dcgan.py
trains it. The first step less the third is what compiling (or loading) costs.
"""
import json
import sys
import time

if __package__ in (None, ""):
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.first_step")


def main():
    t = time.perf_counter()
    import nn.fast
    from nn.fast import cpu_kernels
    status = cpu_kernels.status()                     # imports numba (and the loops' module), compiles nothing
    loaded = time.perf_counter() - t
    from benchmarks.cases import make_trainer
    from nn import backend
    backend.seed(0)
    trainer = make_trainer(32, 1, 128, ema=True, layers=nn.fast)
    steps = []
    for _ in range(3):
        t = time.perf_counter()
        trainer.step(*trainer.next_batch())
        steps.append(time.perf_counter() - t)
    print(json.dumps({"numba": status, "cache": cpu_kernels.cache_dir() if status else None,
                      "import_s": round(loaded, 3), "step_s": [round(s, 3) for s in steps],
                      "first_step_extra_s": round(steps[0] - steps[2], 3)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
