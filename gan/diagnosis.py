"""Is my training working? The signs a run logs, read as a doctor would read them.

Every metrics.csv row holds D(x) and D(G(z)) (D's mean output on the real and
the fake batch), both losses and one more sign computed here, ``diversity``:
how different G's samples of the fixed noise are from each other, next to how
different real images are::

    spread(x_1..x_n) = mean over pairs i < j of  sqrt(mean over pixels of (x_i - x_j)^2)
    diversity        = spread(G(fixed noise)) / spread(64 real training images)
    change           = RMS(G(fixed noise) now - at the last row) / spread(real) * 100 / steps between

1 is as varied as the data; a G that draws one image for every z gives 0.
``change`` is how far G's samples moved, per 100 steps: 0 when G has stopped
learning.
With --eval-every, the scored rows also hold ``top_two_share``, the share of
samples the classifier puts in the two commonest classes (0.2 for ten equal
classes). The rules that read those signs, their thresholds and why, are
below and in docs/doctor.md; the run's own story of each failure is in
docs/failures.md.
"""
import sys

import numpy as np

from .models import sample

REFERENCE_IMAGES = 64       # real images whose spread ``diversity`` divides by: as many as the fixed-noise grid
ALIKE = 1e-3                # a real spread below this (a tenth of one grey level, 2/255) is no spread: nothing to divide by
HEALTHY = "healthy"
GOES_ON = ". The run goes on unchanged (docs/doctor.md)"           # the doctor says; it never acts
DIAGNOSES = ("D wins", "collapsed", "stalled", "oscillating")      # RULES' names, in their order
SIGNS = ("loss_d", "loss_g", "d_x", "d_g_z", "diversity", "change", "top_two_share")


def numbers(row):
    """A metrics.csv row as floats: {"step": 120.0, "d_x": 0.71, ...}; an empty cell is NaN."""
    return {k: float(row[k]) if row.get(k) not in (None, "") else float("nan") for k in ("step", *SIGNS)}


def spread(images):
    """Mean over pairs i < j of the RMS pixel distance between images i and j of (N, C, H, W), float64."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    squares = np.sum(x * x, axis=1)
    d2 = np.maximum(squares[:, None] + squares[None, :] - 2 * x @ x.T, 0.0) / x.shape[1]   # (N, N)
    upper = np.triu_indices(len(x), k=1)
    return float(np.mean(np.sqrt(d2[upper])))


def reference_spread(images_uint8):
    """The spread of REFERENCE_IMAGES real images (a fixed pick: the same run gets the same figure), in the
    models' range [-1, 1]."""
    pick = np.sort(np.random.default_rng(0).permutation(len(images_uint8))[:REFERENCE_IMAGES])
    return spread(np.asarray(images_uint8[pick], dtype=np.float64) / 127.5 - 1.0)


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# --------------------------------------------------------------------------- the rules
# Each rule reads the rows of the last WINDOW_STEPS steps: a sign must hold for the whole stretch, not one
# row (one row is an average of --log-every steps, and single batches swing). Nothing is diagnosed in the
# first WARM_UP_STEPS: G starts from noise, D wins the first steps of every run, and G's first samples are
# alike (a diversity near 0.25 for the first ~50 steps of a healthy run). docs/doctor.md gives the why of
# each threshold, measured on the runs of docs/failures.md.
WINDOW_STEPS = 200
WARM_UP_STEPS = 200
MIN_ROWS = 3

D_WINS_FAKE = 0.02          # D(G(z)) below this for the whole window: D tells (nearly) every fake apart ...
D_WINS_LOSS_G = 4.0         # ... and G's loss, -log D(G(z)) after D's update, above this and not falling
COLLAPSE_DIVERSITY = 0.2    # G's fixed-noise samples more alike than this (real images: 1) for the whole window
COLLAPSE_TOP_TWO = 0.8      # or the classifier puts this share of the samples in two classes (10 equal: 0.2)
STALL_CHANGE = 0.2          # G's samples moving less than this per 100 steps for the whole window: not learning
SWING = 0.5                 # D(x) - D(G(z)) ranging over more than this within the window, there and back: oscillating

# healthy bands (losses.png shades them, the report prints them): what the paper's recipe logs on Fashion-MNIST
# after its first 200 steps (docs/doctor.md); "swing" is the range of D(x) - D(G(z)) over the last 200 steps
BANDS = {"d_x": (0.55, 0.97), "d_g_z": (0.03, 0.45), "swing": (None, SWING), "diversity": (0.5, None),
         "change": (0.5, None)}


class Finding:
    """A diagnosis: its name, the step where it began, and what the signs read there."""

    def __init__(self, name, began=None, figures=None):
        self.name, self.began, self.figures = name, began, figures or {}

    def message(self, cfg=None):
        """What the doctor says; with the run's Config, the settings in which it departs from the paper's recipe
        (the first suspects)."""
        said = ADVICE[self.name]["says"].format(began=self.began, **self.figures)
        suspects = departures(cfg) if cfg is not None and self.name != HEALTHY else []
        if self.name == HEALTHY:
            return said
        return (said + (f". This run departs from the paper's recipe in {'; '.join(suspects)}" if suspects else "")
                + GOES_ON)


def departures(cfg):
    """The settings of ``cfg`` that differ from the paper's recipe (section 4) in a way that upsets training."""
    found = []
    if cfg.lr != 2e-4:
        found.append(f"--lr {cfg.lr:g} (the paper's: 2e-4)")
    if cfg.beta1 != 0.5:
        found.append(f"--beta1 {cfg.beta1:g} (the paper's: 0.5)")
    if cfg.ngf * 2 < cfg.ndf:
        found.append(f"--ngf {cfg.ngf} against --ndf {cfg.ndf} (G far narrower than D; the paper's: 64 and 64)")
    if cfg.real_label < 0.7:
        found.append(f"--label-smoothing {cfg.real_label:g}, D's target for real images (0.9 is the usual; 0.1 is "
                     "the amount of smoothing some code takes, not the target)")
    return found


def window(rows):
    """The rows of the last WINDOW_STEPS steps (at least MIN_ROWS), or None while warming up."""
    if not rows or rows[-1]["step"] < WARM_UP_STEPS:
        return None
    last = [r for r in rows if r["step"] > rows[-1]["step"] - WINDOW_STEPS]
    return rows[-MIN_ROWS:] if len(last) < MIN_ROWS else last


def series(rows, sign):
    return np.array([r[sign] for r in rows])


def began(rows, holds):
    """The step of the first row of the unbroken stretch of rows, ending at the last, where ``holds(row)``."""
    start = len(rows)
    while start > 0 and holds(rows[start - 1]):
        start -= 1
    return int(rows[start]["step"]) if start < len(rows) else int(rows[-1]["step"])


def collapsed(rows, recent):
    scored = [r for r in rows if np.isfinite(r["top_two_share"])]
    if scored and scored[-1]["top_two_share"] > COLLAPSE_TOP_TWO:
        return Finding("collapsed", int(scored[-1]["step"]),
                       {"how": f"the classifier puts {scored[-1]['top_two_share']:.0%} of the samples in two classes"})
    diversity = series(recent, "diversity")
    if np.all(diversity < COLLAPSE_DIVERSITY):      # NaN (an older run's rows) is never below
        return Finding("collapsed", began(rows, lambda r: r["diversity"] < COLLAPSE_DIVERSITY),
                       {"how": f"G's samples of the fixed noise are nearly alike (diversity {diversity[-1]:.2f}; "
                               f"real images 1.00)"})
    return None


def d_wins(rows, recent):
    fake, loss_g = series(recent, "d_g_z"), series(recent, "loss_g")
    half = len(recent) // 2
    if np.all(fake < D_WINS_FAKE) and loss_g.mean() > D_WINS_LOSS_G and loss_g[half:].mean() >= loss_g[:half].mean():
        return Finding("D wins", began(rows, lambda r: r["d_g_z"] < D_WINS_FAKE),
                       {"fake": fake[-1], "loss_g": loss_g[-1]})
    return None


def stalled(rows, recent):
    change = series(recent, "change")
    if np.all(change < STALL_CHANGE):                 # NaN (an older run's rows, a resumed run's first) never is
        return Finding("stalled", began(rows, lambda r: r["change"] < STALL_CHANGE),
                       {"change": change[-1], "real": recent[-1]["d_x"], "fake": recent[-1]["d_g_z"]})
    return None


def oscillates(rows, recent):
    gap = series(recent, "d_x") - series(recent, "d_g_z")         # how well D tells them apart
    above = gap > (gap.max() + gap.min()) / 2
    crossings = int(np.sum(above[1:] != above[:-1]))              # there and back: 2
    if gap.max() - gap.min() > SWING and crossings >= 2:
        return Finding("oscillating", int(recent[0]["step"]), {"low": gap.min(), "high": gap.max(),
                                                              "window": WINDOW_STEPS})
    return None


RULES = (d_wins, collapsed, stalled, oscillates)    # the first that holds is the diagnosis (D wins: the cause)


def diagnose(rows):
    """The diagnosis of a run whose metrics rows (``numbers``) are ``rows``, as of its last row."""
    recent = window(rows)
    if recent is None:
        return Finding(HEALTHY)
    for rule in RULES:
        found = rule(rows, recent)
        if found:
            return found
    return Finding(HEALTHY, int(rows[-1]["step"]), {"window": WINDOW_STEPS})


def history(rows):
    """The run's story: [(diagnosis, first step, last step)], each diagnosis as the rows read then."""
    story = []
    for i in range(len(rows)):
        name = diagnose(rows[:i + 1]).name
        step = int(rows[i]["step"])
        if story and story[-1][0] == name:
            story[-1][2] = step
        else:
            story.append([name, step, step])
    return [tuple(s) for s in story]


ADVICE = {      # "says": the line printed (the run's departures from the paper follow it); "try": the report's
    HEALTHY: {"says": "doctor: healthy again at step {began}: none of " + ", ".join(DIAGNOSES) + " holds over the "
                      "last {window} steps", "try": ""},
    "D wins": {
        "says": "doctor: D is winning since step {began}: D(G(z)) {fake:.3f}, G's loss {loss_g:.1f} and not "
                "falling. D tells every fake apart, so G's gradient carries little. Try --label-smoothing "
                "(ganhacks tip 6), --instance-noise 0.1 (ganhacks tip 13), or a weaker D / stronger G (--ndf, --ngf)",
        "try": "--label-smoothing (ganhacks tip 6); --instance-noise 0.1 (ganhacks tip 13); a smaller --ndf or a "
               "larger --ngf"},
    "collapsed": {
        "says": "doctor: G has collapsed since step {began}: {how}. Look at samples/. Try the paper's settings where "
                "you changed them, --instance-noise 0.1 (ganhacks tip 13), or another --seed",
        "try": "the paper's settings (--lr 2e-4, --beta1 0.5, no --label-smoothing below 0.9); --instance-noise 0.1 "
               "(ganhacks tip 13); another --seed"},
    "stalled": {
        "says": "doctor: training has stalled since step {began}: G's samples of the fixed noise have hardly moved "
                "({change:.3f} per 100 steps; a learning run's move 1 to 5; D(x) {real:.2f}, D(G(z)) "
                "{fake:.2f}). Check --lr (the paper's 2e-4) and the data (look at a batch)",
        "try": "the paper's --lr 2e-4 (section 4); check that the data is not noise (look at a batch)"},
    "oscillating": {
        "says": "doctor: training oscillates since step {began}: D(x) - D(G(z)), how well D tells real from fake, "
                "swings between {low:.2f} and {high:.2f} within {window} steps: D and G take turns winning. Try a "
                "smaller --lr (the paper's 2e-4), or the paper's --beta1 0.5 (section 4: 0.9 oscillated)",
        "try": "a smaller --lr (the paper's 2e-4); the paper's --beta1 0.5 (section 4)"},
}


class Doctor:
    """Reads each metrics.csv row as training logs it: ``signs`` adds the diversity to the row, ``watch``
    returns what to say when the diagnosis changes (once, then again only when it changes), else None.
    It never changes the run."""

    def __init__(self, trainer, earlier_rows=()):
        self.trainer = trainer
        self.reference = reference_spread(trainer.images)
        if self.reference < ALIKE:                           # every real image alike: nothing to measure against
            print("note: the real images are all alike, so the doctor cannot measure how varied G's samples are: "
                  "the diversity and change columns stay empty, and collapse and stall go unread", file=sys.stderr)
        self.rows = [numbers(r) for r in earlier_rows]      # a resumed run's history: the window goes on
        self.said = HEALTHY
        self.last = None                                    # (step, G's fixed-noise samples) at the last row

    def signs(self):
        """The row's diversity and change, from G's own samples of the fixed noise (the grid's noise; the grid
        draws the averaged G's). G is not changed: ``sample`` keeps its running statistics."""
        t = self.trainer
        if self.reference < ALIKE:
            return {"diversity": "", "change": ""}
        images = sample(t.G, t.fixed_noise, labels=t.fixed_labels, n_classes=t.n_classes)
        change = ""
        if self.last is not None and t.step_count > self.last[0]:
            change = f"{rms(images, self.last[1]) / self.reference * 100 / (t.step_count - self.last[0]):.5f}"
        self.last = t.step_count, images
        return {"diversity": f"{spread(images) / self.reference:.4f}", "change": change}

    def watch(self, row):
        self.rows.append(numbers(row))
        found = diagnose(self.rows)
        if found.name == self.said:
            return None
        self.said = found.name
        return found.message(self.trainer.cfg)
