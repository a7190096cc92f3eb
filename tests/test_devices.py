"""The whole program on every device namespace a CPU can stand in for: training, resume, --eval-every,
generate and evaluate, with ``--backend cupy`` meaning

* ``array_api_strict``: the array API and nothing more. A NumPy function applied
  to a device array, or a host array indexed with a device array, fails here
  as it would on a GPU;
* NumPy cut down to the names of a real CuPy release (the oldest supported and
  the newest; see ``cupy_standin.py`` for what that proves and what it cannot).

On ``--backend cupy`` the models are built from ``nn.fast`` (what a GPU runs), on NumPy from ``nn``:
each must give the weights, images and scores the NumPy backend gives.
"""
import json

import numpy as np
import pytest

import dcgan
from nn import backend
from tests import cupy_standin
from tests.conftest import CUPY_RELEASES

TINY = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--no-progress", "--log-every", "3"]


def _namespaces():
    import array_api_strict
    yield "array_api_strict", array_api_strict
    for label, names in CUPY_RELEASES.items():
        yield label, cupy_standin.numpy_as_cupy(names)


NAMESPACES = dict(_namespaces())


def _checkpoint_arrays(run):
    with np.load(run / "checkpoint.npz") as f:
        return {k: f[k] for k in f.files if k.startswith(("G/", "D/", "opt_G/", "opt_D/"))}


VARIANTS = {"plain": [], "conditional": ["--conditional", "--instance-noise", "0.1", "--label-smoothing"]}


def _program(backend_name, tiny_mnist, tiny_classifier, out, variant):
    """Train 1 epoch, resume to 2 with --eval-every, generate, evaluate. Returns what came out."""
    data = ["--dataset", "mnist", "--data-dir", tiny_mnist, *VARIANTS[variant]]
    assert dcgan.main([*data, "--backend", backend_name, "--out", str(out / "run"), "--epochs", "1", *TINY]) == 0
    assert dcgan.main(["--resume", str(out / "run"), "--backend", backend_name, "--epochs", "2",
                       "--classifier", tiny_classifier, "--eval-every", "1", "--eval-n", "16", "--no-progress"]) == 0
    ckpt = str(out / "run" / "checkpoint.npz")
    assert dcgan.main(["generate", "--checkpoint", ckpt, "--n", "12", "--out", str(out / "gen"),
                       "--backend", backend_name]) == 0
    assert dcgan.main(["evaluate", "--checkpoint", ckpt, "--n", "24", "--classifier", tiny_classifier,
                       "--backend", backend_name, "--json", str(out / "quality.json")]) == 0
    with open(out / "quality.json") as f:
        scores = json.load(f)
    return _checkpoint_arrays(out / "run"), np.load(out / "gen" / "samples.npy"), scores


@pytest.fixture(scope="module", params=list(VARIANTS))
def numpy_program(request, tiny_mnist, tiny_classifier, tmp_path_factory, module_no_checksums):
    variant = request.param
    return variant, _program("numpy", tiny_mnist, tiny_classifier, tmp_path_factory.mktemp("numpy"), variant)


@pytest.mark.parametrize("label", list(NAMESPACES))
def test_the_whole_program_on_a_device_namespace(label, numpy_program, tiny_mnist, tiny_classifier, tmp_path,
                                                  module_no_checksums, capsys):
    variant, reference = numpy_program
    with backend.stand_in("cupy", NAMESPACES[label]):
        got = _program("cupy", tiny_mnist, tiny_classifier, tmp_path, variant)
    err = capsys.readouterr().err
    assert "error" not in err, err
    weights, images, scores = got
    ref_weights, ref_images, ref_scores = reference
    assert weights.keys() == ref_weights.keys()
    for k in ref_weights:
        np.testing.assert_allclose(weights[k], ref_weights[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(images, ref_images, atol=1e-5)
    assert scores["fcd"] == pytest.approx(ref_scores["fcd"], rel=1e-3, abs=1e-3)
