"""Train the small CNN that scores generated images (quality.py), with nn/ and Adam only.

    python -m examples.train_classifier --dataset fashion-mnist \\
        --data-dir /usr/share/datasets/fashion-mnist --out classifier-fashion.npz

Trains on the training split, reports the test split's accuracy after every
epoch, saves the model (.npz, written atomically) and prints the test
accuracy as its last line: ``test accuracy 0.9123``. Then
``python dcgan.py evaluate --classifier classifier-fashion.npz ...`` uses it.
"""
import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the examples from the repository root as modules: python -m examples.train_classifier ...")

import datasets
import nn
from gan import cli, pictures, quality, writing
from gan.errors import UserError
from nn import backend


def accuracy(model, images, labels):
    model.eval()
    _, probs = quality.classify(model, images)
    model.train()
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def parser():
    p = argparse.ArgumentParser(prog="python -m examples.train_classifier", formatter_class=cli.HelpFormatter,
                                description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="the data to classify")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's files (else download)")
    p.add_argument("--out", required=True, help="where to save the classifier (.npz; missing folders are created)")
    p.add_argument("--overwrite", action="store_true", help="replace the classifier already at --out")
    p.add_argument("--epochs", type=cli.positive_int, default=4, help="passes over the training split")
    p.add_argument("--batch-size", type=cli.positive_int, default=128, help="images per Adam step")
    p.add_argument("--lr", type=cli.positive_float, default=1e-3, help="Adam learning rate")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="array backend")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation and batch order")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=cli.positive_int, default=None, help="use only this many training images")
    return p


def run(args):
    writing.output_file(args.out)                  # a bad --out is one line now, not after the training
    if os.path.exists(args.out) and not args.overwrite:
        raise UserError(f"--out {args.out} already holds a file: choose another --out, or pass --overwrite "
                        "to replace it once the new classifier is trained")
    cli.use_backend(args.backend)
    backend.seed(args.seed)
    x_train, y_train = datasets.load_dataset(args.dataset, data_dir=args.data_dir, split="train")
    x_test, y_test = datasets.load_dataset(args.dataset, data_dir=args.data_dir, split="test")
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    model = quality.Classifier(nc=x_train.shape[1], n_classes=10, image_size=x_train.shape[2])
    print(f"{args.dataset}: {len(x_train)} training, {len(x_test)} test images; "
          f"{model.num_parameters():,} parameters; backend {args.backend}")
    train(model, x_train, y_train, x_test, y_test, args)
    acc = accuracy(model, x_test, y_test)
    save(args.out, model, {"dataset": args.dataset, "nc": int(x_train.shape[1]), "image_size": int(x_train.shape[2]),
                           "n_classes": 10, "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None,
                           "test_accuracy": acc, "epochs": args.epochs})
    print(f"saved {args.out}")
    print(f"test accuracy {acc:.4f}")


def train(model, x_train, y_train, x_test, y_test, args):
    """--epochs of Adam on the training split; the test accuracy after each."""
    opt = nn.Adam(model, lr=args.lr)
    loss_fn = nn.SoftmaxCrossEntropy()
    b = min(args.batch_size, len(x_train))
    steps = len(x_train) // b
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = backend.rng().permutation(len(x_train))
        total = 0.0
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{args.epochs}", unit="step", leave=False,
                   disable=args.no_progress, dynamic_ncols=True)
        for s in range(steps):
            idx = np.sort(order[s * b:(s + 1) * b])
            model.zero_grad()
            loss, grad = loss_fn(model.forward(pictures.to_model_range(x_train[idx])), backend.to_device(y_train[idx]))
            model.backward(grad)
            opt.step()
            total += float(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{total / (s + 1):.3f}", refresh=False)
        bar.close()
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}/{args.epochs}  train loss {total / steps:.4f}  test accuracy {acc:.4f}  "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


def save(path, model, meta):
    """The classifier file, written atomically (its dataset recorded, so evaluate can say when samples differ)."""
    quality.save_classifier(path, model, meta, f"nothing was written there, and the classifier just trained "
                                               f"(test accuracy {meta['test_accuracy']:.4f}) is lost: free some "
                                               "space, run again")


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
