"""The exercises (python -m exercises): every skeleton fails its check saying it is not written, every solution
passes, plausible bugs fail with the diagnosis a student needs, and training on the solutions (dcgan.py
--layers DIR) is the normal run, array for array. Everything is written into temporary folders.
"""
import inspect
import os

import numpy as np
import pytest

import dcgan
import nn
from exercises import __main__ as exercises_cli
from exercises.catalogue import BY_NAME, EXERCISES

from tests.conftest import TINY_FLAGS


def run(*argv):
    """python -m exercises ARGV in this process: its exit code."""
    try:
        return exercises_cli.main(list(argv))
    except SystemExit as stop:
        return stop.code


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solutions")
    for exercise in EXERCISES:
        assert run("start", exercise.name, "--dir", str(folder), "--solution") == 0
    return folder


def test_list_names_every_exercise_in_reading_order(capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    positions = [out.index(f" {exercise.name} ") for exercise in EXERCISES]
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", [exercise.name for exercise in EXERCISES])
def test_a_skeleton_fails_saying_it_is_not_written_and_the_solution_passes(name, solutions, tmp_path, capsys):
    assert run("start", name, "--dir", str(tmp_path)) == 0
    text = (tmp_path / f"{name}.py").read_text()
    for blank in BY_NAME[name].blanks:
        assert f'raise NotImplementedError("not written yet: {blank}")' in text
    capsys.readouterr()
    assert run("check", name, "--dir", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "FAILED: not written yet:" in out and out.rstrip().splitlines()[-1].startswith("FAILED:")
    assert run("check", name, "--dir", str(solutions)) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("passed: all")


def test_the_solution_is_nn_s_own_code_not_a_copy_kept_by_hand(solutions):
    """start reads nn/'s current source: the answer key holds each piece exactly as nn/ has it."""
    text = (solutions / "batchnorm.py").read_text()
    assert inspect.getsource(nn.BatchNorm.backward) in text
    assert inspect.getsource(nn.im2col.col2im) in (solutions / "im2col.py").read_text()


def test_start_never_replaces_a_students_file(tmp_path, capsys):
    assert run("start", "relu", "--dir", str(tmp_path)) == 0
    (tmp_path / "relu.py").write_text("# my work")
    capsys.readouterr()
    assert run("start", "relu", "--dir", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'relu.py'} already exists (your work is kept)") and "start over" in err
    assert (tmp_path / "relu.py").read_text() == "# my work"


@pytest.mark.parametrize("argv, says", [
    (["start", "batchnorn"], "no exercise 'batchnorn': one of relu, leaky_relu"),
    (["check", "relu", "--dir", "/nonexistent/dir"], "/nonexistent/dir/relu.py does not exist: python -m exercises "
                                                     "start relu --dir /nonexistent/dir"),
])
def test_bad_input_is_one_line(capsys, argv, says):
    assert run(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err


# (exercise, the text of nn/'s code, the bug, what check must say)
BUGS = [
    ("relu", "return dy * d", "return dy", "wrong values"),
    ("relu", "return dy * d", "return -dy * d", "the sign is flipped"),
    ("leaky_relu", "d = a + (1.0 - a) * is_positive(x)", "d = is_positive(x)", "FAILED"),
    ("leaky_relu", "return dy * d", "return dy * d * 2", "off by a constant factor: 2 times"),
    ("tanh", "return dy * (1.0 - y * y)", "return dy * (1.0 - y)", "wrong values"),
    ("tanh", "return dy * (1.0 - y * y)", "return dy * (y * y - 1.0)", "the sign is flipped"),
    ("sigmoid", "return dy * y * (1.0 - y)", "return dy * y", "wrong values"),
    ("sigmoid", "return dy * y * (1.0 - y)", "return -dy * y * (1.0 - y)", "the sign is flipped"),
    ("bce", "grad = (sigmoid(x) - target) / x.size", "grad = sigmoid(x) - target", "off by a constant factor"),
    ("bce", "xp.mean(xp.maximum(x, 0.0) - x * target + xp.log1p(xp.exp(-xp.abs(x))))",
     "xp.mean(-target * xp.log(sigmoid(x)) - (1 - target) * xp.log(1 - sigmoid(x)))", "it overflowed"),
    ("linear", "self.weight.accumulate(dy.T @ x)", "self.weight.accumulate(x.T @ dy)", "transposed"),
    ("linear", "self.bias.accumulate(xp.sum(dy, axis=0))", "self.bias.accumulate(xp.mean(dy, axis=0))",
     "off by a constant factor"),
    ("linear", "return dy @ self.weight.data", "return -dy @ self.weight.data", "dx is wrong"),
    ("im2col", "window += cols[:, i, j, :, :, :]", "window[...] = cols[:, i, j, :, :, :]",
     "overlapping windows must add (+=), not overwrite"),
    ("im2col", "cols[:, i, j, :, :, :] = xpad[:, :, i:i_end:stride, j:j_end:stride]",
     "cols[:, i, j, :, :, :] = xpad[:, :, j:j_end:stride, i:i_end:stride]", "other columns than nn's"),
    ("conv2d", "self.bias.accumulate(xp.sum(dy, axis=(0, 2, 3)))", "self.bias.accumulate(xp.sum(dy, axis=(0,)).sum())",
     "dbias"),
    ("conv2d", "dW = rows(dy) @ cols.T  ", "dW = -(rows(dy) @ cols.T)", "the sign is flipped"),
    ("conv_transpose2d", "dW = rows(x) @ cols.T  ", "dW = rows(x) @ cols.T / 2", "off by a constant factor: 0.5"),
    ("conv_transpose2d", "y = y + backend.xp().reshape(self.bias.data, (1, -1, 1, 1))", "y = y", "forward"),
    ("batchnorm", "return (g - mean(g) - xhat * mean(g * xhat)) / std", "return (g - mean(g)) / std",
     "it passes with dout = 1 but not with a random dout"),
    ("batchnorm", "return (g - mean(g) - xhat * mean(g * xhat)) / std", "return (g - xhat * mean(g * xhat)) / std",
     "only dx is wrong; dbias, dweight are right"),
    ("batchnorm", "self.weight.accumulate(xp.sum(dy * xhat, axis=self.axes))",
     "self.weight.accumulate(xp.sum(dy, axis=self.axes))", "dx is right; dweight wrong"),
    ("adam", "m_hat = m / (1 - b1 ** t)", "m_hat = m", "wrong at the first step: the bias correction"),
    ("adam", "m[...] = b1 * m + (1 - b1) * g", "m = b1 * m + (1 - b1) * g", "wrong from step 2"),
    ("ema", "a[...] = d * a + (1 - d) * w", "a = d * a + (1 - d) * w", "a = d a + (1 - d) w"),
    ("ema", "return min(self.decay, (1.0 + self.t) / (10.0 + self.t))", "return self.decay", "d_t = min(decay"),
    ("dcgan_step", "        G.zero_grad()\n", "        D.zero_grad()\n", "D's gradients after the step are not (1)'s"),
    ("dcgan_step", "loss_g, dlogits = bce(D.forward(fake), 1.0)", "loss_g, dlogits = bce(D.forward(fake), 0.0)",
     "G's update (2) differs"),
    ("dcgan_step", "        D.zero_grad()\n", "", "D's update (1) differs"),
    ("dcgan_step", "self.step_count += 1", "pass", "self.step_count += 1"),
]


@pytest.mark.parametrize("name, old, new, says", BUGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_a_plausible_bug_fails_with_its_diagnosis(name, old, new, says, solutions, tmp_path, capsys):
    text = (solutions / f"{name}.py").read_text()
    assert text.count(old) == 1, f"the bug no longer matches nn/'s code: {old!r}"
    (tmp_path / f"{name}.py").write_text(text.replace(old, new))
    assert run("check", name, "--dir", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert says in out, out
    assert out.rstrip().splitlines()[-1].startswith("FAILED:")


def test_a_students_exception_shows_its_traceback_in_their_file(solutions, tmp_path, capsys):
    text = (solutions / "linear.py").read_text().replace("return dy @ self.weight.data", "return dy @ self.wieght.data")
    (tmp_path / "linear.py").write_text(text)
    assert run("check", "linear", "--dir", str(tmp_path)) == 1
    captured = capsys.readouterr()
    assert f'File "{tmp_path / "linear.py"}"' in captured.err and "AttributeError" in captured.err
    assert "raised AttributeError" in captured.out


def test_training_on_the_solutions_is_the_normal_run_array_for_array(solutions, noise_folder, tmp_path, capsys):
    def train(out, *extra):
        assert dcgan.main(["--dataset", "folder", "--data-dir", noise_folder, "--out", str(out), *TINY_FLAGS,
                           "--max-steps", "3", *extra]) == 0
        with np.load(out / "checkpoint.npz") as f:
            return {k: f[k] for k in f.files if k not in ("config",)}

    theirs = train(tmp_path / "theirs", "--layers", str(solutions))
    assert f"layers {solutions} (yours: relu, leaky_relu" in capsys.readouterr().out
    ours = train(tmp_path / "ours", "--layers", "nn")
    assert sorted(theirs) == sorted(ours)
    for key in ours:
        np.testing.assert_array_equal(theirs[key], ours[key], err_msg=key)


def test_training_refuses_a_piece_that_does_not_pass_its_check(solutions, noise_folder, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    text = (solutions / "tanh.py").read_text().replace("return dy * (1.0 - y * y)", "return dy")
    (mine / "tanh.py").write_text(text)
    assert dcgan.main(["--dataset", "folder", "--data-dir", noise_folder, "--out", str(tmp_path / "run"),
                       *TINY_FLAGS, "--max-steps", "1", "--layers", str(mine)]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: --layers {mine}: {mine / 'tanh.py'} does not pass its check yet: "
                   f"python -m exercises check tanh --dir {mine}\n")
    assert not os.path.exists(tmp_path / "run")


def notebook_exercise_cell():
    import json
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                           "walkthrough.ipynb")) as f:
        cells = json.load(f)["cells"]
    return next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and "your line: return dx" in
                "".join(c["source"]))


@pytest.mark.parametrize("answer, outcome", [
    (None, "not written yet: write it above"),                 # as committed: the notebook still runs through
    ("return dy * d", "passed"),
    ("return dy", AssertionError),
    ("return -dy * d", AssertionError),
])
def test_the_notebooks_exercise_cell_can_pass_and_fail(answer, outcome, capsys):
    source = notebook_exercise_cell()
    if answer:
        source = source.replace('raise NotImplementedError("not written yet: LeakyReLU.backward")', answer)
    namespace = {"nn": nn, "__name__": "__main__"}
    if outcome is AssertionError:
        with pytest.raises(AssertionError, match="your backward fails its check"):
            exec(compile(source, "<notebook cell>", "exec"), namespace)
        assert "FAILED" in capsys.readouterr().out
    else:
        exec(compile(source, "<notebook cell>", "exec"), namespace)
        assert f"your backward: {outcome}" in capsys.readouterr().out
