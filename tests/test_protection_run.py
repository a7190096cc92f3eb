"""What is protected, round 2 (issue 21): a training run that cannot start changes nothing, flags are never
silently ignored, a diverged model is never saved, and the lines a run prints say what is true.

Each test names the case of issue 21 it holds.
"""
import os

import pytest

import dcgan

from tests.conftest import TINY_FLAGS as TINY


@pytest.fixture(scope="module")
def folder(noise_folder):
    return noise_folder                              # 24 noise PNGs: 3 steps per epoch at batch 8


# ---------------------------------------------------------------------------- 8: no flag ignored without a word

@pytest.mark.parametrize("flag", ["--out", "--resume", "--data-dir", "--classifier"])
def test_8_an_empty_path_is_refused(folder, tmp_path, monkeypatch, capsys, flag):
    monkeypatch.chdir(tmp_path)                          # where runs/ would appear
    args = {"--out": str(tmp_path / "run"), "--data-dir": folder, flag: ""}
    with pytest.raises(SystemExit) as stop:
        dcgan.main(["--dataset", "folder", *TINY, "--max-steps", "1", *[x for kv in args.items() for x in kv]])
    assert stop.value.code == 2
    assert f"argument {flag}: must not be empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
