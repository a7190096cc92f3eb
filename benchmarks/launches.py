"""Count the array operations one training step issues, as CuPy would launch them as GPU kernels.

    python -m benchmarks.launches                 # 32x32 batch 128 and 64x64 batch 64, per part
    python -m benchmarks.launches --layers nn     # the readable layers' step (nn/), as CuPy would launch it

On a GPU every array operation is (at least) one kernel launch, and at this
model's size the launches, not the FLOPs, decide the step time: 5 to 25 us of
Python and driver work each. This counts them on the CPU, exactly, by
running one step on NumPy with every array wrapped in ``Counted``, an
``ndarray`` subclass that sees each operation. The rules, as CuPy launches:

* every ufunc call is one kernel: elementwise arithmetic (``a * b``, ``a += b``,
  ``xp.sqrt``, comparisons), and each reduction (``xp.sum``, ``xp.max``);
* ``xp.matmul`` is one kernel (one cuBLAS GEMM);
* ``xp.mean`` is one reduction kernel (NumPy does sum then divide; CuPy fuses);
* ``xp.zeros``/``ones``/``full``/``*_like`` are one fill each; ``xp.empty`` is none;
* a copy is one kernel: slice assignment (``a[i:j] = b``), ``xp.astype``,
  ``xp.where``, ``xp.clip``, a ``reshape`` or ``asarray`` that cannot be a view;
* ``xp.concat`` and ``xp.stack`` of k arrays are k copies, except where CuPy
  joins them in one kernel: more than 8 arrays of one dtype, under 2 MiB each
  on average (``_routines_manipulation.pyx``), and then the table of their
  addresses is a host-to-device transfer;
* views cost nothing: ``reshape`` of contiguous data, ``permute_dims``,
  ``matrix_transpose``, ``broadcast_to``, basic slicing;
* a new elementwise result is C-contiguous, as CuPy writes it (NumPy keeps
  its inputs' memory order), so a reshape that needs another order copies here
  exactly when it would on CuPy;
* a ``@fused`` function (``nn/fast/fuse.py``) is one kernel, whatever it contains:
  CuPy compiles it into one (with ``DCGAN_FUSE=0`` its operations count one by one);
* host-to-device copies (``backend.to_device``: the batch, z) are counted as
  "transfers", apart from kernels.

The step counted is ``nn.fast``'s, the layers a GPU runs (``python dcgan.py --backend cupy``);
``--layers nn`` counts the readable layers' step instead.
Each launch is put in the part of the step whose code issued it: im2col,
col2im, layout (the copies that put a gradient in the (C, H*W*N) order the
GEMMs read), GEMM (the conv and linear matmuls), BatchNorm, activations, loss,
Adam, EMA, or other (bias adds, the trainer's own arithmetic).
"""
import contextlib
import importlib
import json
import sys
from collections import Counter

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.launches ...")

import numpy as np

import nn
from benchmarks.cases import case_list, case_memory, make_trainer
from gan import cli
from nn import backend

PARTS = ("im2col", "col2im", "layout", "gemm", "batchnorm", "activations", "loss", "adam", "ema", "other")
COUNTS = Counter()
_part = ["other"]

VIEWS = {"reshape", "permute_dims", "matrix_transpose", "transpose", "swapaxes", "broadcast_to", "expand_dims",
         "squeeze"}


def count(n=1):
    COUNTS[_part[0]] += n


def plain(a):
    """The plain ndarray under a Counted one (inside lists and tuples too)."""
    if isinstance(a, (list, tuple)):
        return type(a)(plain(x) for x in a)
    return a.view(np.ndarray) if isinstance(a, Counted) else a


def counted(a):
    return a.view(Counted) if isinstance(a, np.ndarray) and not isinstance(a, Counted) else a


class Counted(np.ndarray):
    """An ndarray that counts the kernels its operations would launch on a GPU."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if ufunc is np.matmul:
            with inside("gemm"):                  # a @ b: one cuBLAS GEMM
                count()
        else:
            count()                               # one elementwise kernel, or one reduction
        inputs = [plain(x) for x in inputs]
        if out is not None:
            kwargs["out"] = plain(out)
        elif method == "__call__":
            kwargs["order"] = "C"                 # CuPy writes a new elementwise result C-contiguous
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return counted(result) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        with uncounted():
            result = func(*[plain(a) for a in args], **{k: plain(v) for k, v in kwargs.items()})
        return counted(result) if isinstance(result, np.ndarray) else result

    def __setitem__(self, key, value):
        count()                                   # a copy kernel
        plain(self)[key] = plain(value)


@contextlib.contextmanager
def uncounted():
    saved = dict(COUNTS)
    try:
        yield
    finally:
        COUNTS.clear()
        COUNTS.update(saved)


def count_join(arrays):
    """CuPy's concatenate: one kernel (and a transfer of the arrays' addresses) for more than 8 arrays of
    one dtype averaging under 2 MiB, else one copy per array."""
    if len(arrays) > 8 and len({a.dtype for a in arrays}) == 1 and \
            sum(a.nbytes for a in arrays) < 2 * 1024 * 1024 * len(arrays):
        count()
        COUNTS["transfers"] += 1
    else:
        count(len(arrays))


class CountingNamespace:
    """NumPy as the layers see it through ``backend.xp()``, counting by the rules above."""

    @staticmethod
    def fuse(fn):
        """CuPy's ``fuse`` as counted here: the function itself, a call of which
        ``fused_calls_count_once`` counts as one kernel; with it, ``@fused`` keeps memory order as on CuPy."""
        return fn

    def __getattr__(self, name):
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target                         # dtypes, constants, submodules

        def call(*args, **kwargs):
            with uncounted():
                result = target(*[plain(a) for a in args], **{k: plain(v) for k, v in kwargs.items()})
            if name == "where":
                result = np.ascontiguousarray(result)    # as CuPy lays it out
            if name in VIEWS:
                source = plain(args[0])
                if isinstance(result, np.ndarray) and not np.shares_memory(result, source):
                    count()                       # a reshape that had to copy
            elif name == "asarray":
                if isinstance(args[0], np.ndarray) and not isinstance(args[0], Counted):
                    COUNTS["transfers"] += 1      # host data arriving on the device
            elif name in ("concat", "concatenate", "stack"):
                count_join([plain(a) for a in args[0]])
            elif name != "empty":
                count()
            return counted(result) if isinstance(result, np.ndarray) else result
        return call


@contextlib.contextmanager
def inside(part):
    """Attribute the launches of the block to ``part``."""
    previous, _part[0] = _part[0], part
    try:
        yield
    finally:
        _part[0] = previous


@contextlib.contextmanager
def parts():
    """Attribute launches to the part of the step whose code is running (the classes and functions of nn
    and nn.fast; a method a fast class inherits is wrapped once, where it is defined)."""
    from nn import activations, batchnorm, conv, fast, im2col
    from nn.fast import conv as fast_conv, im2col as fast_im2col
    stack = contextlib.ExitStack()

    def wrap(owner, attr, part):
        if attr not in vars(owner):
            return
        original = vars(owner)[attr]

        def wrapped(*args, **kwargs):
            with inside(part):
                return original(*args, **kwargs)
        setattr(owner, attr, wrapped)
        stack.callback(setattr, owner, attr, original)

    with stack:
        for module in (conv, im2col, fast_conv, fast_im2col):
            wrap(module, "im2col", "im2col")
            wrap(module, "col2im", "col2im")
        wrap(conv, "rows", "layout")
        wrap(fast_conv, "channels_first", "layout")
        for cls in (batchnorm.BatchNorm, fast.batchnorm.FusedBatchNorm):
            wrap(cls, "forward", "batchnorm")
            wrap(cls, "backward", "batchnorm")
        for lib in (activations, fast):
            for cls in (lib.ReLU, lib.LeakyReLU, lib.Tanh, lib.Sigmoid):
                wrap(cls, "forward", "activations")
                wrap(cls, "backward", "activations")
        for lib in (nn, fast):
            wrap(lib.BCEWithLogits, "__call__", "loss")
            wrap(lib.Adam, "step", "adam")
            wrap(lib.EMA, "update", "ema")
        stack.enter_context(fused_calls_count_once())
        yield


@contextlib.contextmanager
def fused_calls_count_once():
    """Count each call of a ``@fused`` function as the one kernel CuPy makes of it."""
    from nn.fast import fuse
    original = fuse.fused.__call__

    def call(self, *args):
        if not fuse.enabled():
            return original(self, *args)
        with uncounted():
            result = original(self, *args)
        count()
        return result
    fuse.fused.__call__ = call
    try:
        yield
    finally:
        fuse.fused.__call__ = original


def gemm_counting_namespace():
    """The counting namespace, with matmul attributed to "gemm" wherever it is called from."""
    ns = CountingNamespace()
    matmul = ns.matmul

    def gemm(a, b):
        with inside("gemm"):
            return matmul(a, b)
    ns.matmul = gemm
    return ns


@contextlib.contextmanager
def on_numpy():
    """The block on backend "numpy" (the counting namespace, where one stands in for it), then back to the
    backend that was active."""
    previous = backend.name()
    backend.use("numpy")
    try:
        yield
    finally:
        backend.use(previous)


def count_step(trainer):
    """{part: launches} of one ``trainer.step`` (and "total", "transfers")."""
    real, labels = trainer.next_batch()
    COUNTS.clear()
    with backend.stand_in("numpy", gemm_counting_namespace()), on_numpy(), parts():
        for model in (trainer.G, trainer.D) + ((trainer.G_avg,) if trainer.G_avg is not None else ()):
            _to_counted(model)
        for opt in (trainer.opt_G, trainer.opt_D):
            for d in (opt.m, opt.v):
                for k in d:
                    d[k] = counted(d[k])
        real = counted(np.asarray(real))
        trainer.step(real, labels)                 # settles what the wrapping disturbed (Adam re-packs)
        COUNTS.clear()
        trainer.step(real, labels)                 # the step that is counted
    result = {p: COUNTS.get(p, 0) for p in PARTS}
    result["total"] = sum(result.values())
    result["transfers"] = COUNTS.get("transfers", 0)
    return result


def count_case(size, nc, batch, ema=False, layers=None):
    """``count_step`` of a fresh NumPy trainer of this case (whatever backend is active), after one step:
    Adam's moments exist from then on. ``layers``: nn.fast (the default: what a GPU runs) or nn."""
    from nn import fast
    with on_numpy():
        trainer = make_trainer(size, nc, batch, ema=ema, layers=layers or fast)
        trainer.step(*trainer.next_batch())
        return count_step(trainer)


def _to_counted(model):
    for p in model.parameters():
        p.data = counted(p.data)
        p.grad = None if p.grad is None else counted(p.grad)
    for m in model.modules():
        for name in m.buffers:
            setattr(m, name, counted(getattr(m, name)))


def parser():
    p = cli.command_parser("python -m benchmarks.launches", __doc__.splitlines()[0])
    p.add_argument("--cases", default="32x128,64x64", type=case_list, metavar="SIZExBATCH,...",
                   help="SIZExBATCH list, as in bench_step: size 32 (1 channel) or 64 (3 channels), any batch")
    p.add_argument("--ema", action="store_true", help="train with the averaged generator (--ema)")
    p.add_argument("--layers", default="fast", choices=["fast", "nn"],
                   help="fast: nn.fast's layers, what a GPU runs (dcgan.py --backend cupy); nn: the readable layers")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def run(args):
    layers = importlib.import_module("nn.fast" if args.layers == "fast" else "nn")
    for size, nc, batch in args.cases:
        with case_memory(size, batch):
            counts = count_case(size, nc, batch, ema=args.ema, layers=layers)
        print(json.dumps({"case": f"{size}x{batch}", "layers": layers.__name__, "with_ema": args.ema, **counts}),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
