"""Does a classifier's Frechet distance rank real images above weak ones and noise? A check of a classifier.

    python -m benchmarks.fcd_ranking --classifier runs/classifier-fashion.npz \\
        --data-dir /usr/share/datasets/fashion-mnist

The Frechet classifier distance (gan/quality.py) is only as good as the
classifier whose features it compares. This scores four sets of --n images
against the real test images, as ``dcgan.py evaluate`` scores samples: real
training images (what a perfect generator would score), the same images
blurred (a 3x3 box blur, twice: the blurry samples of an early generator),
images of one class only (a collapsed generator), and uniform noise. A
classifier worth trusting ranks real first and noise behind the blurred
images: real < blurred < noise, and real < one class; the last line says
whether it does. (Where one class falls against noise is not part of it:
noise, too, lands in one or two classes, and the smaller classifiers put it
on either side.)
"""
import sys

if __package__ in (None, ""):          # run as a file: the project's packages are not on the path
    sys.exit("error: run the benchmarks from the repository root as modules: python -m benchmarks.fcd_ranking ...")

import numpy as np

import datasets
from gan import cli, quality


def parser():
    p = cli.command_parser("python -m benchmarks.fcd_ranking", __doc__.splitlines()[0])
    p.add_argument("--classifier", required=True, type=cli.path_text,
                   help="a classifier .npz from examples/train_classifier.py")
    p.add_argument("--dataset", default="fashion-mnist", choices=["mnist", "fashion-mnist"],
                   help="the classifier's data set")
    p.add_argument("--data-dir", required=True, type=cli.path_text, help="folder with the dataset's files")
    p.add_argument("--n", type=cli.positive_int, default=2000, help="images per set")
    return p


def main(argv=None):
    return cli.run_command(run, parser().parse_args(argv))


def blurred(images, times=2):
    """A 3x3 box blur (edges repeated), ``times`` times; uint8 in and out."""
    x = images.astype(np.float32)
    h, w = x.shape[2:]
    for _ in range(times):
        p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        x = sum(p[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def run(args):
    classifier = quality.load_classifier(args.classifier)
    meta = classifier[1]
    scorer = quality.make_scorer(classifier, args.dataset, args.data_dir, meta["image_size"], meta["nc"], args.n)
    train, labels = datasets.load_dataset(args.dataset, data_dir=args.data_dir, image_size=meta["image_size"],
                                          split="train")
    rng = np.random.default_rng(1)
    real = train[np.sort(rng.permutation(len(train))[-args.n:])]      # a draw of their own, as samples would be
    sets = {"real (other training images)": real, "blurred real": blurred(real),
            "one class only": train[np.flatnonzero(labels == 0)[:args.n]],
            "uniform noise": rng.integers(0, 256, real.shape, dtype=np.uint8)}
    fcd = {}
    print(f"classifier {args.classifier} (test accuracy {meta.get('test_accuracy', float('nan')):.4f}); "
          f"{args.n} images per set")
    for name, images in sets.items():
        result = scorer(images)
        fcd[name] = result["fcd"]
        print(f"{name:30s} FCD {result['fcd']:9.2f}   classes with >= 5%: {result['classes_covered']}")
    real_fcd, blur, one, noise = fcd.values()
    holds = real_fcd < blur < noise and real_fcd < one
    print(f"ranking real < blurred < noise and real < one class: {'holds' if holds else 'does NOT hold'}")


if __name__ == "__main__":
    sys.exit(main())
