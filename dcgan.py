"""Train a DCGAN with the hand-written layers of nn/, generate images from it, measure them.

    python dcgan.py                                   # MNIST, NumPy, 25 epochs, into runs/mnist
    python dcgan.py --backend cupy                    # the same on a GPU
    python dcgan.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --epochs 3
    python dcgan.py --resume runs/mnist --epochs 30   # continue a run (epochs count the total)
    python dcgan.py --conditional | --per-class | --head linear | --label-smoothing | --instance-noise 0.1
    python dcgan.py generate --checkpoint runs/mnist/checkpoint.npz --n 64 --out samples/
    python dcgan.py evaluate --checkpoint runs/mnist/checkpoint.npz --classifier cls.npz

The recipe is the paper's (Radford, Metz & Chintala 2015) and PyTorch's DCGAN
example's: Adam(2e-4, beta1 0.5), batch 128, z ~ N(0, I) of 100 dims, weights
N(0, 0.02); G = transposed convs + BatchNorm + ReLU, Tanh output; D = strided
convs + BatchNorm (not on its input layer) + LeakyReLU(0.2); no pooling, no
fully connected layers; data scaled to [-1, 1].

One training step (the standard alternating updates)::

    fake = G(z)
    D step:  maximise log D(x) + log(1 - D(G(z)))    real batch, then fake batch, grads summed
    G step:  maximise log D(G(z))                    the non-saturating loss, through the updated D

D ends in a logit and the loss is BCEWithLogits: the same maths as PyTorch's
Sigmoid + BCELoss, without the saturation.

A run folder (``--out``) gets: samples/epoch_NNN.png (an 8x8 grid of one
fixed noise batch, at step 0 and after every epoch), progress.gif,
losses.png, metrics.csv and checkpoint.npz (written atomically; everything
needed to resume exactly).
"""
import argparse
import csv
import glob
import json
import math
import os
import signal
import sys
import tempfile
import time

import numpy as np

import datasets
import nn
import quality
from nn import backend

CHECKPOINT_FORMAT = "numpy-dcgan-checkpoint-1"
IMAGE_SIZES = (32, 64)
DATASET_CHANNELS = {"mnist": 1, "fashion-mnist": 1, "cifar10": 3}
METRIC_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "fcd"]


class TrainingError(RuntimeError):
    """A failure the user must hear about in one line (exit code 1)."""


# --------------------------------------------------------------------------- models

def build_generator(nz=100, ngf=64, nc=1, image_size=32, head="conv"):
    """z (N, nz, 1, 1) -> image (N, nc, S, S) in [-1, 1].

    S = 32: nz -> 4ngf x 4x4 -> 2ngf x 8x8 -> ngf x 16x16 -> nc x 32x32
    S = 64: nz -> 8ngf x 4x4 -> 4ngf x 8x8 -> 2ngf x 16x16 -> ngf x 32x32 -> nc x 64x64

    head="linear" (seeds 002's linDCGAN and 003) makes the first step z -> 4x4
    maps a Linear layer with BatchNorm1d instead of a (4, 1, 0) transposed conv.
    """
    widths = _widths(ngf, image_size)                      # e.g. [4ngf, 2ngf, ngf] at 32
    w0 = widths[0]
    if head == "linear":
        layers = [nn.Flatten(), nn.Linear(nz, w0 * 16, bias=False), nn.BatchNorm1d(w0 * 16), nn.ReLU(),
                  nn.Reshape(w0, 4, 4)]
    else:
        layers = [nn.ConvTranspose2d(nz, w0, 4, 1, 0, bias=False), nn.BatchNorm2d(w0), nn.ReLU()]
    for cin, cout in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def build_discriminator(ndf=64, nc=1, image_size=32, head="conv"):
    """image (N, nc, S, S) -> logit (N, 1): the mirror image of the generator, no BN on the input layer.

    head="linear" ends in Flatten + Linear(4ndf*4*4 -> 1) instead of a (4, 1, 0) conv.
    """
    widths = _widths(ndf, image_size)[::-1]                # e.g. [ndf, 2ndf, 4ndf] at 32
    layers = [nn.Conv2d(nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for cin, cout in zip(widths, widths[1:]):
        layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
    if head == "linear":
        layers += [nn.Flatten(), nn.Linear(widths[-1] * 16, 1)]
    else:
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def _widths(base, image_size):
    if image_size not in IMAGE_SIZES:
        raise TrainingError(f"--image-size {image_size} is not supported: use 32 or 64")
    n = int(math.log2(image_size)) - 2                     # 3 hidden widths at 32, 4 at 64
    return [base * 2 ** i for i in reversed(range(n))]


def build_models(cfg):
    """G and D for a config; a conditional model (n_classes K > 0) takes K more input channels in both."""
    k = cfg.get("n_classes") or 0
    head = cfg.get("head", "conv")
    G = build_generator(cfg["nz"] + k, cfg["ngf"], cfg["nc"], cfg["image_size"], head)
    D = build_discriminator(cfg["ndf"], cfg["nc"] + k, cfg["image_size"], head)
    return nn.dcgan_init(G), nn.dcgan_init(D)


def with_labels(x, labels, n_classes):
    """Append one-hot label channels, constant over H and W: (N, C, H, W) -> (N, C + K, H, W).

    This is how the conditional DCGAN sees the class: G gets it next to z
    (H = W = 1), D gets it as K extra image channels.
    """
    xp = backend.xp()
    n, _, h, w = x.shape
    onehot = backend.to_device(np.eye(n_classes, dtype=np.float32)[labels])       # (N, K)
    maps = xp.broadcast_to(xp.reshape(onehot, (n, n_classes, 1, 1)), (n, n_classes, h, w))
    return backend.concat([x, xp.astype(maps, x.dtype)], axis=1)


def first_weighted_layer(model):
    return next(m for m in model.layers if getattr(m, "weight", None) is not None)


# --------------------------------------------------------------------------- data helpers

def to_model_range(batch_uint8):
    """uint8 images on the host -> float32 in [-1, 1] on the active device (the copy is 4x smaller as uint8)."""
    xp = backend.xp()
    x = backend.to_device(batch_uint8)
    return xp.astype(x, xp.float32) / 127.5 - 1.0


def to_uint8(images):
    """Host float array in [-1, 1], (N, C, H, W) -> uint8 (N, H, W, C)."""
    x = np.clip((np.asarray(images, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def image_grid(images, nrow=8, pad=2):
    """(N, C, H, W) in [-1, 1] -> one uint8 grid image (rows of ``nrow``), white-ish borders."""
    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    ncol = nrow
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = tiles[i]
    return grid


def _pil(array):
    from PIL import Image
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def save_png(array, path):
    _pil(array).save(path)


def save_gif(frames, path, duration_ms=400):
    if frames:
        pil = [_pil(f) for f in frames]
        pil[0].save(path, save_all=True, append_images=pil[1:], duration=duration_ms, loop=0)


# --------------------------------------------------------------------------- sampling

def sample(G, z, bn_stats="batch", chunk=512, labels=None, n_classes=0):
    """G(z) as a host float32 array, without changing any state of G.

    For a conditional G pass the class of each sample in ``labels``.

    bn_stats="batch" normalises with each chunk's own batch statistics (what
    G saw in training: the default, see README), "running" with BatchNorm's
    running averages. Either way the running statistics are left as they were.
    """
    was_training = G.training
    G.train(bn_stats == "batch")
    out = []
    n_chunks = -(-z.shape[0] // chunk)
    edges = np.linspace(0, z.shape[0], n_chunks + 1).astype(int)   # equal chunks: no tiny last batch
    with nn.frozen_running_stats(G):
        for a, b in zip(edges[:-1], edges[1:]):
            zc = backend.to_device(z[a:b])
            if labels is not None:
                zc = with_labels(zc, labels[a:b], n_classes)
            out.append(backend.to_numpy(G.forward(zc)))
    G.clear_cache()                                        # nothing will backpropagate through this
    G.train(was_training)
    return np.concatenate(out).astype(np.float32)


def slerp(a, b, t):
    """Spherical interpolation between latent vectors a and b (what N(0, I) samples lie near)."""
    a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(path, state):
    """Write ``state`` (flat dict of arrays/str/numbers) to ``path`` atomically: temp file, then rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                      # mkstemp makes it private; a checkpoint is not
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_npz(path, marker, what):
    """Every array of an .npz written by ``save_checkpoint`` whose "format" entry is ``marker``.

    A missing, corrupt or foreign file is a TrainingError naming ``what`` it should have been.
    """
    if not os.path.isfile(path):
        raise TrainingError(f"{what} {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
    except Exception as e:
        raise TrainingError(f"{what} {path} cannot be read ({type(e).__name__}: {e})") from None
    if str(state.get("format", "")) != marker:
        raise TrainingError(f"{path} is not a {what} of this program (no '{marker}' marker)")
    return state


def load_checkpoint(path):
    """Read a training checkpoint into a dict of arrays."""
    return read_npz(path, CHECKPOINT_FORMAT, "checkpoint")


def _prefixed(prefix, d):
    return {f"{prefix}/{k}": v for k, v in d.items()}


def _unprefixed(prefix, state):
    n = len(prefix) + 1
    return {k[n:]: v for k, v in state.items() if k.startswith(prefix + "/")}


def checkpoint_config(state):
    return json.loads(str(state["config"]))


def load_models(state, path="checkpoint"):
    """Build G and D from a checkpoint's config and load their weights (any backend)."""
    cfg = checkpoint_config(state)
    with backend.preserved_rng():                        # the weights come from the checkpoint
        G, D = build_models(cfg)
    for name, model in (("G", G), ("D", D)):
        try:
            model.load_state_dict(_unprefixed(name, state))
        except ValueError as e:
            raise TrainingError(f"{path}: {name} does not match the architecture in its config: {e}") from None
    return cfg, G, D


# --------------------------------------------------------------------------- training

class Trainer:
    """Holds the models, optimisers and the position in the data; one ``step`` is one D and one G update."""

    def __init__(self, cfg, images, labels=None):
        self.cfg = cfg
        self.images = images
        self.labels = labels
        self.n_classes = cfg.get("n_classes") or 0         # > 0: a conditional DCGAN
        self.G, self.D = build_models(cfg)
        betas = (cfg["beta1"], 0.999)
        self.opt_G = nn.Adam(self.G, lr=cfg["lr"], betas=betas)
        self.opt_D = nn.Adam(self.D, lr=cfg["lr"], betas=betas)
        self.bce = nn.BCEWithLogits()
        first_weighted_layer(self.G).needs_input_grad = False     # nobody needs dloss/dz: skip that GEMM
        self.step_count = 0
        self.epoch = 0                        # epochs completed
        self.batch_index = 0                  # position inside the current epoch
        self.order = None                     # this epoch's permutation of the data
        # one fixed noise batch for the sample grids, independent of the training draws;
        # conditional: 8 per class, one row per class
        k = self.n_classes
        self.fixed_labels = np.repeat(np.arange(k), 8) if k else None
        self.fixed_noise = np.random.default_rng(cfg["seed"] + 1).standard_normal(
            (8 * k if k else 64, cfg["nz"], 1, 1)).astype(np.float32)

    @property
    def batches_per_epoch(self):
        return len(self.images) // self.cfg["batch_size"]    # the last partial batch is dropped

    def next_batch(self):
        if self.order is None or self.batch_index >= self.batches_per_epoch:
            self.order = backend.rng().permutation(len(self.images))
            self.batch_index = 0
        b = self.cfg["batch_size"]
        idx = np.sort(self.order[self.batch_index * b:(self.batch_index + 1) * b])
        self.batch_index += 1
        labels = self.labels[idx] if self.n_classes else None
        return to_model_range(self.images[idx]), labels

    def noise_sigma(self):
        """Instance noise: its std starts at --instance-noise and falls linearly to 0 at the last step."""
        sigma = self.cfg.get("instance_noise") or 0.0
        if not sigma:
            return 0.0
        total = self.cfg["epochs"] * self.batches_per_epoch
        return sigma * max(0.0, 1.0 - self.step_count / total)

    def d_input(self, images, labels, sigma):
        """What D sees: the images, plus instance noise, plus label channels (conditional)."""
        if sigma > 0:
            images = images + backend.randn(tuple(images.shape), std=sigma)
        if labels is not None:
            images = with_labels(images, labels, self.n_classes)
        return images

    def grid_images(self):
        return sample(self.G, self.fixed_noise, labels=self.fixed_labels, n_classes=self.n_classes)

    def step(self, real, labels=None):
        """One D update and one G update. Returns device scalars (loss_d, loss_g, D(x), D(G(z)))."""
        xp = backend.xp()
        G, D, bce = self.G, self.D, self.bce
        n, nc = real.shape[0], real.shape[1]
        z = backend.randn((n, self.cfg["nz"], 1, 1))
        fake_labels = None
        if self.n_classes:                                          # G draws a random class per sample
            fake_labels = backend.rng().integers(0, self.n_classes, n)
            z = with_labels(z, fake_labels, self.n_classes)
        fake = G.forward(z)                                         # (N, nc, S, S)
        sigma = self.noise_sigma()
        d_real, d_fake = self.d_input(real, labels, sigma), self.d_input(fake, fake_labels, sigma)

        # D: real batch then fake batch, gradients accumulate. No gradient flows back into the
        # images here (real ones are data, fake ones are treated as constants), so D's first
        # layer skips its input gradient.
        D.zero_grad()
        D.requires_grad_(True)
        D.layers[0].needs_input_grad = False
        logits_real = D.forward(d_real)
        loss_real, dlogits = bce(logits_real, self.cfg["real_label"])
        D.backward(dlogits)
        logits_fake = D.forward(d_fake)
        loss_fake, dlogits = bce(logits_fake, 0.0)
        D.backward(dlogits)
        self.opt_D.step()

        # G: non-saturating loss -log D(G(z)), backpropagated through the updated D into G.
        # D's weight gradients are not needed for this update: D skips them.
        G.zero_grad()
        D.requires_grad_(False)
        D.layers[0].needs_input_grad = True
        loss_g, dlogits = bce(D.forward(d_fake), 1.0)
        dfake = D.backward(dlogits)                                 # d loss / d (D's input)
        G.backward(dfake[:, :nc, :, :] if self.n_classes else dfake)  # the label channels are not G's
        self.opt_G.step()

        self.step_count += 1
        d_x = xp.mean(nn.activations.sigmoid(logits_real))
        d_g_z = xp.mean(nn.activations.sigmoid(logits_fake))
        return xp.stack([loss_real + loss_fake, loss_g, d_x, d_g_z])

    # -- checkpoint state ----------------------------------------------------
    def state(self):
        s = {"format": np.array(CHECKPOINT_FORMAT), "config": np.array(json.dumps(self.cfg)),
             "step": np.array(self.step_count), "epoch": np.array(self.epoch),
             "batch_index": np.array(self.batch_index),
             "order": np.array(self.order if self.order is not None else [], dtype=np.int64),
             "rng": np.array(json.dumps(backend.get_rng_state())),
             "fixed_noise": self.fixed_noise}
        s.update(_prefixed("G", self.G.state_dict()))
        s.update(_prefixed("D", self.D.state_dict()))
        for name, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            s.update(_prefixed(name, {k: np.asarray(v) for k, v in opt.state_dict().items()}))
        return s

    def load_state(self, state, path):
        for name, model in (("G", self.G), ("D", self.D)):
            try:
                model.load_state_dict(_unprefixed(name, state))
            except ValueError as e:
                raise TrainingError(f"{path}: {name} does not match the model: {e}") from None
        for name, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            opt.load_state_dict(_unprefixed(name, state))
        self.step_count = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_index = int(state["batch_index"])
        self.order = state["order"] if state["order"].size else None
        self.fixed_noise = state["fixed_noise"]
        backend.set_rng_state(json.loads(str(state["rng"])))


class Run:
    """The run folder: metrics.csv, sample grids, progress.gif, losses.png, checkpoint.npz."""

    def __init__(self, out):
        self.out = out
        self.samples = os.path.join(out, "samples")
        os.makedirs(self.samples, exist_ok=True)
        self.checkpoint = os.path.join(out, "checkpoint.npz")
        self.metrics = os.path.join(out, "metrics.csv")

    def start_metrics(self, keep_up_to_step):
        """Keep rows up to the resumed step (a crash may have logged beyond the checkpoint)."""
        rows = []
        if keep_up_to_step > 0 and os.path.exists(self.metrics):
            with open(self.metrics, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_up_to_step]
        with open(self.metrics, "w", newline="") as f:
            w = csv.DictWriter(f, METRIC_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def log(self, row):
        with open(self.metrics, "a", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS).writerow(row)

    def save_grid(self, trainer, epoch):
        path = os.path.join(self.samples, f"epoch_{epoch:03d}.png")
        save_png(image_grid(trainer.grid_images()), path)
        return path

    def save_gif(self):
        from PIL import Image
        frames = [np.array(Image.open(p)) for p in sorted(glob.glob(os.path.join(self.samples, "epoch_*.png")))]
        save_gif([f[:, :, None] if f.ndim == 2 else f for f in frames], os.path.join(self.out, "progress.gif"))

    def plot_losses(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        with open(self.metrics, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return
        col = {k: np.array([float(r[k] or "nan") for r in rows]) for k in METRIC_FIELDS}
        has_fcd = np.isfinite(col["fcd"]).any()
        fig, axes = plt.subplots(3 if has_fcd else 2, 1, figsize=(9, 8.5 if has_fcd else 6), sharex=True)
        ax1, ax2 = axes[0], axes[1]
        ax1.plot(col["step"], col["loss_d"], label="D loss")
        ax1.plot(col["step"], col["loss_g"], label="G loss")
        ax1.set_ylabel("BCE loss")
        ax1.legend()
        ax1.set_title("DCGAN training")
        ax2.plot(col["step"], col["d_x"], label="D(x), real")
        ax2.plot(col["step"], col["d_g_z"], label="D(G(z)), fake")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("mean D output")
        ax2.legend()
        if has_fcd:
            ok = np.isfinite(col["fcd"])
            axes[2].plot(col["step"][ok], col["fcd"][ok], "o-", color="C3", label="Frechet classifier distance")
            axes[2].set_ylabel("FCD (lower is better)")
            axes[2].legend()
        axes[-1].set_xlabel("step")
        fig.tight_layout()
        fig.savefig(os.path.join(self.out, "losses.png"), dpi=100)
        plt.close(fig)


class StopRequest:
    """First Ctrl-C asks the loop to stop after the current step (and save); a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


def _progress(total, initial, desc, enabled):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False,
                disable=not enabled, dynamic_ncols=True)


def load_training_data(cfg):
    return datasets.load_dataset(cfg["dataset"], data_dir=cfg["data_dir"], image_size=cfg["image_size"])


def train(cfg, resume_state=None, progress=True, data=None):
    """The training loop; returns the Trainer. Raises TrainingError/DatasetError on bad input.

    ``data``: (images, labels) already loaded (the per-class driver passes them).
    """
    backend.seed(cfg["seed"])
    images, labels = data if data is not None else load_training_data(cfg)
    if cfg.get("class_filter") is not None:                      # one class of a --per-class run
        keep = labels == cfg["class_filter"]
        images, labels = images[keep], labels[keep]
    if cfg.get("conditional") and not cfg.get("n_classes"):
        cfg["n_classes"] = int(labels.max()) + 1
    if cfg["nc"] is None:
        cfg["nc"] = int(images.shape[1])
    if images.shape[1] != cfg["nc"]:
        raise TrainingError(f"the data has {images.shape[1]} channels, the checkpoint's model {cfg['nc']}")
    if len(images) < cfg["batch_size"]:
        raise TrainingError(f"{len(images)} images is fewer than one batch of {cfg['batch_size']}")
    trainer = Trainer(cfg, images, labels)
    score_samples = None                                  # --eval-every: scores samples of G
    if cfg.get("eval_every"):
        scorer = quality.make_scorer(quality.load_classifier(cfg["classifier"]), cfg["dataset"], cfg["data_dir"],
                                     cfg["image_size"], cfg["nc"], cfg["eval_n"])
        eval_rng = np.random.default_rng(cfg["seed"] + 2)               # its own generator: training is unchanged
        eval_noise = eval_rng.standard_normal((cfg["eval_n"], cfg["nz"], 1, 1)).astype(np.float32)
        eval_labels = eval_rng.integers(0, trainer.n_classes, cfg["eval_n"]) if trainer.n_classes else None
        score_samples = lambda: scorer(sample(trainer.G, eval_noise, labels=eval_labels,  # noqa: E731
                                              n_classes=trainer.n_classes))
    run = Run(cfg["out"])
    if resume_state is not None:
        trainer.load_state(resume_state, run.checkpoint)
    run.start_metrics(trainer.step_count)
    print(f"{cfg['dataset']}: {len(images)} images {tuple(images.shape[1:])}, backend {backend.name()}, "
          f"G {trainer.G.num_parameters():,} and D {trainer.D.num_parameters():,} parameters, "
          f"{trainer.batches_per_epoch} steps per epoch, run folder {cfg['out']}")
    if trainer.step_count == 0:
        run.save_grid(trainer, 0)

    with StopRequest() as stop:
        while trainer.epoch < cfg["epochs"] and trainer.step_count < (cfg["max_steps"] or math.inf) \
                and not stop.requested:
            train_epoch(trainer, run, stop, progress, score_samples)
            save_checkpoint(run.checkpoint, trainer.state())
            run.plot_losses()
        trainer.interrupted = stop.requested
        if stop.requested:
            print(f"interrupted at step {trainer.step_count}: checkpoint saved to {run.checkpoint}; "
                  f"continue with: python dcgan.py --resume {cfg.get('run_root', cfg['out'])}")
    return trainer


def train_epoch(trainer, run, stop, progress=True, score_samples=None):
    """Train to the end of the current epoch (or to --max-steps, or a Ctrl-C).

    Every --log-every steps the summed statistics are copied to the host once,
    checked for NaN/inf and written as a metrics.csv row. At the epoch's end:
    the quality score (``score_samples``, if --eval-every says so), the summary
    line, the sample grid and the GIF.
    """
    cfg = trainer.cfg
    max_steps = cfg["max_steps"] or math.inf
    epoch = trainer.epoch + 1
    bar = _progress(trainer.batches_per_epoch, trainer.batch_index % trainer.batches_per_epoch,
                    f"epoch {epoch}/{cfg['epochs']}", progress)
    sums, n_sum = None, 0                                  # device-side sums since the last row
    epoch_sums, epoch_steps = 0.0, 0                       # host-side, for the summary line
    t_epoch = t_log = time.perf_counter()
    note = ""
    epoch_done = False
    while trainer.step_count < max_steps and not stop.requested and not epoch_done:
        stats = trainer.step(*trainer.next_batch())
        sums = stats if sums is None else sums + stats     # stays on the device
        n_sum += 1
        bar.update(1)
        epoch_done = trainer.batch_index >= trainer.batches_per_epoch
        if not (n_sum == cfg["log_every"] or epoch_done or trainer.step_count >= max_steps or stop.requested):
            continue
        mean = backend.to_numpy(sums) / n_sum              # the one host transfer
        if not np.all(np.isfinite(mean)):
            bar.close()
            kept = f"the last good checkpoint is {run.checkpoint}" if os.path.exists(run.checkpoint) \
                else "no checkpoint was written yet"
            raise TrainingError(f"loss became {mean[0] if not np.isfinite(mean[0]) else mean[1]} at step "
                                f"{trainer.step_count}: training diverged; {kept}")
        now = time.perf_counter()
        row = {"step": trainer.step_count, "epoch": epoch, "loss_d": f"{mean[0]:.5f}", "loss_g": f"{mean[1]:.5f}",
               "d_x": f"{mean[2]:.5f}", "d_g_z": f"{mean[3]:.5f}",
               "images_per_s": f"{n_sum * cfg['batch_size'] / max(now - t_log, 1e-9):.1f}"}
        if epoch_done and score_samples and epoch % cfg["eval_every"] == 0:
            scored = score_samples()
            row["fcd"] = f"{scored['fcd']:.4f}"
            note = (f"  FCD {scored['fcd']:.2f} (floor {scored['fcd_real_floor']:.2f}), "
                    f"{scored['classes_covered']} classes, confidence {scored['mean_confidence']:.2f}")
            t_epoch += time.perf_counter() - now           # scoring is not training time
            now = time.perf_counter()
        run.log(row)
        bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}", img_s=row["images_per_s"])
        epoch_sums, epoch_steps = epoch_sums + mean * n_sum, epoch_steps + n_sum
        sums, n_sum, t_log = None, 0, now
    bar.close()
    if epoch_done:
        trainer.epoch += 1
        seconds = time.perf_counter() - t_epoch
        m = epoch_sums / epoch_steps
        print(f"epoch {trainer.epoch}/{cfg['epochs']}  step {trainer.step_count}  loss_d {m[0]:.3f}  "
              f"loss_g {m[1]:.3f}  D(x) {m[2]:.3f}  D(G(z)) {m[3]:.3f}  "
              f"{epoch_steps * cfg['batch_size'] / seconds:.0f} img/s  {seconds:.1f} s{note}", flush=True)
        run.save_grid(trainer, trainer.epoch)
        run.save_gif()


PER_CLASS_CONFIG = "per_class.json"


def class_folder(root, k):
    return os.path.join(root, f"class_{k:02d}")


def train_per_class(cfg, progress=True):
    """--per-class (seed 002's classDCGAN): one G/D pair per class, each a normal run in OUT/class_KK/.

    Resuming continues each class where it stopped and skips finished ones.
    At the end OUT/classes.png shows 8 samples of every class's generator, one row each.
    """
    images, labels = load_training_data(cfg)
    os.makedirs(cfg["out"], exist_ok=True)
    with open(os.path.join(cfg["out"], PER_CLASS_CONFIG), "w") as f:
        json.dump(cfg, f, indent=1)
    rows = []
    for k in np.unique(labels):
        sub = dict(cfg, per_class=False, class_filter=int(k), out=class_folder(cfg["out"], int(k)),
                   run_root=cfg["out"])
        ckpt = os.path.join(sub["out"], "checkpoint.npz")
        state = load_checkpoint(ckpt) if os.path.exists(ckpt) else None
        print(f"--- class {k} ---")
        if state is not None and int(state["epoch"]) >= cfg["epochs"]:
            print(f"{ckpt}: already trained {int(state['epoch'])} epochs")
            trainer = None
        else:
            if state is not None:
                sub = dict(checkpoint_config(state), epochs=cfg["epochs"], max_steps=cfg["max_steps"],
                           log_every=cfg["log_every"], data_dir=cfg["data_dir"], run_root=cfg["out"])
            trainer = train(sub, state, progress, data=(images, labels))
            if trainer.interrupted:
                return
        _, G, _ = load_models(load_checkpoint(ckpt), ckpt)
        z = np.random.default_rng(cfg["seed"] + 1).standard_normal((8, cfg["nz"], 1, 1)).astype(np.float32)
        rows.append(sample(G, z))
    save_png(image_grid(np.concatenate(rows)), os.path.join(cfg["out"], "classes.png"))
    print(f"wrote {os.path.join(cfg['out'], 'classes.png')}: one row per class")


# --------------------------------------------------------------------------- sampling a saved model

class SavedModel:
    """A trained generator to sample from: a checkpoint.npz, a run folder, or a --per-class run folder.

    ``classes`` lists the classes it can be asked for (empty: an unconditional model).
    """

    def __init__(self, path):
        self.path = path
        self.per_class = os.path.isdir(path) and os.path.exists(os.path.join(path, PER_CLASS_CONFIG))
        if self.per_class:
            with open(os.path.join(path, PER_CLASS_CONFIG)) as f:
                self.cfg = json.load(f)
            self.classes = sorted(int(d[6:]) for d in os.listdir(path)
                                  if d.startswith("class_") and os.path.exists(os.path.join(path, d, "checkpoint.npz")))
            if not self.classes:
                raise TrainingError(f"{path}: a per-class run without any class checkpoint yet")
            self._generators = {}
            return
        ckpt = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
        self.cfg, self.G, _ = load_models(load_checkpoint(ckpt), ckpt)
        self.n_classes = self.cfg.get("n_classes") or 0
        self.classes = list(range(self.n_classes))

    def _class_generator(self, k):
        if k not in self._generators:
            ckpt = os.path.join(class_folder(self.path, k), "checkpoint.npz")
            self._generators[k] = load_models(load_checkpoint(ckpt), ckpt)[1]
        return self._generators[k]

    def generate(self, n, rng, bn_stats="batch", class_index=None):
        """n images (host float32, [-1, 1]) and their classes (None for an unconditional model)."""
        if class_index is not None and class_index not in self.classes:
            if not self.classes:
                raise TrainingError(f"--class: {self.path} is not a conditional or per-class model")
            raise TrainingError(f"--class {class_index}: this model knows classes {self.classes[0]}..{self.classes[-1]}")
        z = rng.standard_normal((n, self.cfg["nz"], 1, 1)).astype(np.float32)
        if self.per_class:
            labels = np.full(n, class_index) if class_index is not None else np.array(self.classes)[np.arange(n) % len(self.classes)]
            images = np.empty((n, self.cfg["nc"], self.cfg["image_size"], self.cfg["image_size"]), np.float32)
            for k in np.unique(labels):
                images[labels == k] = sample(self._class_generator(int(k)), z[labels == k], bn_stats)
            return images, labels
        if not self.n_classes:
            return sample(self.G, z, bn_stats), None
        labels = np.full(n, class_index) if class_index is not None else rng.integers(0, self.n_classes, n)
        return sample(self.G, z, bn_stats, labels=labels, n_classes=self.n_classes), labels


# --------------------------------------------------------------------------- command line

def number_type(cast, check, requirement):
    """An argparse type: ``cast`` the text, then insist on ``check(value)`` ("must be <requirement>")."""
    noun = "an integer" if cast is int else "a number"

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


positive_int = number_type(int, lambda v: v >= 1, "at least 1")
positive_float = number_type(float, lambda v: v > 0 and math.isfinite(v), "a positive number")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" except where there is no default worth showing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def train_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py", formatter_class=HelpFormatter,
        description="Train a DCGAN (Radford et al. 2015) with nn/'s hand-written layers. "
                    "Subcommands: 'python dcgan.py generate --help' samples from a checkpoint, "
                    "'python dcgan.py evaluate --help' measures sample quality.")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"],
                   help="array backend: numpy (CPU) or cupy (NVIDIA GPU)")
    p.add_argument("--dataset", default="mnist", choices=list(datasets.DATASETS),
                   help="training data; mnist and fashion-mnist download (MD5-checked) unless --data-dir is given")
    p.add_argument("--data-dir", default=None,
                   help="read the dataset's files from this folder and download nothing "
                        "(for folder: the folder of PNG/JPEG images)")
    p.add_argument("--epochs", type=positive_int, default=25, help="total epochs (on --resume too: the total, not more)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per batch")
    p.add_argument("--lr", type=positive_float, default=2e-4, help="Adam learning rate, both networks")
    p.add_argument("--beta1", type=float, default=0.5, help="Adam beta1")
    p.add_argument("--nz", type=positive_int, default=100, help="size of the latent vector z")
    p.add_argument("--ngf", type=positive_int, default=64, help="generator width (channels of its last hidden layer)")
    p.add_argument("--ndf", type=positive_int, default=64, help="discriminator width (channels of its first layer)")
    p.add_argument("--image-size", type=int, default=None, choices=IMAGE_SIZES,
                   help="32 (default for mnist, fashion-mnist, cifar10: 28x28 is padded to 32x32) "
                        "or 64 (the paper's; default for folder)")
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, backend and machine = same run")
    p.add_argument("--resume", metavar="OUT", default=None,
                   help="continue the run in folder OUT from its checkpoint.npz (model, optimiser, data "
                        "position, RNG); architecture and optimiser settings come from the checkpoint")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="stop after this many steps in total (a quick smoke run); a checkpoint is saved")
    p.add_argument("--log-every", type=positive_int, default=10,
                   help="steps averaged per metrics.csv row (the only time losses are copied to the host)")
    variants = p.add_argument_group("variants and stabilisers (see README)")
    kind = variants.add_mutually_exclusive_group()
    kind.add_argument("--conditional", action="store_true",
                      help="one model for all classes: the one-hot label joins z in G and enters D as extra channels")
    kind.add_argument("--per-class", action="store_true",
                      help="one G/D pair per class (seed 002's classDCGAN), in OUT/class_KK/, plus OUT/classes.png")
    variants.add_argument("--head", default="conv", choices=["conv", "linear"],
                          help="linear: a Linear layer (with BatchNorm1d) maps z to G's 4x4 maps and ends D "
                               "(seeds 002 linDCGAN and 003)")
    variants.add_argument("--label-smoothing", type=float, nargs="?", const=0.9, default=None, metavar="TARGET",
                          help="one-sided label smoothing: D's target for real images is TARGET (0.9 if no value) "
                               "instead of 1, so D cannot become over-confident; fake targets stay 0")
    variants.add_argument("--instance-noise", type=float, default=0.0, metavar="SIGMA",
                          help="add N(0, sigma^2) noise to every image D sees (real and fake), sigma falling "
                               "linearly from SIGMA to 0 over the run: overlapping the two distributions "
                               "early keeps D's gradients useful to G")
    p.add_argument("--classifier", default=None,
                   help="a classifier .npz from examples/train_classifier.py, for --eval-every")
    p.add_argument("--eval-every", type=positive_int, default=None, metavar="K",
                   help="every K epochs, score --eval-n samples with --classifier (Frechet classifier "
                        "distance into metrics.csv and losses.png; see 'dcgan.py evaluate')")
    p.add_argument("--eval-n", type=positive_int, default=2000, help="samples scored by --eval-every")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def evaluate_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py evaluate", formatter_class=HelpFormatter,
        description="Score generated images with a classifier trained by examples/train_classifier.py: "
                    "Frechet classifier distance to the real test images (with the real-train-vs-real-test "
                    "floor), class coverage and mean confidence.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="sample --n images from this checkpoint (or run folder; a "
                                             "--per-class run folder: an equal share from every class)")
    source.add_argument("--samples", help="score these instead: a samples.npy (N, C, H, W) in [-1, 1] "
                                          "or a folder of PNG images")
    p.add_argument("--classifier", required=True, help="classifier .npz")
    p.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist"],
                   help="the real images (default: the checkpoint's, else the classifier's dataset)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the dataset's files (default: the checkpoint's, else the classifier's)")
    p.add_argument("--n", type=positive_int, default=10000, help="samples to generate from --checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed for z")
    p.add_argument("--bn-stats", default="batch", choices=["batch", "running"], help="as in generate")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="array backend")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    return p


def load_samples(path):
    """A samples.npy (float in [-1, 1]) or a folder of PNGs (uint8) as (N, C, H, W)."""
    from PIL import Image
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.png")))
        files = [f for f in files if os.path.basename(f)[0].isdigit()] or files    # skip grid.png if numbered ones exist
        if not files:
            raise TrainingError(f"no PNG images in {path}")
        arrays = [np.array(Image.open(f)) for f in files]
        if len({a.shape for a in arrays}) != 1:
            raise TrainingError(f"the PNG images in {path} do not all have the same size")
        x = np.stack(arrays)
        return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise TrainingError(f"samples {path} cannot be read ({type(e).__name__}: {e})") from None
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
        raise TrainingError(f"samples {path} must be a float array (N, C, H, W), got {x.dtype} {x.shape}")
    return x.astype(np.float32)


def evaluate(args):
    use_backend(args.backend)
    cfg = None
    if args.checkpoint:
        model = SavedModel(args.checkpoint)
        cfg = model.cfg
        images, _ = model.generate(args.n, np.random.default_rng(args.seed), args.bn_stats)
    else:
        images = load_samples(args.samples)
    classifier = quality.load_classifier(args.classifier)
    cls_meta = classifier[1]
    dataset = args.dataset or (cfg["dataset"] if cfg else cls_meta["dataset"])
    data_dir = args.data_dir or (cfg["data_dir"] if cfg else None) or cls_meta.get("data_dir")
    scorer = quality.make_scorer(classifier, dataset, data_dir, images.shape[2], images.shape[1], len(images))
    result = scorer(images)
    result["dataset"] = dataset
    print(quality.format_table(result, quality.CLASS_NAMES.get(dataset)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")


def generate_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py generate", formatter_class=HelpFormatter,
        description="Write images sampled from a trained generator: N PNGs, samples.npy (N, C, H, W) "
                    "float32 in [-1, 1] and grid.png; optionally a latent-space interpolation GIF.")
    p.add_argument("--checkpoint", required=True,
                   help="a checkpoint.npz written by training, or a run folder (a --per-class run's folder too)")
    p.add_argument("--class", dest="class_index", type=int, default=None, metavar="K",
                   help="only class K (conditional and per-class models); without it they also write "
                        "classes.png, one row per class")
    p.add_argument("--n", type=positive_int, default=64, help="number of images")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed for z: same seed = same images")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="array backend")
    p.add_argument("--bn-stats", default="batch", choices=["batch", "running"],
                   help="BatchNorm statistics: each batch's own (as in training; default) or the running averages")
    p.add_argument("--interpolate", type=positive_int, default=None, metavar="K",
                   help="also write interpolation.gif: 16 walks through latent space, K frames each, "
                        "by spherical interpolation between random z")
    return p


def generate(args):
    use_backend(args.backend)
    model = SavedModel(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    images, labels = model.generate(args.n, rng, args.bn_stats, args.class_index)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "samples.npy"), images)
    if labels is not None:
        np.save(os.path.join(args.out, "labels.npy"), labels)
    for i, tile in enumerate(to_uint8(images)):
        save_png(tile, os.path.join(args.out, f"{i:05d}.png"))
    save_png(image_grid(images[:64]), os.path.join(args.out, "grid.png"))
    print(f"wrote {args.n} images, samples.npy {images.shape} and grid.png to {args.out}")
    if model.classes and args.class_index is None:
        rows = [model.generate(8, np.random.default_rng(args.seed), args.bn_stats, k)[0] for k in model.classes]
        save_png(image_grid(np.concatenate(rows)), os.path.join(args.out, "classes.png"))
        print("wrote classes.png: one row per class")
    if args.interpolate:
        if model.per_class:
            raise TrainingError("--interpolate needs one generator: pass a class's checkpoint "
                                f"({class_folder(args.checkpoint, 0)}/checkpoint.npz)")
        k = args.interpolate
        ends = rng.standard_normal((2, 16, model.cfg["nz"])).astype(np.float32)
        walk_labels = np.full(16, args.class_index) if args.class_index is not None else (
            rng.integers(0, model.n_classes, 16) if model.n_classes else None)
        frames = []
        for t in np.linspace(0.0, 1.0, k):
            zt = np.stack([slerp(a, b, t) for a, b in zip(ends[0], ends[1])]).astype(np.float32)
            walk = sample(model.G, zt[:, :, None, None], args.bn_stats, labels=walk_labels, n_classes=model.n_classes)
            frames.append(image_grid(walk, nrow=4))
        save_gif(frames + frames[-2:0:-1], os.path.join(args.out, "interpolation.gif"), duration_ms=120)
        print(f"wrote interpolation.gif ({k} frames there and back) to {args.out}")


def use_backend(name):
    backend.use(name)
    if name == "numpy":
        backend.keep_freed_memory()      # reuse freed pages step after step: ~15% faster on CPU


def train_main(args):
    use_backend(args.backend)
    resume_state = None
    if args.resume and os.path.exists(os.path.join(args.resume, PER_CLASS_CONFIG)):
        with open(os.path.join(args.resume, PER_CLASS_CONFIG)) as f:
            cfg = json.load(f)
        cfg.update(epochs=args.epochs, max_steps=args.max_steps, log_every=args.log_every, out=args.resume,
                   data_dir=args.data_dir or cfg["data_dir"])
        return train_per_class(cfg, progress=not args.no_progress)
    if args.resume:
        ckpt = os.path.join(args.resume, "checkpoint.npz")
        resume_state = load_checkpoint(ckpt)
        cfg = checkpoint_config(resume_state)
        cfg.update(epochs=args.epochs, max_steps=args.max_steps, log_every=args.log_every, out=args.resume)
        if args.data_dir:
            cfg["data_dir"] = os.path.abspath(args.data_dir)
        if args.eval_every:
            cfg.update(eval_every=args.eval_every, classifier=args.classifier, eval_n=args.eval_n)
        if int(resume_state["epoch"]) >= cfg["epochs"]:
            print(f"{ckpt} has already trained {int(resume_state['epoch'])} epochs; "
                  f"pass a larger --epochs (the total) to train more")
            return
    else:
        image_size = args.image_size or (64 if args.dataset == "folder" else 32)
        data_dir = os.path.abspath(args.data_dir) if args.data_dir else None     # usable from anywhere later
        cfg = {"dataset": args.dataset, "data_dir": data_dir, "image_size": image_size,
               "nc": DATASET_CHANNELS.get(args.dataset), "nz": args.nz, "ngf": args.ngf, "ndf": args.ndf,
               "batch_size": args.batch_size, "lr": args.lr, "beta1": args.beta1, "seed": args.seed,
               "epochs": args.epochs, "max_steps": args.max_steps, "log_every": args.log_every,
               "out": args.out or os.path.join("runs", args.dataset),
               "eval_every": args.eval_every, "classifier": args.classifier, "eval_n": args.eval_n,
               "conditional": args.conditional, "per_class": args.per_class, "n_classes": None,
               "head": args.head, "real_label": args.label_smoothing or 1.0,
               "instance_noise": args.instance_noise}
        if not 0 < cfg["real_label"] <= 1:
            raise TrainingError(f"--label-smoothing {args.label_smoothing}: the real target must be in (0, 1]")
        if cfg["instance_noise"] < 0:
            raise TrainingError(f"--instance-noise {args.instance_noise}: sigma must be >= 0")
    if cfg.get("eval_every") and not cfg.get("classifier"):
        raise TrainingError("--eval-every needs --classifier CLS.npz (train one with examples/train_classifier.py)")
    if cfg.get("per_class"):
        return train_per_class(cfg, progress=not args.no_progress)
    train(cfg, resume_state, progress=not args.no_progress)


USER_ERRORS = (TrainingError, quality.QualityError, datasets.DatasetError, backend.BackendError)


def run_command(command, args):
    """Run ``command(args)`` as a program: a user error is one line on stderr and exit code 1."""
    try:
        command(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["generate"]:
        return run_command(generate, generate_parser().parse_args(argv[1:]))
    if argv[:1] == ["evaluate"]:
        return run_command(evaluate, evaluate_parser().parse_args(argv[1:]))
    return run_command(train_main, train_parser().parse_args(argv[1:] if argv[:1] == ["train"] else argv))


if __name__ == "__main__":
    sys.exit(main())
