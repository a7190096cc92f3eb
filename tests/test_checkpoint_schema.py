"""One checkpoint schema, checked when read (gan/checkpoint.py ``expected_entries``, gan/config.py ``RULES``):
an edited, cut or foreign entry is one line naming the first thing that does not fit, for --resume and for
generate alike, never a traceback at the first step and never accepted without a word. The run folder's other
files too (per_class.json, metrics.csv, .lock, samples/).
"""
import json
import os
import shutil

import numpy as np
import pytest

import dcgan

from tests.conftest import one_line_error, train_tiny as train


@pytest.fixture(scope="module")
def finished(noise_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "run"
    assert train(noise_folder, out, "--epochs", "1") == 0
    return out


@pytest.fixture
def copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def edit(run, change):
    path = run / "checkpoint.npz"
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    change(state)
    np.savez(path, **state)


def config_edit(**fields):
    def change(state):
        cfg = json.loads(str(state["config"]))
        cfg.update(fields)
        state["config"] = np.array(json.dumps(cfg))
    return change


def drop(*prefixes):
    def change(state):
        for key in [k for k in state if k.startswith(prefixes)]:
            del state[key]
    return change


def first_moment(state):
    return sorted(k for k in state if k.startswith("opt_G/m."))[0]


def reshape_moment(state):
    key = first_moment(state)
    state[key] = np.zeros((3, 3), np.float32)


EDITS = {
    "nz a string": (config_edit(nz="100"), 'nz is "100", but must be an integer at least 1'),
    "batch_size 0": (config_edit(batch_size=0), "batch_size is 0, but must be an integer at least 1"),
    "head weird": (config_edit(head="weird"), "head is \"weird\", but must be one of 'conv', 'linear'"),
    "real_label 5": (config_edit(real_label=5.0), "real_label is 5.0, but must be a number above 0 and at most 1"),
    "lr NaN": (config_edit(lr=float("nan")), "lr is NaN, but must be a positive number"),
    "config a list": (lambda s: s.__setitem__("config", np.array("[1, 2]")), "it is a JSON list, not an object"),
    "config cut": (lambda s: s.__setitem__("config", np.array(str(s["config"])[:20])), "it is not JSON"),
    "opt_G/t missing": (drop("opt_G/t"), "it lacks opt_G/t"),
    "a config key cut": (lambda s: s.__setitem__("config", np.array(json.dumps(
        {k: v for k, v in json.loads(str(s["config"])).items() if k != "lr"}))), "it lacks lr, which every version"),
    "an unknown config key": (config_edit(speed="fast"), "it holds speed, which no version of this program wrote"),
    "opt_D gone": (drop("opt_D/"), "it lacks opt_D/t, opt_D/lr"),
    "average gone": (drop("G_avg/"), "it lacks G_avg/"),
    "moment reshaped": (reshape_moment, "has the shape (3, 3), but a model of its config needs"),
    "moment alone": (lambda s: s.pop(first_moment(s).replace("/m.", "/v.")), "but lacks opt_G/v."),
    "complex weights": (lambda s: s.__setitem__("G/0.weight", s["G/0.weight"].astype(np.complex64)),
                        "G/0.weight holds complex64, but must be float32"),
    "float64 weights": (lambda s: s.__setitem__("D/0.weight", s["D/0.weight"].astype(np.float64)),
                        "D/0.weight holds float64, but must be float32"),
    "step negative": (lambda s: s.__setitem__("step", np.array(-3)), "is below 0"),
    "order all one image": (lambda s: s["order"].__setitem__(slice(None), 0), "order is not a permutation"),
    "opt lr edited": (lambda s: s.__setitem__("opt_G/lr", np.array(5.0)), "opt_G/lr is 5.0, but the config's is"),
    "opt eps negative": (lambda s: s.__setitem__("opt_G/eps", np.array(-1.0)), "opt_G/eps is -1.0"),
    "opt betas 1": (lambda s: s.__setitem__("opt_G/betas", np.array([1.0, 0.999])), "opt_G/betas is [1.0, 0.999]"),
    "a step count beyond the run": (lambda s: s.__setitem__(sorted(k for k in s if k.startswith("opt_G/step."))[0],
                                                            np.array(99)), "but a parameter's updates are 1 to"),
    "t not the step": (lambda s: s.__setitem__("opt_D/t", np.array(7)), "opt_D/t is 7, but the run took"),
    "running variance negative": (lambda s: s["G/1.running_var"].__setitem__(slice(None), -1.0),
                                  "G/1.running_var holds negative values"),
    "a moment v negative": (lambda s: s[sorted(k for k in s if k.startswith("opt_D/v."))[0]].__setitem__(
        slice(None), -1.0), "holds negative values"),
    "an extra entry": (lambda s: s.__setitem__("extra_thing", np.zeros(3)), "it holds extra_thing, which"),
    "the average without ema": (config_edit(ema=None), "which a checkpoint of its config does not"),
    "batch index beyond the epoch": (lambda s: s.__setitem__("batch_index", np.array(5000)), "do not fit together"),
    "step beyond the position": (lambda s: (s.__setitem__("step", np.array(1000)), s.__setitem__("opt_G/t", np.array(1000)),
                                            s.__setitem__("opt_D/t", np.array(1000)), s.__setitem__("ema_t", np.array(1000))),
                                 "step 1000, epoch 1 and batch 3 do not fit together"),
    "inf weight": (lambda s: s["G/0.weight"].__setitem__((0, 0, 0, 0), np.inf), "NaN or infinite values"),
    "rng broken": (lambda s: s.__setitem__("rng", np.array('{"bit_generator": "Nope"}')),
                   "its random state cannot be restored"),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_checkpoint_is_one_line_on_resume(copy, capsys, name):
    change, says = EDITS[name]
    edit(copy, change)
    before = (copy / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert dcgan.main(["--resume", str(copy), "--epochs", "2", "--no-progress"]) == 1
    one_line_error(capsys, says)
    assert (copy / "checkpoint.npz").read_bytes() == before


SAMPLING_EDITS = ["nz a string", "head weird", "config cut", "average gone", "complex weights", "float64 weights",
                  "running variance negative", "inf weight"]


@pytest.mark.parametrize("name", SAMPLING_EDITS)
def test_an_edited_checkpoint_is_one_line_for_generate(copy, tmp_path, capsys, name):
    change, says = EDITS[name]
    edit(copy, change)
    capsys.readouterr()
    assert dcgan.main(["generate", "--checkpoint", str(copy), "--n", "2", "--out", str(tmp_path / "g")]) == 1
    one_line_error(capsys, says)
    assert not (tmp_path / "g").exists() or os.listdir(tmp_path / "g") == []


def test_the_checkpoint_as_written_fits_the_schema(finished):
    """The control: nothing edited, every check passes, and the schema names every entry the file holds."""
    from gan.checkpoint import checkpoint_config, entry_problem, expected_entries, load_checkpoint
    state = load_checkpoint(str(finished / "checkpoint.npz"))
    cfg = checkpoint_config(state)
    assert entry_problem(state, cfg) is None
    expected, optional = expected_entries(cfg)
    assert set(state) <= set(expected)
    assert set(expected) - set(state) <= optional


@pytest.mark.parametrize("content", ['{"dataset": "folder", "nz": ', "[]", "\x00\xff binary", '{"nz": 0}'])
def test_a_damaged_per_class_json_is_one_line(noise_folder, tmp_path, capsys, content):
    out = tmp_path / "pc"
    assert train(noise_folder, out, "--per-class", "--epochs", "1") == 0
    (out / "per_class.json").write_bytes(content.encode("latin-1"))
    capsys.readouterr()
    assert dcgan.main(["--resume", str(out), "--epochs", "2", "--no-progress"]) == 1
    one_line_error(capsys, f"{out / 'per_class.json'}")


@pytest.mark.parametrize("damage", ["binary metrics", "metrics a folder", "lock a folder", "samples a file"])
def test_the_run_folders_other_files_damaged_are_one_line_or_repaired(copy, capsys, damage):
    """Never a traceback: a metrics.csv of garbage, a folder where a file should be, and the reverse."""
    if damage == "binary metrics":
        (copy / "metrics.csv").write_bytes(os.urandom(300))
    elif damage == "metrics a folder":
        os.remove(copy / "metrics.csv")
        (copy / "metrics.csv").mkdir()
    elif damage == "lock a folder":
        os.remove(copy / ".lock")
        (copy / ".lock").mkdir()
    else:
        shutil.rmtree(copy / "samples")
        (copy / "samples").write_text("not a folder")
    capsys.readouterr()
    code = dcgan.main(["--resume", str(copy), "--epochs", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "a bug" not in err, err
    if code:
        assert err.startswith("error: ") and err.count("\n") == 1, err
