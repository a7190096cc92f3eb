"""Would splitting NumPy's element-wise work over threads pay on this machine, at this model's sizes?

    python -m benchmarks.split_ops                      # --threads N (default: the cores), --sizes-mib 1,2,4

The work around the GEMMs (docs/benchmarks.md, "Every core") is many operations of 2 to 16 MiB each
at 32x32 batch 128, each on one core. NumPy releases Python's lock inside its loops, so a thread pool
can run one operation on N slices at once, but every slice handed to a thread is a round trip
through the pool. This prints one JSON line:

    handoff_us        one round trip: submit a call that does nothing to a pool thread, wait for it
                      (median and 90th percentile)
    per size (MiB)    BatchNorm's normalisation y = xc * k + beta on one thread, then on N slices
                      over N threads (this thread one of them), in microseconds, medians; and
                      split / one: a split pays where this is well under 1 (0.5 is perfect at 2)

A split saves at most (N - 1) / N of the operation and costs at least one round trip, so it pays
only where an operation takes many round trips' time; docs/benchmarks.md has this machine's figures.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.split_ops ...")

import numpy as np

from gan import cli
from gan.errors import UserError

MAX_THREADS = 1024


def median_us(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6, sorted(times)[int(0.9 * (repeats - 1))] * 1e6


def normalise(xc, k, beta, y):
    np.multiply(xc, k, out=y)
    np.add(y, beta, out=y)


def sizes(text):
    """"1,2,4" -> [1.0, 2.0, 4.0]: the argparse type of --sizes-mib (positive, finite numbers)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < v and math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes in MiB, each a positive "
                                         "number, e.g. 1,2,4")
    return values


def parser():
    p = cli.command_parser("python -m benchmarks.split_ops", __doc__.split("\n")[0])
    p.add_argument("--threads", default=min(MAX_THREADS, max(2, os.cpu_count() or 1)),
                   type=cli.number_type(int, lambda v: 2 <= v <= MAX_THREADS, f"from 2 to {MAX_THREADS}"),
                   help="threads to split over (default: the cores, at least 2)")
    p.add_argument("--sizes-mib", type=sizes, default="1,2,4,8,16",
                   help="comma list of array sizes, MiB (float32)")
    p.add_argument("--repeats", type=cli.positive_int, default=200, help="timings per median")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def run(args):
    n = args.threads
    for mib in args.sizes_mib:                         # every size checked before any is measured
        if int(mib * (1 << 20)) // 4 < n:
            raise UserError(f"--sizes-mib {mib:g} is fewer than {n} float32 numbers: too small to split over "
                            f"--threads {n}")
    pool = ThreadPoolExecutor(n - 1)
    try:
        measure(args, n, pool)
    finally:
        pool.shutdown()


def measure(args, n, pool):
    pool.submit(int).result()
    handoff = median_us(lambda: pool.submit(int).result(), args.repeats * 5)
    result = {"threads": n, "handoff_us": [round(t, 1) for t in handoff]}
    k, beta = np.float32(1.5), np.float32(0.25)
    for mib in args.sizes_mib:
        size = int(mib * (1 << 20)) // 4
        try:
            xc = np.random.default_rng(0).standard_normal(size, dtype=np.float32)
            y = np.empty_like(xc)
        except MemoryError:
            raise UserError(f"--sizes-mib {mib:g}: two arrays of {mib:g} MiB do not fit in memory: "
                            "ask for smaller sizes") from None
        parts = [slice(i * size // n, (i + 1) * size // n) for i in range(n)]

        def split():
            helpers = [pool.submit(normalise, xc[s], k, beta, y[s]) for s in parts[1:]]
            normalise(xc[parts[0]], k, beta, y[parts[0]])
            for helper in helpers:
                helper.result()

        one, _ = median_us(lambda: normalise(xc, k, beta, y), args.repeats)
        both, _ = median_us(split, args.repeats)
        result[f"{mib:g}"] = {"one_us": round(one), "split_us": round(both), "split/one": round(both / one, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
