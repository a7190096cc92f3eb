"""Train a DCGAN with the hand-written layers of nn/, and generate images from it.

    python dcgan.py                                   # MNIST, NumPy, 25 epochs, into runs/mnist
    python dcgan.py --backend cupy                    # the same on a GPU
    python dcgan.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --epochs 3
    python dcgan.py --resume runs/mnist --epochs 30   # continue a run (epochs count the total)
    python dcgan.py generate --checkpoint runs/mnist/checkpoint.npz --n 64 --out samples/

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

def build_generator(nz=100, ngf=64, nc=1, image_size=32):
    """z (N, nz, 1, 1) -> image (N, nc, S, S) in [-1, 1].

    S = 32: nz -> 4ngf x 4x4 -> 2ngf x 8x8 -> ngf x 16x16 -> nc x 32x32
    S = 64: nz -> 8ngf x 4x4 -> 4ngf x 8x8 -> 2ngf x 16x16 -> ngf x 32x32 -> nc x 64x64
    """
    widths = _widths(ngf, image_size)                      # e.g. [4ngf, 2ngf, ngf] at 32
    layers = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for cin, cout in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def build_discriminator(ndf=64, nc=1, image_size=32):
    """image (N, nc, S, S) -> logit (N, 1): the mirror image of the generator, no BN on the input layer."""
    widths = _widths(ndf, image_size)[::-1]                # e.g. [ndf, 2ndf, 4ndf] at 32
    layers = [nn.Conv2d(nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for cin, cout in zip(widths, widths[1:]):
        layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def _widths(base, image_size):
    if image_size not in IMAGE_SIZES:
        raise TrainingError(f"--image-size {image_size} is not supported: use 32 or 64")
    n = int(math.log2(image_size)) - 2                     # 3 hidden widths at 32, 4 at 64
    return [base * 2 ** i for i in reversed(range(n))]


def build_models(cfg):
    G = build_generator(cfg["nz"], cfg["ngf"], cfg["nc"], cfg["image_size"])
    D = build_discriminator(cfg["ndf"], cfg["nc"], cfg["image_size"])
    return nn.dcgan_init(G), nn.dcgan_init(D)


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

def sample(G, z, bn_stats="batch", chunk=512):
    """G(z) as a host float32 array, without changing any state of G.

    bn_stats="batch" normalises with each chunk's own batch statistics (what
    G saw in training: the default, see README), "running" with BatchNorm's
    running averages. Either way the running statistics are left as they were.
    """
    was_training = G.training
    G.train(bn_stats == "batch")
    out = []
    with nn.frozen_running_stats(G):
        for i in range(0, z.shape[0], chunk):
            out.append(backend.to_numpy(G.forward(backend.to_device(z[i:i + chunk]))))
    for m in G.modules():
        m._cache = None                                    # nothing will backpropagate through this
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
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    """Read a checkpoint into a dict; a missing, corrupt or foreign file is a TrainingError."""
    if not os.path.isfile(path):
        raise TrainingError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
    except Exception as e:
        raise TrainingError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    if str(state.get("format", "")) != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a checkpoint of this program (no '{CHECKPOINT_FORMAT}' marker)")
    return state


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

    def __init__(self, cfg, images):
        self.cfg = cfg
        self.images = images
        self.G, self.D = build_models(cfg)
        betas = (cfg["beta1"], 0.999)
        self.opt_G = nn.Adam(self.G, lr=cfg["lr"], betas=betas)
        self.opt_D = nn.Adam(self.D, lr=cfg["lr"], betas=betas)
        self.bce = nn.BCEWithLogits()
        self.G.layers[0].needs_input_grad = False     # nobody needs dloss/dz: skip that GEMM
        self.step_count = 0
        self.epoch = 0                        # epochs completed
        self.batch_index = 0                  # position inside the current epoch
        self.order = None                     # this epoch's permutation of the data
        # one fixed noise batch for the sample grids, independent of the training draws
        self.fixed_noise = np.random.default_rng(cfg["seed"] + 1).standard_normal(
            (64, cfg["nz"], 1, 1)).astype(np.float32)

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
        return to_model_range(self.images[idx])

    def step(self, real):
        """One D update and one G update. Returns device scalars (loss_d, loss_g, D(x), D(G(z)))."""
        xp = backend.xp()
        G, D, bce = self.G, self.D, self.bce
        n = real.shape[0]
        z = backend.randn((n, self.cfg["nz"], 1, 1))
        fake = G.forward(z)                                         # (N, nc, S, S)

        # D: real batch then fake batch, gradients accumulate. No gradient flows back into the
        # images here (real ones are data, fake ones are treated as constants), so D's first
        # layer skips its input gradient.
        D.zero_grad()
        D.requires_grad_(True)
        D.layers[0].needs_input_grad = False
        logits_real = D.forward(real)
        loss_real, dlogits = bce(logits_real, self.cfg["real_label"])
        D.backward(dlogits)
        logits_fake = D.forward(fake)
        loss_fake, dlogits = bce(logits_fake, 0.0)
        D.backward(dlogits)
        self.opt_D.step()

        # G: non-saturating loss -log D(G(z)), backpropagated through the updated D into G.
        # D's weight gradients are not needed for this update: D skips them.
        G.zero_grad()
        D.requires_grad_(False)
        D.layers[0].needs_input_grad = True
        loss_g, dlogits = bce(D.forward(fake), 1.0)
        G.backward(D.backward(dlogits))
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

    def save_grid(self, G, fixed_noise, epoch):
        path = os.path.join(self.samples, f"epoch_{epoch:03d}.png")
        save_png(image_grid(sample(G, fixed_noise)), path)
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


def train(cfg, resume_state=None, progress=True):
    """The training loop; returns the Trainer. Raises TrainingError/DatasetError on bad input."""
    backend.seed(cfg["seed"])
    images, _ = datasets.load_dataset(cfg["dataset"], data_dir=cfg["data_dir"], image_size=cfg["image_size"])
    if cfg["nc"] is None:
        cfg["nc"] = int(images.shape[1])
    if images.shape[1] != cfg["nc"]:
        raise TrainingError(f"the data has {images.shape[1]} channels, the checkpoint's model {cfg['nc']}")
    if len(images) < cfg["batch_size"]:
        raise TrainingError(f"{len(images)} images is fewer than one batch of {cfg['batch_size']}")
    trainer = Trainer(cfg, images)
    scorer = None
    if cfg.get("eval_every"):
        scorer, _ = quality.make_scorer(cfg["classifier"], cfg["dataset"], cfg["data_dir"], cfg["image_size"],
                                        cfg["nc"], cfg["eval_n"])
        eval_noise = np.random.default_rng(cfg["seed"] + 2).standard_normal(
            (cfg["eval_n"], cfg["nz"], 1, 1)).astype(np.float32)      # its own generator: training is unchanged
    run = Run(cfg["out"])
    if resume_state is not None:
        trainer.load_state(resume_state, run.checkpoint)
    run.start_metrics(trainer.step_count)
    print(f"{cfg['dataset']}: {len(images)} images {tuple(images.shape[1:])}, backend {backend.name()}, "
          f"G {trainer.G.num_parameters():,} and D {trainer.D.num_parameters():,} parameters, "
          f"{trainer.batches_per_epoch} steps per epoch, run folder {cfg['out']}")
    if trainer.step_count == 0:
        run.save_grid(trainer.G, trainer.fixed_noise, 0)

    max_steps = cfg["max_steps"] or math.inf
    log_every = cfg["log_every"]
    with StopRequest() as stop:
        while trainer.epoch < cfg["epochs"] and trainer.step_count < max_steps and not stop.requested:
            epoch = trainer.epoch + 1
            bar = _progress(trainer.batches_per_epoch, trainer.batch_index % trainer.batches_per_epoch,
                            f"epoch {epoch}/{cfg['epochs']}", progress)
            sums, n_sum, t_log, t_epoch, epoch_steps, epoch_sums = None, 0, time.perf_counter(), time.perf_counter(), 0, None
            quality_note = ""
            while trainer.step_count < max_steps and not stop.requested:
                stats = trainer.step(trainer.next_batch())
                sums = stats if sums is None else sums + stats      # stays on the device
                n_sum += 1
                bar.update(1)
                epoch_done = trainer.batch_index >= trainer.batches_per_epoch
                if n_sum == log_every or epoch_done or trainer.step_count >= max_steps or stop.requested:
                    mean = backend.to_numpy(sums) / n_sum              # the one host transfer
                    if not np.all(np.isfinite(mean)):
                        bar.close()
                        where = f"last good checkpoint: {run.checkpoint}" if os.path.exists(run.checkpoint) \
                            else "no checkpoint was written yet"
                        raise TrainingError(f"loss became {mean[0] if not np.isfinite(mean[0]) else mean[1]} "
                                            f"at step {trainer.step_count}: training diverged; {where}")
                    now = time.perf_counter()
                    ips = n_sum * cfg["batch_size"] / max(now - t_log, 1e-9)
                    row = {"step": trainer.step_count, "epoch": epoch, "loss_d": f"{mean[0]:.5f}",
                           "loss_g": f"{mean[1]:.5f}", "d_x": f"{mean[2]:.5f}", "d_g_z": f"{mean[3]:.5f}",
                           "images_per_s": f"{ips:.1f}"}
                    if epoch_done and scorer and epoch % cfg["eval_every"] == 0:
                        t_score = time.perf_counter()
                        scored = scorer(sample(trainer.G, eval_noise))
                        row["fcd"] = f"{scored['fcd']:.4f}"
                        quality_note = (f"  FCD {scored['fcd']:.2f} (floor {scored['fcd_real_floor']:.2f}), "
                                        f"{scored['classes_covered']} classes, "
                                        f"confidence {scored['mean_confidence']:.2f}")
                        now = time.perf_counter()
                        t_epoch += now - t_score                       # scoring is not training time
                    run.log(row)
                    bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}", img_s=f"{ips:.0f}")
                    epoch_sums = mean * n_sum if epoch_sums is None else epoch_sums + mean * n_sum
                    epoch_steps += n_sum
                    sums, n_sum, t_log = None, 0, now
                if epoch_done:
                    break
            bar.close()
            if trainer.batch_index >= trainer.batches_per_epoch:
                trainer.epoch += 1
                seconds = time.perf_counter() - t_epoch
                m = epoch_sums / max(epoch_steps, 1)
                print(f"epoch {trainer.epoch}/{cfg['epochs']}  step {trainer.step_count}  loss_d {m[0]:.3f}  "
                      f"loss_g {m[1]:.3f}  D(x) {m[2]:.3f}  D(G(z)) {m[3]:.3f}  "
                      f"{epoch_steps * cfg['batch_size'] / seconds:.0f} img/s  {seconds:.1f} s{quality_note}", flush=True)
                run.save_grid(trainer.G, trainer.fixed_noise, trainer.epoch)
                run.save_gif()
            save_checkpoint(run.checkpoint, trainer.state())
            run.plot_losses()
        if stop.requested:
            print(f"interrupted at step {trainer.step_count}: checkpoint saved to {run.checkpoint}; "
                  f"continue with: python dcgan.py --resume {cfg['out']}")
    return trainer


# --------------------------------------------------------------------------- command line

def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" except where there is no default worth showing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def train_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py", formatter_class=_HelpFormatter,
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
        prog="dcgan.py evaluate", formatter_class=_HelpFormatter,
        description="Score generated images with a classifier trained by examples/train_classifier.py: "
                    "Frechet classifier distance to the real test images (with the real-train-vs-real-test "
                    "floor), class coverage and mean confidence.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="sample --n images from this training checkpoint")
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
        state = load_checkpoint(args.checkpoint)
        cfg, G, _ = load_models(state, args.checkpoint)
        z = np.random.default_rng(args.seed).standard_normal((args.n, cfg["nz"], 1, 1)).astype(np.float32)
        images = sample(G, z, args.bn_stats)
    else:
        images = load_samples(args.samples)
    cls_meta = quality.load_classifier(args.classifier)[1]
    dataset = args.dataset or (cfg["dataset"] if cfg else cls_meta["dataset"])
    data_dir = args.data_dir or (cfg["data_dir"] if cfg else None) or cls_meta.get("data_dir")
    scorer, meta = quality.make_scorer(args.classifier, dataset, data_dir, images.shape[2], images.shape[1],
                                       len(images))
    result = scorer(images)
    result["dataset"] = dataset
    print(quality.format_table(result, quality.CLASS_NAMES.get(dataset)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")


def generate_parser():
    p = argparse.ArgumentParser(
        prog="dcgan.py generate", formatter_class=_HelpFormatter,
        description="Write images sampled from a trained generator: N PNGs, samples.npy (N, C, H, W) "
                    "float32 in [-1, 1] and grid.png; optionally a latent-space interpolation GIF.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by training")
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
    state = load_checkpoint(args.checkpoint)
    cfg, G, _ = load_models(state, args.checkpoint)
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((args.n, cfg["nz"], 1, 1)).astype(np.float32)
    images = sample(G, z, args.bn_stats)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "samples.npy"), images)
    for i, tile in enumerate(to_uint8(images)):
        save_png(tile, os.path.join(args.out, f"{i:05d}.png"))
    save_png(image_grid(images[:64]), os.path.join(args.out, "grid.png"))
    print(f"wrote {args.n} images, samples.npy {images.shape} and grid.png to {args.out}")
    if args.interpolate:
        k = args.interpolate
        ends = rng.standard_normal((2, 16, cfg["nz"])).astype(np.float32)
        frames = []
        for t in np.linspace(0.0, 1.0, k):
            zt = np.stack([slerp(a, b, t) for a, b in zip(ends[0], ends[1])]).astype(np.float32)
            frames.append(image_grid(sample(G, zt[:, :, None, None], args.bn_stats), nrow=4))
        save_gif(frames + frames[-2:0:-1], os.path.join(args.out, "interpolation.gif"), duration_ms=120)
        print(f"wrote interpolation.gif ({k} frames there and back) to {args.out}")


def use_backend(name):
    backend.use(name)
    if name == "numpy":
        backend.keep_freed_memory()      # reuse freed pages step after step: ~15% faster on CPU


def train_main(args):
    use_backend(args.backend)
    resume_state = None
    if args.resume:
        ckpt = os.path.join(args.resume, "checkpoint.npz")
        resume_state = load_checkpoint(ckpt)
        cfg = checkpoint_config(resume_state)
        cfg.update(epochs=args.epochs, max_steps=args.max_steps, log_every=args.log_every, out=args.resume)
        if args.data_dir:
            cfg["data_dir"] = args.data_dir
        if args.eval_every:
            cfg.update(eval_every=args.eval_every, classifier=args.classifier, eval_n=args.eval_n)
        if int(resume_state["epoch"]) >= cfg["epochs"]:
            print(f"{ckpt} has already trained {int(resume_state['epoch'])} epochs; "
                  f"pass a larger --epochs (the total) to train more")
            return
    else:
        image_size = args.image_size or (64 if args.dataset == "folder" else 32)
        cfg = {"dataset": args.dataset, "data_dir": args.data_dir, "image_size": image_size,
               "nc": DATASET_CHANNELS.get(args.dataset), "nz": args.nz, "ngf": args.ngf, "ndf": args.ndf,
               "batch_size": args.batch_size, "lr": args.lr, "beta1": args.beta1, "seed": args.seed,
               "epochs": args.epochs, "max_steps": args.max_steps, "log_every": args.log_every,
               "real_label": 1.0, "out": args.out or os.path.join("runs", args.dataset),
               "eval_every": args.eval_every, "classifier": args.classifier, "eval_n": args.eval_n}
    if cfg.get("eval_every") and not cfg.get("classifier"):
        raise TrainingError("--eval-every needs --classifier CLS.npz (train one with examples/train_classifier.py)")
    train(cfg, resume_state, progress=not args.no_progress)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["generate"]:
            generate(generate_parser().parse_args(argv[1:]))
        elif argv[:1] == ["evaluate"]:
            evaluate(evaluate_parser().parse_args(argv[1:]))
        else:
            train_main(train_parser().parse_args(argv[1:] if argv[:1] == ["train"] else argv))
    except (TrainingError, quality.QualityError, datasets.DatasetError, backend.BackendError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
