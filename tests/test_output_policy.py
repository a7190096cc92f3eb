"""The one output policy (gan/writing.py, docs/protection.md): never onto an input; an existing output only with
--overwrite, and only what the program itself wrote; one writer at a time; whole or not at all.

Each case checks the exit code, the one line, and the bytes of what must not change.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dcgan
from gan import writing

from tests.conftest import one_line_error, train_tiny as train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def snapshot(folder):
    return {name: digest(os.path.join(folder, name)) for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}


@pytest.fixture(scope="module")
def run(noise_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert train(noise_folder, out, "--epochs", "1") == 0
    return out


def generate(run, out, *flags):
    return dcgan.main(["generate", "--checkpoint", str(run), "--out", str(out), *flags])


# ------------------------------------------------------------------------------------ never onto an input

@pytest.mark.parametrize("target", ["checkpoint", "checkpoint file", "classifier", "samples"])
def test_evaluate_json_never_writes_onto_an_input(run, tiny_classifier, no_checksums, tmp_path, capsys, target):
    """It said "wrote runs/x/checkpoint.npz", exited 0, and the trained model was gone."""
    samples = tmp_path / "samples.npy"
    np.save(samples, np.zeros((4, 1, 32, 32), np.float32))
    source = ["--samples", str(samples)] if target == "samples" else ["--checkpoint", str(run), "--n", "20"]
    json_path = {"checkpoint": run / "checkpoint.npz", "checkpoint file": run / "checkpoint.npz",
                 "classifier": tiny_classifier, "samples": samples}[target]
    if target == "checkpoint file":
        source = ["--checkpoint", str(run / "checkpoint.npz"), "--n", "20"]
    before = digest(json_path)
    capsys.readouterr()
    assert dcgan.main(["evaluate", *source, "--classifier", tiny_classifier, "--json", str(json_path)]) == 1
    one_line_error(capsys, f"--json {json_path} is one of this command's inputs", "choose another --json")
    assert digest(json_path) == before


def test_evaluate_json_replaces_only_its_own_result_and_only_with_overwrite(tiny_classifier, no_checksums,
                                                                             tmp_path, capsys):
    samples, result = tmp_path / "samples.npy", tmp_path / "result.json"
    np.save(samples, np.random.default_rng(0).uniform(-1, 1, (20, 1, 32, 32)).astype(np.float32))
    flags = ["evaluate", "--samples", str(samples), "--classifier", tiny_classifier, "--json", str(result)]
    assert dcgan.main(flags) == 0
    first = digest(result)
    capsys.readouterr()
    assert dcgan.main(flags) == 1
    one_line_error(capsys, "already holds an earlier evaluate's result", "--overwrite")
    assert digest(result) == first
    np.save(samples, np.random.default_rng(1).uniform(-1, 1, (30, 1, 32, 32)).astype(np.float32))
    assert dcgan.main([*flags, "--overwrite"]) == 0
    assert json.loads(result.read_text())["n"] == 30
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    capsys.readouterr()
    assert dcgan.main([*flags[:-1], str(notes), "--overwrite"]) == 1
    one_line_error(capsys, f"--json {notes} already exists and is not an earlier evaluate's result")
    assert notes.read_text() == '{"mine": 1}'
    assert dcgan.main(flags[:-2] + ["--overwrite"]) == 1
    one_line_error(capsys, "--overwrite is for --json")


# ------------------------------------------------------------------------- --overwrite: only what it wrote

def test_generate_overwrite_never_removes_files_it_did_not_write(run, tmp_path, capsys):
    """mkdir photos with two PNGs of the user's; generate --out photos --overwrite deleted both, as "an
    earlier generate's 2 images"."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("00000.png", "holiday.png"):
        (photos / name).write_bytes(b"\x89PNG mine")
    before = snapshot(photos)
    for flags in ([], ["--overwrite"]):
        capsys.readouterr()
        assert generate(run, photos, "--n", "4", *flags) == 1
        one_line_error(capsys, f"{photos} holds files generate did not write (00000.png, holiday.png)",
                       "choose a new or empty --out")
        assert snapshot(photos) == before


def test_generate_overwrite_replaces_exactly_what_the_earlier_generate_listed(run, tmp_path, capsys):
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "6") == 0
    listed = json.loads((out / "generated.json").read_text())["files"]
    assert sorted(listed) == sorted(n for n in os.listdir(out) if not n.startswith("."))
    (out / "mine.txt").write_text("a note of mine, put there later")
    capsys.readouterr()
    assert generate(run, out, "--n", "2", "--overwrite") == 1
    one_line_error(capsys, "holds files generate did not write (mine.txt)")
    os.remove(out / "mine.txt")
    assert generate(run, out, "--n", "2", "--overwrite") == 0
    assert sorted(n for n in os.listdir(out) if n.endswith(".png") and n[0].isdigit()) == ["00000.png", "00001.png"]


# ------------------------------------------------------------------------------- one writer at a time

def test_a_second_generate_into_a_folder_in_use_is_refused(run, tmp_path, capsys):
    out = tmp_path / "gen"
    out.mkdir()
    with writing.FolderLock(str(out)):
        assert generate(run, out, "--n", "4") == 1
    one_line_error(capsys, f"--out {out} is in use by process {os.getpid()}", "wait for it to finish")
    assert [n for n in os.listdir(out) if not n.startswith(".")] == []


def test_a_single_file_written_meanwhile_by_another_program_is_never_replaced(tmp_path):
    """Two writers race for a new name: the second finds the first's file at the end and leaves it."""
    path = tmp_path / "out.json"

    def write(tmp):
        path.write_text("the other program's")                   # it wins while this one is still writing
        writing.write_json(tmp, {"mine": 1})

    with pytest.raises(writing.UserError, match="appeared while this program ran"):
        writing.write_atomically(str(path), write, replace=False)
    assert path.read_text() == "the other program's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]           # no temp file left


# -------------------------------------------------------------------------------- whole or not at all

def test_sigterm_during_generate_is_one_line_and_leaves_nothing_half_written(run, tmp_path):
    out = tmp_path / "gen"
    proc = subprocess.Popen([sys.executable, "dcgan.py", "generate", "--checkpoint", str(run), "--n", "20000",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(n.startswith(".staging-") for n in os.listdir(out))):
        time.sleep(0.05)
    time.sleep(0.3)                                                       # well into writing the PNGs
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == "stopped by SIGTERM: nothing was written (what was half-written is removed)\n", err
    assert not out.exists()                                    # it created --out, and removed it again


def test_generate_overwrite_replaces_only_names_generate_writes(run, tmp_path, capsys):
    """A generated.json that lists a file of yours (mynotes.txt) does not make it generate's: it is kept, and
    the folder is refused as holding something else."""
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "3") == 0
    about = json.loads((out / "generated.json").read_text())
    about["files"].append("mynotes.txt")
    (out / "generated.json").write_text(json.dumps(about))
    (out / "mynotes.txt").write_text("mine")
    capsys.readouterr()
    assert generate(run, out, "--n", "3", "--overwrite") == 1
    one_line_error(capsys, "holds files generate did not write (mynotes.txt)")
    assert (out / "mynotes.txt").read_text() == "mine"


def test_generate_refuses_a_folder_where_one_of_its_files_should_be(run, tmp_path, capsys):
    """00005.png made a folder: it was a traceback, and --out was left half old, half new."""
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "10") == 0
    before = snapshot(out)
    os.remove(out / "00005.png")
    os.mkdir(out / "00005.png")
    del before["00005.png"]
    capsys.readouterr()
    assert generate(run, out, "--n", "10", "--overwrite", "--seed", "7") == 1
    one_line_error(capsys, "holds files generate did not write (00005.png)")
    assert snapshot(out) == before


@pytest.mark.parametrize("content", ["{not json", '{"files": 123}', "[1, 2]"])
def test_a_damaged_generated_json_is_one_line_and_nothing_is_replaced(run, tmp_path, capsys, content):
    out = tmp_path / "gen"
    assert generate(run, out, "--n", "3") == 0
    (out / "generated.json").write_text(content)
    before = snapshot(out)
    capsys.readouterr()
    assert generate(run, out, "--n", "3", "--overwrite") == 1
    one_line_error(capsys, "generated.json", "nothing there is replaced")
    assert snapshot(out) == before
