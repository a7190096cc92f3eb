"""Everyday use: a run says what it will do and what it did; PyTorch's flag spellings work."""
import os

import numpy as np
import pytest

import dcgan
from gan import cli

TINY = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--image-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def folder(noise_folder, tmp_path_factory):
    """The first 16 of the noise images: 2 steps per epoch at batch 8."""
    import shutil
    root = tmp_path_factory.mktemp("sixteen")
    for name in sorted(os.listdir(noise_folder))[:16]:
        shutil.copy(os.path.join(noise_folder, name), root / name)
    return str(root)


def test_resume_goes_to_the_runs_own_target_and_says_where(folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert dcgan.main(["--dataset", "folder", "--data-dir", folder, "--out", str(out), "--epochs", "2",
                       "--max-steps", "3", *TINY]) == 0
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--no-progress"]) == 0          # no --epochs: the run's own 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1] == "resuming at step 3 (1 of 2 epochs done, 1 steps into epoch 2); training to epoch 2"
    assert lines[-1].startswith("finished: step 4 (2 of 2 epochs)") and "continue with" not in lines[-1]
    assert lines[-1].endswith(f"; to train more: python dcgan.py --resume {out} --epochs N, N above 2 (the total)")
    assert dcgan.main(["--resume", str(out), "--no-progress"]) == 0
    assert "has already trained 2 of its 2 epochs" in capsys.readouterr().out


def test_every_end_of_training_prints_one_closing_line(folder, tmp_path, capsys):
    assert dcgan.main(["--dataset", "folder", "--data-dir", folder, "--out", str(tmp_path / "r"), "--epochs", "1",
                       *TINY]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("finished: step 2 (1 of 1 epochs), 2 steps in ")
    assert "last losses D " in last and f"checkpoint {tmp_path / 'r' / 'checkpoint.npz'}" in last
    assert f"grid {tmp_path / 'r' / 'samples' / 'epoch_001.png'}" in last and "progress.gif" in last


def test_pytorch_examples_flag_spellings(folder, tmp_path):
    assert cli.pytorch_spellings(["--batchSize", "64", "--imageSize=64", "--cuda", "--niter", "3"]) == \
        ["--batch-size", "64", "--image-size=64", "--backend=cupy", "--epochs", "3"]
    assert dcgan.main(["--dataset", "folder", "--dataroot", folder, "--outf", str(tmp_path / "p"), "--niter", "1",
                       "--manualSeed", "3", "--batchSize", "8", "--imageSize", "32", "--nz", "8", "--ngf", "4",
                       "--ndf", "4", "--no-progress"]) == 0
    with np.load(tmp_path / "p" / "checkpoint.npz") as f:
        assert '"seed": 3' in str(f["config"]) and '"batch_size": 8' in str(f["config"])


def test_help_speaks_of_variants_not_of_seeds(capsys):
    with pytest.raises(SystemExit):
        dcgan.main(["--help"])
    text = capsys.readouterr().out
    assert "seed 002" not in text and "seeds 002" not in text
    assert "--batchSize" not in text                       # the PyTorch spellings stay out of --help
