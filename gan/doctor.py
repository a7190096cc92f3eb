"""The ``doctor`` command: "is my training working?", answered from a run folder after (or during) training.

    python dcgan.py doctor runs/fashion-mnist [--classifier cls.npz] [--json report.json]

It reads the run's metrics.csv and checkpoint (never writes into the folder)
and prints a verdict (healthy, or the diagnosis of gan/diagnosis.py's rules
with the step where it began), the signs of the run's last stretch next to
their healthy bands, the story of the run (each diagnosis and its steps) and,
with --classifier, which classes the averaged G's samples look like.
"""
import os
import textwrap

import numpy as np

from . import diagnosis, quality
from .checkpoint import checkpoint_config, load_checkpoint
from .cli import use_backend
from .errors import UserError
from .generate import SavedModel
from .run_folder import (CHECKPOINT, METRICS, checkpoint_in, class_folders, is_per_class, read_metrics,
                         resume_folder)
from .writing import json_with_keys, output_file, write_atomically, write_json

REPORT_KEYS = ("verdict", "began", "history")         # what marks a file as an earlier doctor's --json

SIGN_NAMES = {"d_x": "D(x)", "d_g_z": "D(G(z))", "swing": "swing", "diversity": "diversity", "change": "change",
              "loss_d": "loss D", "loss_g": "loss G"}


def doctor(args):
    use_backend(args.backend)
    idle = [flag for flag, value in (("--n", args.n), ("--seed", args.seed)) if value is not None]
    if idle and not args.classifier:
        verb = "matters" if len(idle) == 1 else "matter"
        raise UserError(f"{' and '.join(idle)} only {verb} with --classifier (the samples it sorts): add "
                        f"--classifier, or leave {' and '.join(idle)} out")
    n, seed = (1000 if args.n is None else args.n), (0 if args.seed is None else args.seed)
    folder = run_folder(args.run)
    folders = class_runs(folder) if is_per_class(folder) else {None: folder}
    classifier = quality.load_classifier(args.classifier) if args.classifier else None
    if args.json:
        refuse_inside(args.json, folder)
        output_file(args.json, "--json", overwrite=args.overwrite, what="an earlier doctor's report",
                    inputs=[args.classifier, *(os.path.join(f, name) for f in folders.values()
                                               for name in (METRICS, CHECKPOINT))],
                    ours=json_with_keys(*REPORT_KEYS))
    elif args.overwrite:
        raise UserError("--overwrite is for --json (an earlier doctor's report): leave it out")
    reports = {k: examine(f, classifier, n, seed) for k, f in folders.items()}
    for k, report in reports.items():
        print(format_report(report))
    if args.json:
        result = reports[None] if None in reports else {
            "verdict": worst([r["verdict"] for r in reports.values()]), "began": None, "history": [],
            "classes": {str(k): r for k, r in reports.items()}}
        write_atomically(args.json, lambda tmp: write_json(tmp, result), replace=args.overwrite)
        print(f"wrote {args.json}")


def run_folder(path):
    """The run folder of ``path`` (a run folder or its checkpoint.npz), as --resume reads it."""
    try:
        return resume_folder(path)
    except UserError as e:                                  # its words are --resume's
        raise UserError(str(e).replace("--resume", "doctor")) from None


def class_runs(folder):
    """A --per-class run: {k: class folder} of the classes that have logged."""
    found = {k: f for k, f in class_folders(folder).items() if os.path.isfile(os.path.join(f, METRICS))}
    if not found:
        raise UserError(f"{folder} is a --per-class run whose classes have logged nothing yet ({METRICS})")
    return found


def refuse_inside(path, folder):
    inside = os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    if inside:
        raise UserError(f"--json {path} is inside the run folder {folder}: the doctor only reads a run folder; "
                        "write the report elsewhere")


def examine(folder, classifier, n, seed):
    """The report of one run folder, as a dict (what --json writes)."""
    metrics = os.path.join(folder, METRICS)
    if not os.path.isfile(metrics):
        raise UserError(f"{folder} has no {METRICS}: not a run folder, or a run that has not logged a step yet")
    rows = [diagnosis.numbers(r) for r in read_metrics(metrics)]
    if not rows:
        raise UserError(f"{metrics} holds no rows yet: the run has not logged a step")
    found = diagnosis.diagnose(rows)
    ckpt = checkpoint_in(folder)
    cfg = checkpoint_config(load_checkpoint(ckpt), ckpt) if os.path.isfile(ckpt) else None
    report = {"run": folder, "steps": int(rows[-1]["step"]), "verdict": found.name, "began": found.began,
              "says": found.message(cfg) if found.name != diagnosis.HEALTHY else "",
              "try": diagnosis.ADVICE[found.name]["try"],
              "history": [{"diagnosis": name, "from_step": a, "to_step": b} for name, a, b in diagnosis.history(rows)],
              "signs": last_stretch(rows), "warming_up": rows[-1]["step"] < diagnosis.WARM_UP_STEPS,
              "has_diversity": bool(np.isfinite(rows[-1]["diversity"]))}
    report["checkpoint"] = ckpt if cfg else None
    if cfg:
        report["config"] = run_settings(cfg)
    if classifier is not None:
        report["classifier"] = classes = classes_of_samples(folder, classifier, n, seed)
        if classes["top_two_share"] > diagnosis.COLLAPSE_TOP_TWO and report["verdict"] == diagnosis.HEALTHY:
            found = diagnosis.Finding("collapsed", report["steps"], {
                "how": f"the classifier puts {classes['top_two_share']:.0%} of the averaged G's samples in two "
                       "classes"})
            report.update({"verdict": found.name, "began": found.began, "says": found.message(cfg),
                           "try": diagnosis.ADVICE[found.name]["try"]})
    return report


def last_stretch(rows):
    """Each sign's median over the rows of the run's last WINDOW_STEPS steps, beside its healthy band; and the
    swing, the range of D(x) - D(G(z)) there (what oscillates)."""
    recent = [r for r in rows if r["step"] > rows[-1]["step"] - diagnosis.WINDOW_STEPS] or rows[-1:]
    values = {sign: np.array([r[sign] for r in recent]) for sign in SIGN_NAMES if sign != "swing"}
    gap = values["d_x"] - values["d_g_z"]
    signs = {}
    for sign in SIGN_NAMES:
        x = np.array([gap.max() - gap.min()]) if sign == "swing" else values[sign]
        value = float(np.median(x)) if np.isfinite(x).any() else None
        band = diagnosis.BANDS.get(sign)
        inside = None if value is None or band is None else (
            (band[0] is None or value >= band[0]) and (band[1] is None or value <= band[1]))
        signs[sign] = {"value": value, "band": list(band) if band else None, "inside": inside}
    return signs


def run_settings(cfg):
    """The settings the advice refers to (--lr, --beta1, ...), from the checkpoint's config."""
    return {"dataset": cfg.dataset, "lr": cfg.lr, "beta1": cfg.beta1, "batch_size": cfg.batch_size,
            "ngf": cfg.ngf, "ndf": cfg.ndf, "label_smoothing": cfg.real_label, "instance_noise": cfg.instance_noise,
            "epochs": cfg.epochs}


def classes_of_samples(folder, classifier, n, seed):
    """--classifier: class coverage and confidence of ``n`` samples of the run's averaged G."""
    model = SavedModel(folder, "average")
    quality.check_classifier_fits(classifier, model.cfg.dataset, model.cfg.image_size, model.cfg.nc)
    model.check_fits(n)
    images, _ = model.generate(n, np.random.default_rng(seed))
    _, probs = quality.classify(classifier[0], images)
    coverage = quality.class_coverage(probs, classifier[0].head.weight.shape[0])
    coverage["top_two_share"] = float(sum(sorted(coverage["class_histogram"])[-2:]))
    coverage["n"] = n
    coverage["class_names"] = quality.CLASS_NAMES.get(model.cfg.dataset)
    return coverage


def worst(verdicts):
    """A --per-class run's verdict: the first diagnosis (in the rules' order) any class has, else healthy."""
    return next((name for name in diagnosis.DIAGNOSES if name in verdicts), diagnosis.HEALTHY)


def format_report(r):
    lines = [f"doctor: {r['run']}, {r['steps']} steps" + (
        f" ({r['config']['dataset']}, --lr {r['config']['lr']:g}, --beta1 {r['config']['beta1']:g})"
        if r.get("config") else f" (no {CHECKPOINT} yet: settings unknown)")]
    if r["warming_up"]:
        lines.append(f"verdict: too early to tell: nothing is diagnosed in the first {diagnosis.WARM_UP_STEPS} steps "
                     "(G starts from noise)")
    elif r["verdict"] == diagnosis.HEALTHY:
        outside = [SIGN_NAMES[k] for k, s in r["signs"].items() if s["inside"] is False]
        lines.append(f"verdict: healthy: none of {', '.join(diagnosis.DIAGNOSES)} holds over the last "
                     f"{diagnosis.WINDOW_STEPS} steps" + (f" (but {', '.join(outside)} outside the healthy band: look "
                                                          "at samples/)" if outside else ""))
    else:
        lines.append(f"verdict: {r['verdict']} since step {r['began']}")
        said = r["says"].replace("doctor: ", "", 1).replace(diagnosis.GOES_ON, " (docs/doctor.md)")
        lines.append(textwrap.fill(said, 104, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False))
    lines.append(f"{'sign':12s} {'this run':>9s}   healthy band   (median of the last {diagnosis.WINDOW_STEPS} steps)")
    for sign, s in r["signs"].items():
        value = "-" if s["value"] is None else f"{s['value']:.3f}"
        band = "" if not s["band"] else (f">= {s['band'][0]:g}" if s["band"][1] is None else
                                          f"<= {s['band'][1]:g}" if s["band"][0] is None else
                                          f"{s['band'][0]:g} .. {s['band'][1]:g}")
        mark = "" if s["inside"] is None else ("ok" if s["inside"] else "OUTSIDE")
        lines.append(f"{SIGN_NAMES[sign]:12s} {value:>9s}   {band:13s}  {mark}".rstrip())
    if not r["has_diversity"]:
        lines.append("note: this run's metrics.csv has no diversity (written before the doctor): collapse is "
                     "judged only with --classifier")
    story = "; ".join(f"{h['diagnosis']} {h['from_step']}-{h['to_step']}" for h in r["history"])
    lines.append(f"story: {story}")
    c = r.get("classifier")
    if c:
        names = c["class_names"] or [str(i) for i in range(len(c["class_histogram"]))]
        lines.append(f"classifier, {c['n']} samples of the averaged G: {c['classes_covered']} of {len(names)} classes "
                     f"covered (>= 5%), the two commonest hold {c['top_two_share']:.0%}, mean confidence "
                     f"{c['mean_confidence']:.2f}")
        lines.append("  " + "  ".join(f"{n} {100 * h:.0f}%" for n, h in zip(names, c["class_histogram"])))
    return "\n".join(lines)

