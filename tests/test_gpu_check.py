"""benchmarks/gpu_check.sh, run on the CPU: every step it will take on a GPU works and leaves its file, and
a second run into the same folder works too (it replaces its own results).

What cannot run here is the GPU itself (BACKEND=numpy instead of cupy, tiny sizes, no test suite
inside the test suite); the commands, flags, file names and the summary are the ones the GPU run uses.
"""
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "gpu_check.sh")


def test_gpu_check_script_runs_every_step_on_the_cpu(tiny_mnist, tmp_path):
    out = tmp_path / "check"
    env = dict(os.environ, BACKEND="numpy", PYTEST="0", OUT=str(out), DATA_DIR=tiny_mnist, EPOCHS="1",
               PYTHON=sys.executable,
               TRAIN_FLAGS="--nz 8 --ngf 4 --ndf 4 --batch-size 8 --max-steps 3",
               CLASSIFIER_FLAGS="--epochs 1 --batch-size 16", EVAL_FLAGS="--n 16",
               BENCH_FLAGS="--cases 32x64 --steps 1 --warmup 0")
    for attempt in ("first", "again, into the same folder (device time allows a second try)"):
        done = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (attempt, done.stderr)
        assert all("rc=0 " in line for line in (out / "summary.txt").read_text().splitlines()), attempt
    summary = (out / "summary.txt").read_text().splitlines()
    names = [line.split()[0] for line in summary]
    assert names == ["env", "train", "generate", "classifier", "evaluate", "bench", "bench_tf32", "bench_unfused"]
    failed = [line for line in summary if "rc=0 " not in line]
    assert not failed, "\n".join(failed) + "\n" + "\n".join(
        (out / f"{line.split()[0]}.txt").read_text()[-2000:] for line in failed)
    for path in ("run/checkpoint.npz", "run/losses.png", "generated/grid.png", "classifier.npz", "quality.json"):
        assert (out / path).exists(), path
    assert '"s_per_step"' in (out / "bench.txt").read_text()
    assert '"fused": false' in (out / "bench_unfused.txt").read_text()


def fake_python(tmp_path, failing):
    """A stand-in for python that succeeds at once, except for the steps named in ``failing``
    (dcgan.py's train, generate and evaluate, or a module run with -m)."""
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n"
                      'case "$1 $2" in\n' +
                      "".join(f'  "{step}") echo "{step} failed" >&2; exit 3;;\n' for step in failing) +
                      "esac\nexit 0\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("failing,names", [
    (["dcgan.py generate"], ["generate"]),
    (["dcgan.py --dataset", "-m benchmarks.bench_step"], ["train", "bench", "bench_tf32", "bench_unfused"]),
    ([], [])])
def test_gpu_check_exits_non_zero_and_names_the_failed_steps(tmp_path, failing, names):
    out = tmp_path / "check"
    env = dict(os.environ, BACKEND="numpy", PYTEST="0", OUT=str(out), PYTHON=fake_python(tmp_path, failing))
    done = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in summary] == ["env", "train", "generate", "classifier", "evaluate", "bench",
                                                     "bench_tf32", "bench_unfused"]
    assert [line.split()[0] for line in summary if "rc=0 " not in line] == names
    if names:
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines()[-1] == (f"error: {len(names)} of 8 steps failed: {', '.join(names)} "
                                                f"(their logs: {out}/NAME.txt; summary.txt has every step)")
    else:
        assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[-1] == f"results in {out}/ (summary.txt)"
