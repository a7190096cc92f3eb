"""Time full DCGAN training steps, and say where the time goes.

    python -m benchmarks.bench_step                       # numpy, all four cases
    python -m benchmarks.bench_step --compare-torch       # also PyTorch on the same CPU threads
    python -m benchmarks.bench_step --backend cupy --compare-torch

Cases: the 32x32 MNIST configuration (nz 100, ngf = ndf = 64, 1 channel) and
the 64x64 paper configuration (3 channels), each at batch 64 and 128. A
step is what dcgan.py's Trainer.step does: D on a real and a fake batch,
then G. After warm-up steps it times --steps steps and reports the median.

One JSON line per case:
  images_per_s, s_per_step     the median step, untimed by any hooks
  breakdown_s                  one more set of steps with timers around GEMMs, im2col, col2im,
                               BatchNorm, activations, loss and Adam ("other": the rest:
                               reshapes/transposes, bias adds, data conversion)
  non_gemm_s                   that step's time outside the GEMMs (everything but "gemm"): im2col,
                               col2im, BatchNorm, activations, Adam, ..., which NumPy runs on one
                               core while the BLAS runs the GEMMs on all (docs/benchmarks.md, "Every core")
  gflop_per_s                  conv FLOPs of a step (3 G-forwards + 9 D-forwards worth: forward,
                               input and weight gradients) divided by the median step time
  sgemm_gflop_per_s            this machine's float32 GEMM speed, measured in the same run
  fraction_of_sgemm            the ratio of the two
  launches                     array operations one step issues, counted as CuPy launches them
                               (benchmarks/launches.py: "total" and per part), and whether
                               @fused functions are one kernel each ("fused": DCGAN_FUSE)
  torch_s_per_step, ratio      with --compare-torch: the same architecture and step in PyTorch,
                               same threads, float32; ratio = ours / PyTorch
PyTorch is only ever imported here, for the comparison: nn/ and dcgan.py never use it.
"""
import argparse
import contextlib
import json
import os
import statistics
import time
from collections import defaultdict

import numpy as np

import nn
from benchmarks import launches
from benchmarks.cases import CASES, make_trainer, parse_case
from gan import cli
from nn import backend, fuse

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
    """Wraps functions so that each call's time is added to a category."""

    def __init__(self):
        self.total = defaultdict(float)
        self.stack = contextlib.ExitStack()

    def wrap(self, owner, attr, category):
        original = getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            sync()
            t = time.perf_counter()
            out = original(*args, **kwargs)
            sync()
            timers.total[category] += time.perf_counter() - t
            return out

        setattr(owner, attr, timed)
        self.stack.callback(setattr, owner, attr, original)

    def __enter__(self):
        import nn.activations as act
        import nn.batchnorm as bn
        import nn.conv as conv
        import nn.im2col as i2c
        xp_module = backend.xp()

        class TimedXP:                               # the namespace the layers see, with matmul timed
            def __getattr__(self, name):
                return getattr(xp_module, name)

        timed_xp = TimedXP()
        original_matmul = xp_module.matmul

        def matmul(a, b):
            sync()
            t = time.perf_counter()
            out = original_matmul(a, b)
            sync()
            self.total["gemm"] += time.perf_counter() - t
            return out

        timed_xp.matmul = matmul
        active = backend.name()                      # the same backend, its matmul timed
        self.stack.enter_context(backend.stand_in(active, timed_xp))
        self.stack.enter_context(backend.using(active))
        for mod in (conv, i2c):
            if hasattr(mod, "im2col"):
                self.wrap(mod, "im2col", "im2col")
            if hasattr(mod, "col2im"):
                self.wrap(mod, "col2im", "col2im")
        for cls in (bn.BatchNorm,):
            self.wrap(cls, "forward", "batchnorm")
            self.wrap(cls, "backward", "batchnorm")
        for cls in (act.ReLU, act.LeakyReLU, act.Tanh, act.Sigmoid):
            self.wrap(cls, "forward", "activations")
            self.wrap(cls, "backward", "activations")
        self.wrap(nn.BCEWithLogits, "__call__", "loss")
        self.wrap(nn.Adam, "step", "adam")
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


def main(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark DCGAN train steps.")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--steps", type=int, default=7, help="timed steps per case (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="CPU threads (BLAS and PyTorch); set OMP_NUM_THREADS before start for BLAS")
    parser.add_argument("--cases", default="all",
                        help="comma list of SIZExBATCH, e.g. 32x128,64x16: size 32 (1 channel) or 64 (3 channels), "
                             "any batch")
    parser.add_argument("--compare-torch", action="store_true", help="also time PyTorch, if installed")
    args = parser.parse_args(argv)
    cli.use_backend(args.backend)      # as dcgan.py does (on numpy: glibc keeps freed memory)
    try:
        cases = CASES if args.cases == "all" else [parse_case(c) for c in args.cases.split(",")]
    except ValueError as e:
        parser.error(f"--cases: {e}")
    peak = sgemm_gflops()
    for size, nc, batch in cases:
        trainer = make_trainer(size, nc, batch)
        flops = conv_flops_per_step(trainer, batch)
        time_steps(trainer, args.warmup)
        step_time = statistics.median(time_steps(trainer, args.steps))
        parts, hooked = breakdown(trainer, max(2, args.steps // 2), step_time)
        result = {"backend": args.backend, "image_size": size, "channels": nc, "batch": batch,
                  "threads": args.threads, "fused": fuse.enabled(), "launches": launches.count_case(size, nc, batch),
                  "s_per_step": round(step_time, 4),
                  "images_per_s": round(batch / step_time, 1), "breakdown_s": parts,
                  "breakdown_step_s": round(hooked, 4),
                  "non_gemm_s": round(hooked - parts.get("gemm", 0.0), 4),
                  "gflop_per_s": round(flops / step_time / 1e9, 1),
                  "sgemm_gflop_per_s": round(peak, 1),
                  "fraction_of_sgemm": round(flops / step_time / 1e9 / peak, 3)}
        if args.compare_torch:
            try:
                t = torch_step_time(size, nc, batch, args.steps, args.warmup, args.threads,
                                    "cuda" if args.backend == "cupy" else "cpu")
                result.update(torch_s_per_step=round(t, 4), torch_images_per_s=round(batch / t, 1),
                              ratio=round(step_time / t, 2))
            except ImportError:
                result["torch"] = "not installed"
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
