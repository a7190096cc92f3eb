"""Does averaging G's weights give better samples, and with which decay? Measured on one training run.

    python -m benchmarks.ema_study --data-dir /usr/share/datasets/fashion-mnist \\
        --classifier runs/classifier-fashion.npz --seed 0 --epochs 10 --out runs/ema-study-seed0

Training is the paper's and does not depend on the average (nn.EMA only reads
G's weights), so one run can follow several averages at once: every decay
in --decays, each with the warm-up d_t = min(decay, (1 + t) / (10 + t)) that
``--ema`` uses and without it (a plain constant decay from the initial
weights). After each epoch in --at it scores raw G and every average with
the Frechet classifier distance of ``dcgan.py evaluate`` (same classifier,
same --n samples from the same z for every generator, batch statistics), and
appends one JSON line per generator to OUT/results.jsonl.
"""
import argparse
import json
import os
import time

import numpy as np


import dcgan
import datasets
import nn
from gan import checkpoint, cli, models, quality
from gan.config import Config
from gan.data import fit_to_data
from nn import backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--classifier", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--at", default="1,3,10", help="score after these epochs")
    p.add_argument("--decays", default="0.99,0.999,0.9999")
    p.add_argument("--n", type=int, default=10000, help="samples scored per generator")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.use_backend("numpy")
    os.makedirs(args.out, exist_ok=True)
    cfg = Config(dataset=args.dataset, data_dir=os.path.abspath(args.data_dir), seed=args.seed,
                 epochs=args.epochs, out=args.out)          # dcgan.py's defaults otherwise: the paper's recipe
    backend.seed(cfg.seed)                                     # as dcgan.train() does
    images, labels = datasets.load_dataset(cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size)
    images, labels = images[:args.limit], labels[:args.limit]
    cfg = fit_to_data(cfg, images, labels)
    trainer = dcgan.Trainer(cfg, images, labels)
    averages = {}
    for decay in [float(d) for d in args.decays.split(",")]:
        for warm in (True, False):
            with backend.preserved_rng():                      # the copies must not shift training's draws
                G_avg, _ = models.build_models(cfg)
            ema = nn.EMA(trainer.G, G_avg, decay)
            if not warm:
                ema.current_decay = lambda e=ema: e.decay      # constant decay, from the initial weights
            averages[f"ema {decay} {'warm-up' if warm else 'constant'}"] = ema
    scorer = quality.make_scorer(quality.load_classifier(args.classifier), cfg.dataset, cfg.data_dir,
                                 cfg.image_size, cfg.nc, args.n)
    z = np.random.default_rng(0).standard_normal((args.n, cfg.nz, 1, 1)).astype(np.float32)   # as evaluate --seed 0
    at = {int(e) for e in args.at.split(",")}
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        for _ in range(trainer.batches_per_epoch):
            trainer.step(*trainer.next_batch())
            for ema in averages.values():
                ema.update()
        trainer.epoch = epoch
        print(f"epoch {epoch}: step {trainer.step_count}, {time.perf_counter() - t0:.0f} s", flush=True)
        if epoch not in at:
            continue
        generators = {"raw G": trainer.G, **{k: e.average for k, e in averages.items()}}
        for name, G in generators.items():
            result = scorer(models.sample(G, z))
            row = {"seed": args.seed, "epoch": epoch, "step": trainer.step_count, "generator": name,
                   "fcd": round(result["fcd"], 3), "floor": round(result["fcd_real_floor"], 3),
                   "classes_covered": result["classes_covered"], "confidence": round(result["mean_confidence"], 3)}
            print(json.dumps(row), flush=True)
            with open(os.path.join(args.out, "results.jsonl"), "a") as f:
                f.write(json.dumps(row) + "\n")
            if epoch == args.epochs:                            # the final generators, for dcgan.py evaluate/generate
                state = checkpoint.trainer_state(trainer)
                state.update(checkpoint.prefixed("G", G.state_dict()))
                checkpoint.save_checkpoint(os.path.join(args.out, f"epoch{epoch:03d}-{name.replace(' ', '_')}.npz"), state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
