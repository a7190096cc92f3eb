"""nn.fast on NumPy with and without numba's kernels, at 1 and 2 threads: alternating rounds of bench_step, medians.

    python -m benchmarks.numba_rounds                     # 32x128 and 64x64, 3 rounds
    python -m benchmarks.numba_rounds --rounds 3 --cases 32x128 --steps 7

Each round runs ``python -m benchmarks.bench_step --layers fast --compare-torch`` once per
(threads, numba) pair, in alternation (1 thread without, 1 with, 2 without, 2 with), each a fresh
process: OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set the BLAS's threads (and numba's,
nn/fast/cpu_kernels.py), --threads PyTorch's; DCGAN_NUMBA=0 turns the kernels off. Every JSON line
goes to stderr as it comes; then one table of medians over the rounds: the step, the time outside
the GEMMs (non_gemm_s), PyTorch's step and the ratio (the median of the rounds' ratios); then a
second table, each part of the step (bench_step's breakdown_s: BatchNorm, activations, im2col,
col2im, Adam, ...) without numba and with it, which is where each kernel earns its place.
"""
import json
import os
import statistics
import subprocess
import sys

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.numba_rounds ...")

from benchmarks.cases import case_list
from gan import cli


def case_text(text):
    """The argparse type of --cases: the text, handed on to bench_step once case_list has read it."""
    case_list(text)
    return text


def thread_list(text):
    """The argparse type of --threads: "1,2" -> [1, 2]."""
    return [cli.positive_int(t) for t in text.split(",")]


def parser():
    p = cli.command_parser("python -m benchmarks.numba_rounds", __doc__.splitlines()[0])
    p.add_argument("--rounds", type=cli.positive_int, default=3, help="alternating rounds (medians over them)")
    p.add_argument("--cases", default="32x128,64x64", type=case_text,
                   help="a comma list of SIZExBATCH, as bench_step's")
    p.add_argument("--steps", type=cli.positive_int, default=7, help="timed steps per case, as bench_step's")
    p.add_argument("--warmup", type=cli.number_type(int, lambda v: v >= 0, "0 or more"), default=2,
                   help="untimed steps first, as bench_step's")
    p.add_argument("--threads", default="1,2", type=thread_list, metavar="N,...", help="comma list of thread counts")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def run(args):
    results = {}                         # (case, threads, numba) -> [result per round]
    for r in range(args.rounds):
        for threads in args.threads:
            for numba in (False, True):
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                           DCGAN_NUMBA="1" if numba else "0")
                cmd = [sys.executable, "-m", "benchmarks.bench_step", "--layers", "fast", "--compare-torch",
                       "--threads", str(threads), "--cases", args.cases, "--steps", str(args.steps),
                       "--warmup", str(args.warmup)]
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                for line in out.splitlines():
                    row = json.loads(line)
                    print(f"round {r + 1} numba={numba} {line}", file=sys.stderr, flush=True)
                    case = f"{row['image_size']}x{row['batch']}"
                    results.setdefault((case, threads, numba), []).append(row)
    print("| case | threads | numba | s/step (rounds) | median | non-GEMM s (median) | PyTorch s | ours / PyTorch |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |")
    for (case, threads, numba), rows in sorted(results.items()):
        med = lambda key: statistics.median(row[key] for row in rows)
        steps = ", ".join(f"{row['s_per_step']:.3f}" for row in rows)
        print(f"| {case} | {threads} | {'on' if numba else 'off'} | {steps} | {med('s_per_step'):.3f} | "
              f"{med('non_gemm_s'):.3f} | {med('torch_s_per_step'):.3f} | {med('ratio'):.2f} |")
    print()
    print(parts_table(results))


def parts_table(results):
    """Where the kernels earn their place: each part of bench_step's breakdown (median seconds over the rounds),
    without numba and with it, per case and threads; "gemm" is the BLAS's, untouched by the kernels."""
    parts = sorted({part for rows in results.values() for row in rows for part in row["breakdown_s"]})
    lines = ["| case | threads | " + " | ".join(f"{p} off / on" for p in parts) + " |",
             "| --- | ---: |" + " ---: |" * len(parts)]
    for case, threads in sorted({(case, threads) for case, threads, _ in results}):
        def median(part, numba):
            rows = results.get((case, threads, numba))
            return statistics.median(row["breakdown_s"].get(part, 0.0) for row in rows) if rows else float("nan")
        cells = [f"{median(part, False):.4f} / {median(part, True):.4f}" for part in parts]
        lines.append(f"| {case} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
