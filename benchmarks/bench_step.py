"""Time full DCGAN training steps, and say where the time goes.

    python -m benchmarks.bench_step                       # numpy, all four cases
    python -m benchmarks.bench_step --compare-torch       # also PyTorch on the same CPU threads
    python -m benchmarks.bench_step --backend cupy --compare-torch
    python -m benchmarks.bench_step --layers fast         # nn.fast's layers (the default on cupy; nn on numpy)

Cases: the 32x32 MNIST configuration (nz 100, ngf = ndf = 64, 1 channel) and
the 64x64 paper configuration (3 channels), each at batch 64 and 128. A
step is what dcgan.py's Trainer.step does: D on a real and a fake batch,
then G. After warm-up steps it times --steps steps and reports the median.

One JSON line per case:
  images_per_s, s_per_step     the median step, untimed by any hooks
  breakdown_s                  one more set of steps with timers around im2col, col2im, BatchNorm,
                               activations, loss and Adam, each its own time; "gemm": the conv
                               and linear layers' own time outside im2col and col2im (their
                               GEMMs, and the layout copies and bias sums around them);
                               "other": the rest (the trainer's own work, data conversion)
  non_gemm_s                   that step's time outside the GEMMs (everything but "gemm"): im2col,
                               col2im, BatchNorm, activations, Adam, ..., which NumPy runs on one
                               core while the BLAS runs the GEMMs on all (docs/benchmarks.md, "Every core")
  gflop_per_s                  conv FLOPs of a step (3 G-forwards + 9 D-forwards worth: forward,
                               input and weight gradients) divided by the median step time
  sgemm_gflop_per_s            this machine's float32 GEMM speed, measured in the same run
  fraction_of_sgemm            the ratio of the two
  layers                       the layers timed: nn (readable) or nn.fast (dcgan.py --layers)
  cpu_kernels                  nn.fast on NumPy: "numba X on N threads" where its compiled kernels run
                               (nn/fast/cpu_kernels.py; DCGAN_NUMBA=0 turns them off), else null
  launches                     array operations one step of these layers issues, counted as CuPy
                               launches them (benchmarks/launches.py: "total" and per part), and
                               whether @fused functions are one kernel each ("fused": DCGAN_FUSE;
                               only nn.fast has them)
  torch_s_per_step, ratio      with --compare-torch: the same architecture and step in PyTorch,
                               same threads, float32; ratio = ours / PyTorch
PyTorch is only ever imported here, for the comparison: nn/ and dcgan.py never use it.
--threads sets PyTorch's threads, so it goes with --compare-torch (NumPy's BLAS takes its threads from
OMP_NUM_THREADS, set before start); --compare-torch without PyTorch installed says so in a note.
"""
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections import defaultdict

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.bench_step ...")

import numpy as np

import nn
from benchmarks import launches
from benchmarks.cases import CASES, case_list, case_memory, make_trainer
from gan import cli
from gan.errors import UserError
from gan.models import LAYER_LIBRARIES, layer_library, use_layers
from nn import backend
from nn.fast import cpu_kernels, fuse

def sync():
    if backend.name() == "cupy":
        backend.xp().cuda.Device().synchronize()


def time_steps(trainer, steps):
    times = []
    for _ in range(steps):
        sync()
        t = time.perf_counter()
        trainer.step(*trainer.next_batch())
        sync()
        times.append(time.perf_counter() - t)
    return times


def conv_flops_per_step(trainer, batch):
    """Multiply-adds x 2 of every conv layer's forward, times 3 for G and 9 for D (see docstring)."""
    def forward_flops(model, x):
        total = 0
        for layer in model.layers:
            y = layer.forward(x)
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                big = y if isinstance(layer, nn.Conv2d) else x      # the side the kernel slides over
                total += 2 * np.prod(layer.weight.shape) * big.shape[0] * big.shape[2] * big.shape[3]
            x = y
        model.clear_cache()
        return total, x
    g, fake = forward_flops(trainer.G, backend.randn((batch, 100, 1, 1)))
    d, _ = forward_flops(trainer.D, fake)
    return 3 * g + 9 * d


class Timers:
    """Wraps functions so that each call's own time (less that of the wrapped calls inside it) is added
    to a category."""

    def __init__(self):
        self.total = defaultdict(float)
        self.stack = contextlib.ExitStack()
        self.inner = []                     # per open timed call: the time of the timed calls inside it

    def wrap(self, owner, attr, category):
        own = attr in vars(owner)                # else inherited: undone by deleting the wrapper
        original = vars(owner)[attr] if own else getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            sync()
            t = time.perf_counter()
            timers.inner.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                sync()
                elapsed = time.perf_counter() - t
                timers.total[category] += elapsed - timers.inner.pop()
                if timers.inner:
                    timers.inner[-1] += elapsed

        setattr(owner, attr, timed)
        self.stack.callback(*((setattr, owner, attr, original) if own else (delattr, owner, attr)))

    def __enter__(self):
        from nn import activations, batchnorm, conv, fast, im2col, linear
        from nn.fast import conv as fast_conv, im2col as fast_im2col
        for mod in (conv, im2col, fast_conv, fast_im2col):
            self.wrap(mod, "im2col", "im2col")
            self.wrap(mod, "col2im", "col2im")
        for mod in (conv, fast_conv):                # the GEMMs, and the layout copies and bias sums around them
            for fn in ("conv2d", "conv_transpose2d"):
                self.wrap(mod, fn, "gemm")
            for cls in (mod.Conv2d, mod.ConvTranspose2d):
                self.wrap(cls, "backward", "gemm")
        for method in ("forward", "backward"):
            self.wrap(linear.Linear, method, "gemm")
        for cls in (batchnorm.BatchNorm, fast.batchnorm.FusedBatchNorm):
            self.wrap(cls, "forward", "batchnorm")
            self.wrap(cls, "backward", "batchnorm")
        for lib in (activations, fast):
            for cls in (lib.ReLU, lib.LeakyReLU, lib.Tanh, lib.Sigmoid):
                self.wrap(cls, "forward", "activations")
                self.wrap(cls, "backward", "activations")
        for lib in (nn, fast):
            self.wrap(lib.BCEWithLogits, "__call__", "loss")
            self.wrap(lib.Adam, "step", "adam")
        return self

    def __exit__(self, *exc):
        self.stack.close()


def breakdown(trainer, steps, step_time):
    with Timers() as timers:
        t0 = time.perf_counter()
        time_steps(trainer, steps)
        hooked = (time.perf_counter() - t0) / steps
    parts = {k: v / steps for k, v in sorted(timers.total.items())}
    parts["other"] = max(0.0, hooked - sum(parts.values()))
    return {k: round(v, 5) for k, v in parts.items()}, hooked


def sgemm_gflops(n=2048, repeats=5):
    xp = backend.xp()
    a, b = backend.randn((n, n)), backend.randn((n, n))
    xp.matmul(a, b)
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        xp.matmul(a, b)
        sync()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def torch_step_time(size, nc, batch, steps, warmup, threads, device):
    """The same DCGAN step in PyTorch (its DCGAN example's loop), median seconds."""
    import torch
    import torch.nn as tnn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n = int(np.log2(size)) - 2
    widths = [64 * 2 ** i for i in reversed(range(n))]
    g_layers = [tnn.ConvTranspose2d(100, widths[0], 4, 1, 0, bias=False), tnn.BatchNorm2d(widths[0]), tnn.ReLU(True)]
    for a, b in zip(widths, widths[1:]):
        g_layers += [tnn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), tnn.BatchNorm2d(b), tnn.ReLU(True)]
    g_layers += [tnn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), tnn.Tanh()]
    dw = widths[::-1]
    d_layers = [tnn.Conv2d(nc, dw[0], 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, True)]
    for a, b in zip(dw, dw[1:]):
        d_layers += [tnn.Conv2d(a, b, 4, 2, 1, bias=False), tnn.BatchNorm2d(b), tnn.LeakyReLU(0.2, True)]
    d_layers += [tnn.Conv2d(dw[-1], 1, 4, 1, 0, bias=False), tnn.Flatten()]
    G, D = tnn.Sequential(*g_layers).to(device), tnn.Sequential(*d_layers).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = tnn.BCEWithLogitsLoss()
    real = torch.rand(batch, nc, size, size, device=device) * 2 - 1
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step():
        z = torch.randn(batch, 100, 1, 1, device=device)
        fake = G(z)
        D.zero_grad()
        (loss(D(real), ones)).backward()
        (loss(D(fake.detach()), zeros)).backward()
        opt_d.step()
        G.zero_grad()
        loss(D(fake), ones).backward()
        opt_g.step()

    def sync_t():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync_t()
        t = time.perf_counter()
        step()
        sync_t()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def parser():
    p = cli.command_parser("python -m benchmarks.bench_step", "Benchmark DCGAN train steps: one JSON line per case.")
    p.add_argument("--backend", default="numpy", choices=cli.BACKEND_CHOICES, help="array backend, as dcgan.py's")
    p.add_argument("--steps", type=cli.positive_int, default=7, help="timed steps per case (median reported)")
    p.add_argument("--warmup", type=cli.number_type(int, lambda v: v >= 0, "0 or more"), default=2,
                   help="untimed steps first, per case")
    p.add_argument("--threads", type=cli.positive_int, default=os.cpu_count(),
                   help="PyTorch's CPU threads, with --compare-torch (NumPy's BLAS: set OMP_NUM_THREADS before start)")
    p.add_argument("--cases", default="all", type=lambda text: CASES if text == "all" else case_list(text),
                   help="all, or a comma list of SIZExBATCH, e.g. 32x128,64x16: size 32 (1 channel) or 64 "
                        "(3 channels), any batch")
    p.add_argument("--compare-torch", action="store_true", help="also time PyTorch, if installed")
    p.add_argument("--layers", default=None, choices=LAYER_LIBRARIES,
                   help="nn (readable) or fast (nn/fast/); default: dcgan.py's (nn on numpy, fast on cupy)")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.given = {token.split("=")[0] for token in argv if token.startswith("--")}      # the flags typed
    return cli.run_command(run, args)


def run(args):
    if "--threads" in args.given and not args.compare_torch:
        raise UserError("--threads sets PyTorch's threads, for --compare-torch; NumPy's BLAS takes its threads from "
                        "OMP_NUM_THREADS set before start (e.g. OMP_NUM_THREADS=1 python -m benchmarks.bench_step): "
                        "add --compare-torch, or leave --threads out")
    torch_here = importlib.util.find_spec("torch") is not None
    if args.compare_torch and not torch_here:
        print("note: --compare-torch: PyTorch is not installed here, so only ours is timed", file=sys.stderr)
    cli.use_backend(args.backend)      # as dcgan.py does (on numpy: glibc keeps freed memory)
    use_layers(args.layers)
    cases = args.cases
    peak = sgemm_gflops()
    for size, nc, batch in cases:
        with case_memory(size, batch):
            trainer = make_trainer(size, nc, batch)
            flops = conv_flops_per_step(trainer, batch)
            time_steps(trainer, args.warmup)
            step_time = statistics.median(time_steps(trainer, args.steps))
            parts, hooked = breakdown(trainer, max(2, args.steps // 2), step_time)
            result = {"backend": args.backend, "layers": layer_library().__name__, "image_size": size, "channels": nc,
                      "batch": batch, "threads": args.threads, "fused": fuse.enabled(),
                      "cpu_kernels": cpu_kernels.status() if layer_library().__name__ == "nn.fast" else None,
                      "launches": launches.count_case(size, nc, batch, layers=layer_library()),
                      "s_per_step": round(step_time, 4),
                      "images_per_s": round(batch / step_time, 1), "breakdown_s": parts,
                      "breakdown_step_s": round(hooked, 4),
                      "non_gemm_s": round(hooked - parts.get("gemm", 0.0), 4),
                      "gflop_per_s": round(flops / step_time / 1e9, 1),
                      "sgemm_gflop_per_s": round(peak, 1),
                      "fraction_of_sgemm": round(flops / step_time / 1e9 / peak, 3)}
        if args.compare_torch:
            try:
                if not torch_here:
                    raise ImportError("torch")
                t = torch_step_time(size, nc, batch, args.steps, args.warmup, args.threads,
                                    "cuda" if args.backend == "cupy" else "cpu")
                result.update(torch_s_per_step=round(t, 4), torch_images_per_s=round(batch / t, 1),
                              ratio=round(step_time / t, 2))
            except ImportError:
                result["torch"] = "not installed"
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
