"""Train a DCGAN with the hand-written layers of nn/, generate images from it, measure them.

    python dcgan.py                                   # MNIST, NumPy, 25 epochs, into runs/mnist
    python dcgan.py --backend cupy                    # the same on a GPU
    python dcgan.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --epochs 3
    python dcgan.py --resume runs/mnist --epochs 30   # continue a run (epochs count the total)
    python dcgan.py --conditional | --per-class | --head linear | --label-smoothing | --instance-noise 0.1
    python dcgan.py generate --checkpoint runs/mnist/checkpoint.npz --n 64 --out runs/mnist/generated
    python dcgan.py evaluate --checkpoint runs/mnist/checkpoint.npz --classifier cls.npz

The recipe is the paper's (Radford, Metz & Chintala 2015) and PyTorch's DCGAN
example's: Adam(2e-4, beta1 0.5), batch 128, z ~ N(0, I) of 100 dims, weights
N(0, 0.02); G = transposed convs + BatchNorm + ReLU, Tanh output; D = strided
convs + BatchNorm (not on its input layer) + LeakyReLU(0.2); no pooling, no
fully connected layers; data scaled to [-1, 1].

One training step (the standard alternating updates, as PyTorch's example writes them)::

    (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))    real batch, then fake batch, grads summed
    (2) Update G network: maximize log(D(G(z)))                     the non-saturating loss, through the updated D

D ends in a logit and the loss is BCEWithLogits: the same maths as PyTorch's
Sigmoid + BCELoss, without the saturation. An exponential moving average of G's
weights (nn/ema.py; --no-ema to leave it out) draws the sample grids; it never
changes training.

A run folder (``--out``) gets: samples/epoch_NNN.png (an 8x8 grid of one
fixed noise batch, at step 0 and after every epoch), progress.gif,
losses.png, metrics.csv and checkpoint.npz (written atomically; everything
needed to resume exactly). This file is the story of a run, top to bottom:
the Trainer and its step, then the training loop; ``main`` hands the command
line to gan/commands.py. The parts around it are in gan/, one idea per file:
the models, the run folder and what is written in it, checkpoints, what a run
reports as it trains, Ctrl-C and SIGTERM, the data meeting the config,
per-class runs, quality, generate and evaluate, the commands, the command
line and its flags.
"""
import sys

from gan.signals import quiet_start   # the standard library only: installed before NumPy loads

if __name__ == "__main__":             # Ctrl-C and SIGTERM during the imports: one line
    quiet_start(train=sys.argv[1:2] not in (["generate"], ["evaluate"], ["doctor"]))

import dataclasses  # noqa: E402 (after the handlers above, on purpose)

import numpy as np

from gan import commands, quality
from gan.checkpoint import load_trainer_state
from gan.data import fit_to_data, load_training_data, planned_steps
from gan.models import build_models, first_weighted_layer, grid_noise, layer_library, sample, with_labels
from gan.pictures import to_model_range
from gan.report import EpochLog
from gan.run_folder import open_run
from nn import backend, frozen


# --------------------------------------------------------------------------- the trainer

class Trainer:
    """Holds the models, optimisers and the position in the data; one ``step`` is one D and one G update."""

    def __init__(self, cfg, images, labels=None, layers=None):
        if cfg.instance_noise_steps is None:                 # a new run: the noise fades over its planned length
            cfg = dataclasses.replace(cfg, instance_noise_steps=planned_steps(cfg, len(images)))
        self.cfg = cfg
        self.images = images
        self.labels = labels
        self.n_classes = cfg.n_classes         # > 0: a conditional DCGAN
        layers = self.layers = layers or layer_library()      # nn (readable) or nn.fast: --layers
        self.G, self.D = build_models(cfg, layers)
        betas = (cfg.beta1, 0.999)
        self.opt_G = layers.Adam(self.G, lr=cfg.lr, betas=betas)
        self.opt_D = layers.Adam(self.D, lr=cfg.lr, betas=betas)
        self.bce = layers.BCEWithLogits()
        first_weighted_layer(self.G).needs_input_grad = False     # nobody needs dloss/dz: skip that GEMM
        self.D.layers[0].needs_input_grad = False                # nor d/dimage, but while G trains: nn.frozen
        self.G_avg = self.ema = None          # --ema: an average of G's weights that samples, never trains
        if cfg.ema:
            with backend.preserved_rng():     # the copy's initial draws are overwritten: training is unchanged
                self.G_avg, _ = build_models(cfg, layers)
            self.ema = layers.EMA(self.G, self.G_avg, cfg.ema)
        self.step_count = 0
        self.epoch = 0                        # epochs completed
        self.batch_index = 0                  # position inside the current epoch
        self.order = None                     # this epoch's permutation of the data
        self.last_losses = None               # (loss_d, loss_g, D(x), D(G(z))) of the last metrics row
        # one fixed noise batch for the sample grids, independent of the training draws;
        # conditional: 8 per class, one row per class
        k = self.n_classes
        self.fixed_labels = np.repeat(np.arange(k), 8) if k else None
        self.fixed_noise = grid_noise(cfg, 8 * k if k else 64)

    @property
    def batches_per_epoch(self):
        return len(self.images) // self.cfg.batch_size    # the last partial batch is dropped

    @property
    def steps_into_epoch(self):
        """Steps done of the epoch under way: 0 at an epoch's end (``batch_index`` stays at the end until
        the next batch is drawn)."""
        return self.batch_index % max(self.batches_per_epoch, 1)

    def next_batch(self):
        if self.order is None or self.batch_index >= self.batches_per_epoch:
            self.order = backend.rng().permutation(len(self.images))
            self.batch_index = 0
        b = self.cfg.batch_size
        idx = np.sort(self.order[self.batch_index * b:(self.batch_index + 1) * b])
        self.batch_index += 1
        labels = self.labels[idx] if self.n_classes else None
        return to_model_range(self.images[idx]), labels

    # -- the variants enter the step here ------------------------------------
    def latent(self, n):
        """G's input: z ~ N(0, I), (n, nz, 1, 1); conditional: a random class per sample, as label
        channels beside z. Returns (z, the classes or None)."""
        z = backend.randn((n, self.cfg.nz, 1, 1))
        if not self.n_classes:
            return z, None
        classes = backend.rng().integers(0, self.n_classes, n)
        return with_labels(z, classes, self.n_classes), classes

    def noise_sigma(self):
        """Instance noise: its std starts at --instance-noise and falls linearly to 0 over the steps the
        run was to take when it began (``instance_noise_steps``: a later --epochs does not raise it again)."""
        sigma = self.cfg.instance_noise
        if not sigma:
            return 0.0
        return sigma * max(0.0, 1.0 - self.step_count / self.cfg.instance_noise_steps)

    def d_input(self, images, labels):
        """What D sees: the images, plus instance noise, plus label channels (conditional)."""
        sigma = self.noise_sigma()
        if sigma > 0:
            images = images + backend.randn(tuple(images.shape), std=sigma)
        if labels is not None:
            images = with_labels(images, labels, self.n_classes)
        return images

    def g_part(self, d_input_grad):
        """G's share of the gradient of D's input: conditional, the label channels are not G's."""
        return d_input_grad[:, :self.cfg.nc, :, :] if self.n_classes else d_input_grad

    @property
    def sampler(self):
        """The generator that draws grids and scores: the averaged one with --ema, else G."""
        return self.G_avg if self.G_avg is not None else self.G

    def grid_images(self):
        return sample(self.sampler, self.fixed_noise, labels=self.fixed_labels, n_classes=self.n_classes)

    # -- one step --------------------------------------------------------------
    def step(self, real, labels=None):
        """One D update and one G update, as in PyTorch's DCGAN example. Returns device scalars
        (loss_D, loss_G, D(x), D(G(z))). The variants enter through ``latent``, ``d_input`` and ``g_part``."""
        G, D, bce = self.G, self.D, self.bce

        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        D.zero_grad()
        logits_real = D.forward(self.d_input(real, labels))
        loss_real, dlogits = bce(logits_real, self.cfg.real_label)
        D.backward(dlogits)                                         # D's first layer skips d/dimage
        z, fake_labels = self.latent(real.shape[0])
        fake = self.d_input(G.forward(z), fake_labels)              # G(z), as D sees it
        logits_fake = D.forward(fake)
        loss_fake, dlogits = bce(logits_fake, 0.0)
        D.backward(dlogits)                                         # gradients add up; none reach G
        self.opt_D.step()

        # (2) Update G network: maximize log(D(G(z)))
        G.zero_grad()
        with frozen(D):                                             # through the updated D, not training it
            loss_g, dlogits = bce(D.forward(fake), 1.0)
            G.backward(self.g_part(D.backward(dlogits)))
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update()                                       # the averaged G follows G

        self.step_count += 1
        return self.statistics(loss_real + loss_fake, loss_g, logits_real, logits_fake)

    def statistics(self, loss_d, loss_g, logits_real, logits_fake):
        """The step's (loss_D, loss_G, D(x), D(G(z))) as one device array: no host transfer here."""
        xp = backend.xp()
        d_x, d_g_z = xp.mean(self.layers.sigmoid(logits_real)), xp.mean(self.layers.sigmoid(logits_fake))
        return xp.stack([loss_d, loss_g, d_x, d_g_z])


# --------------------------------------------------------------------------- the training loop

def train(cfg, resume_state=None, progress=True, data=None, class_filter=None, run_root=None, overwrite=False):
    """The training loop: for each epoch, for each batch, step and log; then save. Returns the Trainer.

    ``data``: (images, labels) already loaded; ``class_filter``: train on that class only,
    ``run_root``: the --per-class run folder it belongs to (the per-class driver passes all three).
    A new run (no ``resume_state``) refuses a folder that holds a run unless ``overwrite``, and replaces
    that run only once everything it needs is loaded and checked: a run that cannot start changes nothing.
    """
    with open_run(cfg.out, resume_state is None, overwrite, run_root) as run:       # locked, checked
        trainer, score_samples = start_trainer(cfg, resume_state, data, class_filter, run.checkpoint)
        with run.training(trainer):                     # stop signals; opening and closing lines
            while run.goes_on(trainer):                 # epochs left, --max-steps not reached, no stop asked
                log = EpochLog(trainer, run, progress, score_samples)
                while run.steps_on(trainer) and not log.epoch_done:
                    log.add(trainer.step(*trainer.next_batch()))    # a metrics.csv row every --log-every steps
                log.close()                             # the last row; a completed epoch's summary line
                run.save(trainer)                       # the checkpoint first, then the grid, GIF, plot
        return trainer


def start_trainer(cfg, resume_state, data, class_filter, checkpoint):
    """Everything a run needs before its first step, loaded and checked: the data, the Trainer (from
    ``resume_state`` when resuming), the scorer of --eval-every. Returns (trainer, score_samples or None)."""
    backend.seed(cfg.seed)
    images, labels = data if data is not None else load_training_data(cfg)
    if class_filter is not None:                          # one class of a --per-class run
        keep = labels == class_filter
        images, labels = images[keep], labels[keep]
    trainer_class = getattr(layer_library(), "Trainer", Trainer)   # --layers DIR may hold your own step
    trainer = trainer_class(fit_to_data(cfg, images, labels), images, labels)
    score_samples = sample_scorer(trainer) if cfg.eval_every else None
    if resume_state is not None:
        load_trainer_state(trainer, resume_state, checkpoint)
    return trainer, score_samples


def sample_scorer(trainer):
    """--eval-every: a function scoring --eval-n samples of the trainer's sampler, from noise of its own."""
    cfg = trainer.cfg
    scorer = quality.make_scorer(quality.load_classifier(cfg.classifier), cfg.dataset, cfg.data_dir,
                                 cfg.image_size, cfg.nc, cfg.eval_n)
    eval_rng = np.random.default_rng(cfg.seed + 2)                   # its own generator: training is unchanged
    eval_noise = eval_rng.standard_normal((cfg.eval_n, cfg.nz, 1, 1)).astype(np.float32)
    eval_labels = eval_rng.integers(0, trainer.n_classes, cfg.eval_n) if trainer.n_classes else None
    return lambda: scorer(sample(trainer.sampler, eval_noise, labels=eval_labels, n_classes=trainer.n_classes))


# --------------------------------------------------------------------------- the commands

def main(argv=None):
    """``python dcgan.py [train] ...``, ``generate ...``, ``evaluate ...`` (gan/commands.py); the exit code."""
    return commands.main(sys.argv[1:] if argv is None else list(argv), train)


if __name__ == "__main__":
    sys.exit(main())
