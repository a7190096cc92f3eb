"""``python -m exercises check NAME``: the test suite's checks, run on a student's version, and what a wrong one tells.

Each check is one line: where (the layer case), what (forward values, float32, dx, dweight, ...), the
relative error and ok or FAILED, and for a failure what can be told: not written yet; a shape mismatch
(expected vs got); the sign flipped; off by a constant factor (a missing 1/m?); transposed; zero; a gradient
that passes with dout = 1 but not with a random upstream gradient (the trap nn/gradcheck.py's docstring
explains). The gradient checks are the tests' own: ``nn.gradcheck.LAYER_CASES``, ``LOSS_CASES``,
``gradient_pairs``, float64, central differences, a random upstream gradient, the bound 1e-6.
"""
import importlib
import traceback
from dataclasses import dataclass

import numpy as np

import nn
from nn import backend
from nn.gradcheck import (LAYER_CASES, LOSS_CASES, away_from_zero, gradient_pairs, numerical_gradient, randomize,
                          rel_error)

from .skeleton import NOT_WRITTEN

BOUND = 1e-6            # the tests' bound: a right gradient gives about 1e-10 here, a wrong one 1e-2 or worse
SAME = 1e-10            # forward values: the same maths in float64


@dataclass
class Line:
    case: str                   # the layer case, e.g. "BatchNorm2d(3), train"
    what: str                   # "forward", "float32", "dx", "dweight", ...
    error: float = None         # the relative error, where one was measured
    ok: bool = True             # None: not a check, a note on the lines above
    why: str = ""               # for a failure: what can be told

    def text(self):
        if self.ok is None:                               # a note on the lines above
            return f"{self.case:38s} {'':10s} {'':9s}  so: {self.why}"
        error = f"{self.error:9.1e}" if self.error is not None else " " * 9
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.case:38s} {self.what:10s} {error}  {verdict}{': ' + self.why if self.why else ''}"


def failure(case, what, error):
    """The Line for an exception the student's code raised: not written yet, or its traceback (theirs to read)."""
    if isinstance(error, NotImplementedError) and str(error).startswith(NOT_WRITTEN):
        return Line(case, what, ok=False, why=str(error))
    traceback.print_exception(type(error), error, error.__traceback__)
    return Line(case, what, ok=False, why=f"raised {type(error).__name__}: {error} (the traceback above)")


# ------------------------------------------------------------------------------------------ diagnosis

def diagnose(analytic, numerical, name="the gradient"):
    """What a wrong gradient ``analytic`` tells against the right one, ``numerical``, in a few words."""
    if analytic is None:
        return f"{name} was not given (a parameter: call its accumulate(); dx: return it)"
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    if a.shape != n.shape:
        swapped = a.ndim == 2 and a.T.shape == n.shape and rel_error(a.T, n) < BOUND
        return f"shape {a.shape}, expected {n.shape}" + (" (transposed: the right values)" if swapped else "")
    if not np.isfinite(a).all():
        return "NaN or infinite values"
    if not a.any():
        return "all zeros"
    if rel_error(-a, n) < BOUND:
        return "the sign is flipped"
    factor = float(np.sum(a * n) / max(np.sum(n * n), 1e-300))
    if factor and rel_error(a / factor, n) < BOUND:
        return f"off by a constant factor: {factor:.4g} times the right values (a missing 1/m, or a sum for a mean?)"
    if a.ndim == 2 and a.shape[0] == a.shape[1] and rel_error(a.T, n) < BOUND:
        return "transposed"
    return "wrong values"


def summary(lines):
    """One sentence over the failed gradients of a layer: only dx wrong, or only the parameters'."""
    grads = [line for line in lines if line.what.startswith("d")]
    wrong = {line.what for line in grads if not line.ok}
    right = {line.what for line in grads if line.ok}
    if wrong and right and wrong == {"dx"}:
        return f"only dx is wrong; {', '.join(sorted(right))} are right"
    if wrong and "dx" in right:
        return f"dx is right; {', '.join(sorted(wrong))} wrong"
    return ""


# ------------------------------------------------------------------------------------------ layers

def library_of(module, exercise):
    """nn, with the student's pieces in place of nn's: what ``LAYER_CASES`` build their layers from."""
    import types
    lib = types.SimpleNamespace(**{name: getattr(nn, name) for name in nn.__all__})
    for name in exercise.pieces:
        setattr(lib, name, getattr(module, name))
    return lib


def layer_checks(exercise, module):
    lib = library_of(module, exercise)
    lines = []
    for case, make, shape in LAYER_CASES:
        if type(make(lib)).__module__ != module.__name__:
            continue                                  # a case of another layer
        case_lines = layer_case(case, make, shape, lib)
        note = summary(case_lines)
        lines += case_lines + ([Line(case, "", ok=None, why=note)] if note else [])
    return lines


def layer_case(case, make, shape, lib):
    x = away_from_zero(shape)
    reference, student = make(nn), make(lib)
    randomize(reference, np.random.default_rng(0))             # the same weights, as the gradient check draws them
    randomize(student, np.random.default_rng(0))
    expected = backend.to_numpy(reference.forward(backend.to_device(x, "float64")))
    try:
        got = backend.to_numpy(student.forward(backend.to_device(x, "float64")))
    except Exception as error:
        return [failure(case, "forward", error)]
    if got.shape != expected.shape:
        return [Line(case, "forward", ok=False, why=f"output shape {got.shape}, expected {expected.shape}")]
    error = rel_error(got, expected)
    lines = [Line(case, "forward", error, error < SAME, "" if error < SAME else diagnose(got, expected, "y"))]
    lines.append(float32_line(case, make, shape, lib))
    try:
        pairs = gradient_pairs(make(lib), shape, x=x)
    except Exception as error:
        return lines + [failure(case, "backward", error)]
    failed = {name for name, (a, n) in pairs.items() if a is None or a.shape != n.shape or rel_error(a, n) >= BOUND}
    ones = dout_one_passes(make, shape, lib, x, expected.shape, failed, pairs)
    for name, (a, n) in pairs.items():
        what = "d" + name
        if name not in failed:
            lines.append(Line(case, what, rel_error(a, n)))
            continue
        error = rel_error(a, n) if a is not None and a.shape == n.shape else None
        why = diagnose(a, n, what)
        if name in ones:
            why += ("; it passes with dout = 1 but not with a random dout: a term is missing that vanishes when "
                    "the upstream gradient is constant (in BatchNorm: the path through the variance)")
        lines.append(Line(case, what, error, False, why))
    return lines


def dout_one_passes(make, shape, lib, x, out_shape, failed, pairs):
    """The failed gradients that pass with dout = 1 everywhere: the trap a random upstream gradient catches.
    With dout = 1 a BatchNorm's true dx is 0, so "pass" is measured against the size of the gradient under
    the random dout (``pairs``), not against its own (rounding)."""
    if not failed:
        return set()
    try:
        ones = gradient_pairs(make(lib), shape, x=x, dout=np.ones(out_shape))
    except Exception:
        return set()
    passing = set()
    for name in failed:
        a, n = ones[name]
        scale = float(np.max(np.abs(pairs[name][1]))) or 1.0
        if a is not None and a.shape == n.shape and float(np.max(np.abs(a - n))) < BOUND * scale:
            passing.add(name)
    return passing


def float32_line(case, make, shape, lib):
    """Training is float32 end to end: a float32 input gives a float32 output, dx and gradients."""
    layer = make(lib)
    x = backend.to_device(away_from_zero(shape), "float32")
    try:
        y = layer.forward(x)
        dx = layer.backward(backend.to_device(np.ones(tuple(y.shape)), "float32"))
    except Exception as error:
        return failure(case, "float32", error)
    dtypes = {"y": y.dtype, "dx": None if dx is None else dx.dtype}
    dtypes.update({"d" + n: p.grad.dtype for n, p in layer.named_parameters() if p.grad is not None})
    wrong = [f"{name} is {backend.dtype_name(d)}" for name, d in dtypes.items() if d is not None
             and backend.dtype_name(d) != "float32"]
    return Line(case, "float32", ok=not wrong, why=", ".join(wrong) + " (float32 in, float32 out)" if wrong else "")


# ------------------------------------------------------------------------------------------ the loss

def loss_checks(exercise, module):
    lines = []
    for case, make, x, target in LOSS_CASES:
        if not hasattr(module, type(make(nn)).__name__):
            continue
        lines += loss_case(case, make(nn), getattr(module, type(make(nn)).__name__)(), x, target)
    extreme = np.array([[1000.0], [-1000.0], [30.0], [-30.0]])
    lines += loss_case("BCEWithLogits, logits of +-1000", nn.BCEWithLogits(), module.BCEWithLogits(), extreme,
                       np.array([[0.0], [1.0], [1.0], [0.0]]))
    lines += loss_case("BCEWithLogits, target 1.0 (a number)", nn.BCEWithLogits(), module.BCEWithLogits(),
                       LOSS_CASES[0][2], 1.0)
    return lines


def loss_case(case, reference, student, x, target):
    device = lambda a: backend.to_device(a, "float64") if np.ndim(a) else a          # noqa: E731
    expected_loss, expected_grad = reference(device(x), device(target))
    try:
        with np.errstate(all="ignore"):                    # an overflow is said below, once, not warned
            loss, grad = student(device(x), device(target))
    except Exception as error:
        return [failure(case, "loss", error)]
    loss, grad = float(backend.to_numpy(loss)), backend.to_numpy(grad)
    if not np.isfinite(loss):
        return [Line(case, "loss", ok=False, why=f"{loss}: it overflowed (never take exp of a large positive number)")]
    error = rel_error(np.array(loss), backend.to_numpy(expected_loss))
    lines = [Line(case, "loss", error, error < SAME, "" if error < SAME else "another value than the reference's")]

    def f(x_host):
        value, _ = student(device(x_host), device(target))
        return np.asarray(float(backend.to_numpy(value)))

    numerical = numerical_gradient(f, x, 1.0) if np.abs(x).max() < 100 else backend.to_numpy(expected_grad)
    error = rel_error(grad, numerical) if grad.shape == numerical.shape else None
    ok = error is not None and error < BOUND
    lines.append(Line(case, "dx", error, ok, "" if ok else diagnose(grad, numerical, "dx")))
    return lines


# ------------------------------------------------------------------------------------------ im2col

IM2COL_CASES = [((2, 3, 6, 6), 4, 2, 1), ((2, 2, 5, 5), 3, 1, 1), ((1, 2, 7, 7), 3, 2, 0), ((2, 2, 7, 7), 5, 3, 2),
                ((2, 2, 3, 3), 1, 1, 0)]


def im2col_checks(exercise, module):
    from nn import im2col as reference
    lines = []
    rng = np.random.default_rng(0)
    for shape, k, s, p in IM2COL_CASES:
        case = f"x {shape}, k={k}, s={s}, p={p}"
        x = backend.to_device(rng.standard_normal(shape), "float64")
        expected = backend.to_numpy(reference.im2col(x, k, k, s, p))
        try:
            cols = backend.to_numpy(module.im2col(x, k, k, s, p))
        except Exception as error:
            lines.append(failure(case, "im2col", error))
            continue
        if cols.shape != expected.shape:
            lines.append(Line(case, "im2col", ok=False, why=f"shape {cols.shape}, expected {expected.shape} "
                                                                 "(C*kh*kw, N*OH*OW)"))
            continue
        error = rel_error(cols, expected)
        lines.append(Line(case, "im2col", error, error < SAME, "" if error < SAME else "other columns than nn's"))
        c = backend.to_device(rng.standard_normal(expected.shape), "float64")
        try:
            image = backend.to_numpy(module.col2im(c, shape, k, k, s, p))
        except Exception as error:
            lines.append(failure(case, "col2im", error))
            continue
        if image.shape != shape:
            lines.append(Line(case, "col2im", ok=False, why=f"shape {image.shape}, expected {shape}"))
            continue
        # the adjoint: <im2col(x), c> = <x, col2im(c)> for every x and c
        left, right = float(np.sum(expected * backend.to_numpy(c))), float(np.sum(backend.to_numpy(x) * image))
        error = abs(left - right) / max(abs(left), abs(right), 1e-300)
        why = "" if error < SAME else ("not im2col's adjoint: <im2col(x), c> != <x, col2im(c)>" +
                                       ("; overlapping windows must add (+=), not overwrite" if k > s else ""))
        lines.append(Line(case, "col2im", error, error < SAME, why))
    return lines


# ------------------------------------------------------------------------------------------ Adam, EMA

def parameters(seed):
    rng = np.random.default_rng(seed)
    return [("w", nn.Parameter(backend.to_device(rng.standard_normal((3, 4)), "float32"))),
            ("b", nn.Parameter(backend.to_device(rng.standard_normal(5), "float32")))]


def adam_checks(exercise, module):
    lines = []
    ours, theirs = parameters(1), parameters(1)
    reference = nn.Adam(ours, lr=0.01, betas=(0.5, 0.999))
    student = module.Adam(theirs, lr=0.01, betas=(0.5, 0.999))
    arrays = [p.data for _, p in theirs]
    rng = np.random.default_rng(2)
    for step in (1, 2, 3):
        for (name, p), (_, q) in zip(ours, theirs):
            g = rng.standard_normal(p.shape)
            skip = step == 2 and name == "b"          # a step without a gradient: its own count stays behind
            p.grad = q.grad = None if skip else backend.to_device(g, "float32")
        reference.step()
        try:
            student.step()
        except Exception as error:
            return lines + [failure(f"step {step}", "update", error)]
        for (name, p), (_, q) in zip(ours, theirs):
            error = rel_error(backend.to_numpy(q.data), backend.to_numpy(p.data))
            why = "" if error < 1e-6 else adam_diagnosis(step, name)
            lines.append(Line(f"step {step}", name, error, error < 1e-6, why))
        if any(q.data is not a for (_, q), a in zip(theirs, arrays)):
            lines.append(Line(f"step {step}", "in place", ok=False,
                              why="a parameter's array was replaced: update p in place (p -= ...), so that the model "
                                  "and the optimiser keep holding the same array"))
            break
    return lines


def adam_diagnosis(step, name):
    return ("wrong at the first step: the bias correction (m_hat = m / (1 - b1^t), v_hat likewise)?" if step == 1
            else f"wrong from step {step}: the moments (m[...] = ..., in place), or t: each parameter's own count "
                 "(b missed a gradient at step 2)")


def ema_checks(exercise, module):
    lines = []
    model, average = nn.Linear(3, 2), nn.Linear(3, 2)
    theirs = nn.Linear(3, 2)
    theirs.load_state_dict(average.state_dict())
    reference, student = nn.EMA(model, average, decay=0.9), module.EMA(model, theirs, decay=0.9)
    arrays = [a for a, _ in student.pairs()]
    rng = np.random.default_rng(3)
    for t in range(4):
        try:
            decay = student.current_decay()
        except Exception as error:
            return lines + [failure(f"update {t + 1}", "decay", error)]
        error = abs(decay - reference.current_decay())
        lines.append(Line(f"update {t + 1}", "decay", error, error < 1e-12,
                          "" if error < 1e-12 else "d_t = min(decay, (1 + t) / (10 + t))"))
        reference.update()
        try:
            student.update()
        except Exception as error:
            return lines + [failure(f"update {t + 1}", "average", error)]
        error = max(rel_error(a, b) for (a, _), (b, _) in zip(student.pairs(), reference.pairs()))
        lines.append(Line(f"update {t + 1}", "average", error, error < 1e-6,
                          "" if error < 1e-6 else "a = d a + (1 - d) w"))
        if any(a is not b for (a, _), b in zip(student.pairs(), arrays)):
            lines.append(Line(f"update {t + 1}", "in place", ok=False,
                              why="the average's array was replaced: update it in place (a[...] = ...)"))
            break
        for _, p in model.named_parameters():               # G trains on: the average follows
            p.data[...] = p.data + backend.to_device(rng.standard_normal(p.shape), "float32")
    return lines


# ------------------------------------------------------------------------------------------ the step

STEP_DIAGNOSIS = {
    "D": "D's update (1) differs: D on the real batch against cfg.real_label and on G(z) against 0, both "
         "backward into D's gradients (they add up), then opt_D.step()",
    "D's gradients": "D's gradients after the step are not (1)'s: (2) must neither add to them (with frozen(D), G's "
                     "loss trains only G) nor clear them, and G's own must be zeroed (G.zero_grad())",
    "G": "G's update (2) differs: the fake batch through the updated D against 1, D.backward's input gradient "
         "(self.g_part of it) into G.backward, then opt_G.step()",
    "the average": "the averaged G: self.ema.update() after G's step",
    "statistics": "return self.statistics(loss_real + loss_fake, loss_g, logits_real, logits_fake)",
    "step_count": "self.step_count += 1",
}


def step_checks(exercise, module):
    """Two steps of the student's Trainer against dcgan.py's, from the same weights, batches and draws: D's and
    G's weights, D's gradients after (2), the average, the statistics; plain and conditional. (dcgan.py is found
    by the exercise's module name, as start found its source: nothing below dcgan.py imports it.)"""
    from gan.config import Config
    reference_trainer = importlib.import_module(exercise.module).Trainer
    lines = []
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 1, 16, 16), dtype=np.uint8)
    labels = np.repeat(np.arange(2), 8)
    for variant, extra in (("plain", {}), ("conditional", {"conditional": True, "n_classes": 2})):
        cfg = Config(dataset="folder", nc=1, nz=8, ngf=4, ndf=4, image_size=16, batch_size=8, ema=0.9, **extra)
        trainers = []
        for trainer_class in (reference_trainer, module.Trainer):
            backend.seed(0)
            trainers.append(trainer_class(cfg, images, labels if extra else None))
        reference, student = trainers
        for step in (1, 2):
            real, batch_labels = reference.next_batch()
            student.next_batch()
            backend.seed(step)
            expected = backend.to_numpy(reference.step(real, batch_labels))
            backend.seed(step)
            try:
                got = student.step(real, batch_labels)
            except Exception as error:
                return lines + [failure(f"{variant}, step {step}", "step", error)]
            case = f"{variant}, step {step}"
            lines += compare_trainers(case, reference, student, expected, got)
            if any(line.ok is False for line in lines):
                return lines
    return lines


def compare_trainers(case, reference, student, expected, got):
    def worst(pairs):
        return max((rel_error(b, a) for a, b in pairs), default=0.0)

    def params(model):
        return [p.data for _, p in model.named_parameters()]

    def grads(model):
        return [np.zeros(1) if p.grad is None else p.grad for _, p in model.named_parameters()]

    found = {"D": worst(zip(params(reference.D), params(student.D))),
             "D's gradients": worst(zip(grads(reference.D), grads(student.D))),
             "G": worst(zip(params(reference.G), params(student.G))),
             "the average": worst(zip(params(reference.G_avg), params(student.G_avg)))}
    lines = []
    for what, error in found.items():
        lines.append(Line(case, what, error, error < 1e-5, "" if error < 1e-5 else STEP_DIAGNOSIS[what]))
    try:
        error = rel_error(backend.to_numpy(got), expected)
    except Exception:
        error = float("inf")
    lines.append(Line(case, "statistics", error, error < 1e-5, "" if error < 1e-5 else STEP_DIAGNOSIS["statistics"]))
    ok = student.step_count == reference.step_count
    lines.append(Line(case, "step_count", ok=ok, why="" if ok else STEP_DIAGNOSIS["step_count"]))
    return lines


CHECKS = {"step": step_checks, "layer": layer_checks, "loss": loss_checks, "im2col": im2col_checks, "adam": adam_checks,
          "ema": ema_checks}


def run_checks(exercise, module):
    """Every check of ``exercise`` on the student's ``module``: a list of Lines."""
    return CHECKS[exercise.kind](exercise, module)
