"""--ema in the trainer: training unchanged, the average checkpointed and resumed exactly, sampling uses it."""
import json

import numpy as np
import pytest

import dcgan
from gan import cli

from tests.conftest import train_tiny as train


@pytest.fixture(scope="module")
def folder(noise_folder):
    return noise_folder


def arrays(path, prefixes):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(prefixes)}


def test_ema_leaves_training_unchanged_and_checkpoints_the_average(folder, tmp_path, capsys):
    assert train(folder, tmp_path / "plain", "--max-steps", "5", "--no-ema") == 0
    assert train(folder, tmp_path / "ema", "--max-steps", "5", "--ema", "0.9") == 0
    plain = arrays(tmp_path / "plain/checkpoint.npz", ("G/", "D/", "opt_G/", "opt_D/"))
    ema = arrays(tmp_path / "ema/checkpoint.npz", ("G/", "D/", "opt_G/", "opt_D/", "G_avg/", "ema_t"))
    for k, v in plain.items():
        np.testing.assert_array_equal(ema[k], v, err_msg=k)
    assert int(ema["ema_t"]) == 5
    assert any(not np.array_equal(ema["G_avg/" + k[2:]], v) for k, v in plain.items() if k.startswith("G/"))
    assert "(averaged G)" in capsys.readouterr().out.strip().splitlines()[-1]


def test_ema_resume_is_exact(folder, tmp_path):
    assert train(folder, tmp_path / "straight", "--max-steps", "7", "--ema", "0.9") == 0
    assert train(folder, tmp_path / "split", "--max-steps", "3", "--ema", "0.9") == 0
    assert dcgan.main(["--resume", str(tmp_path / "split"), "--max-steps", "7", "--no-progress"]) == 0
    a = arrays(tmp_path / "straight/checkpoint.npz", ("G/", "D/", "G_avg/", "ema_t", "opt_G/"))
    b = arrays(tmp_path / "split/checkpoint.npz", ("G/", "D/", "G_avg/", "ema_t", "opt_G/"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_generate_uses_the_average_unless_asked_for_the_raw_weights(folder, tmp_path):
    assert train(folder, tmp_path / "run", "--max-steps", "4", "--ema", "0.9") == 0
    ckpt = str(tmp_path / "run/checkpoint.npz")
    for which in ("average", "raw"):
        assert dcgan.main(["generate", "--checkpoint", ckpt, "--n", "8", "--out", str(tmp_path / which),
                           "--generator", which]) == 0
    average, raw = (np.load(tmp_path / w / "samples.npy") for w in ("average", "raw"))
    assert not np.allclose(average, raw)
    assert train(folder, tmp_path / "plain", "--max-steps", "4", "--no-ema") == 0   # no average: both are G
    plain = str(tmp_path / "plain/checkpoint.npz")
    for which in ("average", "raw"):
        assert dcgan.main(["generate", "--checkpoint", plain, "--n", "8", "--out", str(tmp_path / ("p" + which)),
                           "--generator", which]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "paverage/samples.npy"), np.load(tmp_path / "praw/samples.npy"))


def test_the_average_is_the_default_for_new_runs_and_not_for_old_ones(folder, tmp_path):
    """Measured better on every seed (docs/usage.md), so new runs keep one; a checkpoint from before has none."""
    from gan.config import Config
    assert train(folder, tmp_path / "run", "--max-steps", "2") == 0
    with np.load(tmp_path / "run/checkpoint.npz") as f:
        assert Config.from_json(str(f["config"])).ema == cli.EMA_DECAY and "ema_t" in f.files
    from gan.checkpoint import config_from_json
    import dataclasses
    older = {k: v for k, v in dataclasses.asdict(Config()).items() if k != "ema"}
    assert config_from_json(json.dumps(older)).ema is None                 # an older run: no averaged generator
