"""Measured sample quality: score generated images with a classifier built with nn/.

A small CNN classifier is trained on the real data (examples/train_classifier.py).
Its penultimate layer turns each image into a 128-dim feature vector; its
softmax says which class the image looks like. From those:

* Frechet classifier distance (FCD), the FID recipe with our own classifier
  in place of Inception: fit a Gaussian to the features of the generated
  images (mu_g, S_g) and one to those of real test images (mu_r, S_r)::

      FCD = |mu_g - mu_r|^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))

  0 means the two feature distributions match to second order. Two finite
  real samples never reach 0, so the real-train-vs-real-test distance is
  printed beside it as the floor.

  The matrix square root, without scipy: with S_g = U diag(l) U^T (eigh),
  A = S_g^(1/2) = U diag(sqrt l) U^T, and (S_g S_r)^(1/2) has the same trace as
  (A S_r A)^(1/2), a symmetric PSD matrix: Tr = sum of sqrt(eigvalsh(A S_r A)).

* Class coverage: the histogram of predicted classes, how many classes get
  at least 5% of the samples, and the KL divergence of that histogram from
  uniform (0 = every class equally often; log K = a single class).
* Mean top-class confidence: how sure the classifier is, on average, of
  what it sees (blurry in-between images score low).
"""
import json

import numpy as np

import datasets
import nn
from nn import backend

from .checkpoint import read_npz, save_checkpoint
from .errors import UserError, name_some
from .pictures import to_model_range

CLASSIFIER_FORMAT = "numpy-dcgan-classifier-1"
FEATURES = 128
COVERAGE_THRESHOLD = 0.05
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}


class QualityError(UserError):
    """A classifier file or a sample set that cannot be used (one-line message)."""


# --------------------------------------------------------------------------- the classifier

class Classifier(nn.Module):
    """A small strided-conv CNN (D's shape): image (N, nc, S, S) -> logits; ``body`` gives the 128 features."""

    def __init__(self, nc=1, n_classes=10, image_size=32):
        super().__init__()
        s = image_size // 8
        self.body = nn.Sequential(
            nn.Conv2d(nc, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),         # 64 x S/2
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),       # 128 x S/4
            nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),      # 256 x S/8
            nn.Flatten(), nn.Linear(256 * s * s, FEATURES), nn.ReLU())                     # features
        self.body[0].needs_input_grad = False            # nobody needs d/dimage
        self.head = nn.Linear(FEATURES, n_classes)

    def forward(self, x):
        return self.head.forward(self.body.forward(x))

    def backward(self, dout):
        return self.body.backward(self.head.backward(dout))


def save_classifier(path, model, meta, if_it_fails="nothing was written there"):
    state = {f"model/{k}": v for k, v in model.state_dict().items()}
    state["format"] = np.array(CLASSIFIER_FORMAT)
    state["meta"] = np.array(json.dumps(meta))
    save_checkpoint(path, state, if_it_fails)


def load_classifier(path):
    """(model in eval mode on the active backend, meta dict with "path" added); a UserError if unusable."""
    state = read_npz(path, CLASSIFIER_FORMAT, "classifier")
    try:
        meta = json.loads(str(state["meta"]))
        with backend.preserved_rng():                    # its weights come from the file
            model = Classifier(meta["nc"], meta["n_classes"], meta["image_size"])
        weights = {k[6:]: v for k, v in state.items() if k.startswith("model/")}
        wrong = [k for k, v in weights.items() if v.dtype != np.float32 or not np.isfinite(v).all()]
        if wrong:
            raise ValueError(f"{name_some(wrong)} must be finite float32 (as train_classifier writes them)")
        model.load_state_dict(weights)
    except (KeyError, ValueError, TypeError) as e:
        raise QualityError(f"classifier {path} is damaged: {type(e).__name__}: {e}") from None
    meta["path"] = path
    meta.setdefault("dataset", None)                     # a hand-made or older file may not say: --dataset then
    return model.eval(), meta


def classify(model, images, chunk=200):
    """Features (N, 128) and class probabilities (N, K), float64 on the host.

    ``images``: host float array in [-1, 1] (N, C, H, W), or uint8 (converted).
    """
    feats, probs = [], []
    for i in range(0, len(images), chunk):
        batch = images[i:i + chunk]
        x = to_model_range(batch) if batch.dtype == np.uint8 else backend.to_device(batch)
        f = model.body.forward(x)
        p = nn.softmax(model.head.forward(f))
        feats.append(backend.to_numpy(f).astype(np.float64))
        probs.append(backend.to_numpy(p).astype(np.float64))
    model.clear_cache()
    return np.concatenate(feats), np.concatenate(probs)


# --------------------------------------------------------------------------- the metrics

def gaussian_stats(features, what="the samples"):
    """Mean (D,) and covariance (D, D) of an (N, D) feature matrix, float64. At least 2 rows, all finite:
    else a QualityError (a diverged classifier gives NaN features: no distance is reported from them)."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) < 2:
        raise QualityError(f"{what}: {len(f)} image(s); a Frechet distance needs at least 2")
    if not np.isfinite(f).all():
        raise QualityError(f"the classifier's features of {what} are NaN or infinite: the classifier diverged "
                           "while it trained; train it again (examples/train_classifier.py, a smaller --lr)")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(s):
    w, u = np.linalg.eigh(s)
    return (u * np.sqrt(np.clip(w, 0, None))) @ u.T


def frechet_distance(mu1, s1, mu2, s2):
    """|mu1 - mu2|^2 + Tr(s1 + s2 - 2 (s1 s2)^(1/2)), via eigendecompositions (no scipy)."""
    a = _sqrt_psd(s1)
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(a @ s2 @ a), 0, None)))
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(d, 0.0)


def class_coverage(probs, n_classes=None):
    """Histogram of predicted classes (fractions), classes with >= 5%, KL(hist || uniform), mean confidence."""
    k = n_classes or probs.shape[1]
    counts = np.bincount(np.argmax(probs, axis=1), minlength=k)
    hist = counts / counts.sum()
    nz = hist > 0
    kl = float(np.sum(hist[nz] * np.log(hist[nz] * k)))
    return {"class_histogram": [round(float(h), 4) for h in hist],
            "classes_covered": int(np.sum(hist >= COVERAGE_THRESHOLD)),
            "kl_to_uniform": kl,
            "mean_confidence": float(np.mean(np.max(probs, axis=1)))}


class Scorer:
    """Holds the classifier and the real test images' feature statistics; ``scorer(generated)`` -> figures.

    The floor is the distance from ``n_floor`` real training images to the
    real test images: what a perfect generator would score with that many samples.
    """

    def __init__(self, model, real_test, real_train, n_floor):
        self.model = model
        self.n_classes = model.head.weight.shape[0]
        self.test_stats = gaussian_stats(classify(model, real_test)[0], "the real test images")
        pick = np.random.default_rng(0).permutation(len(real_train))[:n_floor]
        self.floor = frechet_distance(*gaussian_stats(classify(model, real_train[np.sort(pick)])[0],
                                                     "the real training images"), *self.test_stats)

    def __call__(self, generated):
        feats, probs = classify(self.model, generated)
        result = {"n": int(len(generated)),
                  "fcd": frechet_distance(*gaussian_stats(feats), *self.test_stats),
                  "fcd_real_floor": self.floor}
        result.update(class_coverage(probs, self.n_classes))
        return result


def make_scorer(classifier, dataset, data_dir, image_size, nc, n_floor):
    """A Scorer for ``classifier`` (what ``load_classifier`` returned) and the real data it compares
    against; QualityError if the classifier does not fit the images to score."""
    check_classifier_fits(classifier, dataset, image_size, nc)
    real_test, _ = datasets.load_dataset(dataset, data_dir=data_dir, image_size=image_size, split="test")
    real_train, _ = datasets.load_dataset(dataset, data_dir=data_dir, image_size=image_size, split="train")
    return Scorer(classifier[0], real_test, real_train, n_floor)


def check_classifier_fits(classifier, dataset, image_size, nc):
    """QualityError unless ``classifier`` can score nc x image_size images of ``dataset`` (checked before sampling)."""
    _, meta = classifier
    classifier_path = meta["path"]
    if dataset not in ("mnist", "fashion-mnist"):
        raise QualityError(f"quality is measured on mnist or fashion-mnist, not {dataset}")
    if meta["dataset"] not in (None, dataset):
        raise QualityError(f"classifier {classifier_path} was trained on {meta['dataset']}, "
                           f"the images to score are {dataset}")
    if (meta["nc"], meta["image_size"]) != (nc, image_size):
        raise QualityError(f"classifier {classifier_path} takes {meta['nc']}x{meta['image_size']}x"
                           f"{meta['image_size']} images, these are {nc}x{image_size}x{image_size}: score a model "
                           f"trained with --image-size {meta['image_size']}, or train a classifier of this size "
                           f"(python -m examples.train_classifier --image-size {image_size})")


def format_table(result, class_names=None):
    names = class_names or [str(i) for i in range(len(result["class_histogram"]))]
    lines = [f"{'samples':28s} {result['n']}",
             f"{'Frechet classifier distance':28s} {result['fcd']:.3f}   (real train vs real test: "
             f"{result['fcd_real_floor']:.3f})",
             f"{'classes covered (>= 5%)':28s} {result['classes_covered']} of {len(names)}",
             f"{'KL to uniform':28s} {result['kl_to_uniform']:.4f}   (0 = balanced, "
             f"{np.log(len(names)):.2f} = one class)",
             f"{'mean top-class confidence':28s} {result['mean_confidence']:.3f}",
             "class shares: " + "  ".join(f"{n} {100 * h:.1f}%" for n, h in zip(names, result["class_histogram"]))]
    return "\n".join(lines)
