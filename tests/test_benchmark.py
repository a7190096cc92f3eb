"""The benchmarks run and print what they promise (smoke tests: no timing is asserted)."""
import json
import os

import pytest

from benchmarks import bench_step
from tests.conftest import merged


def test_bench_step_prints_one_json_line_per_case(capsys):
    bench_step.main(["--steps", "1", "--warmup", "0", "--cases", "32x64"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["image_size"] == 32 and result["batch"] == 64
    for key in ("images_per_s", "s_per_step", "breakdown_s", "gflop_per_s", "sgemm_gflop_per_s",
                "fraction_of_sgemm"):
        assert key in result
    assert {"gemm", "im2col", "col2im", "batchnorm", "activations", "loss", "adam", "other"} <= set(result["breakdown_s"])
    assert result["breakdown_s"]["gemm"] > 0 and result["s_per_step"] > 0
    assert result["layers"] == "nn" and result["launches"]["total"] > 1000        # dcgan.py's default on numpy


def test_bench_step_leaves_every_layer_as_it_found_it(capsys):
    """Its timers wrap methods of nn and nn.fast and put them back: an inherited method is inherited again."""
    import nn
    from nn import fast
    before = {cls: dict(vars(cls)) for lib in (nn, fast) for cls in vars(lib).values() if isinstance(cls, type)}
    bench_step.main(["--steps", "1", "--warmup", "0", "--cases", "32x8", "--layers", "fast"])
    result = json.loads(capsys.readouterr().out)
    assert result["layers"] == "nn.fast" and result["fused"] is True
    assert 0 < result["launches"]["total"] < 400                                   # what a GPU runs: the target
    for cls, attributes in before.items():
        assert dict(vars(cls)) == attributes, cls


def test_bench_step_cases_any_batch_and_a_clear_error():
    import pytest
    from benchmarks.cases import parse_case
    assert parse_case("32x16") == (32, 1, 16) and parse_case("64x8") == (64, 3, 8)
    with pytest.raises(SystemExit) as stop:
        bench_step.main(["--cases", "48x16"])
    assert stop.value.code == 2


def test_split_ops_prints_the_handoff_and_each_size(capsys):
    import pytest
    from benchmarks import split_ops
    split_ops.main(["--threads", "2", "--sizes-mib", "0.25,1", "--repeats", "3"])
    result = json.loads(capsys.readouterr().out)
    assert result["threads"] == 2 and len(result["handoff_us"]) == 2
    for size in ("0.25", "1"):
        assert set(result[size]) == {"one_us", "split_us", "split/one"} and result[size]["one_us"] > 0
    with pytest.raises(SystemExit) as stop:
        split_ops.main(["--threads", "1"])
    assert stop.value.code == 2


def test_step_lines_counts_what_one_step_runs(capsys):
    """The readable step runs no line of nn/fast/; the fast one does."""
    from benchmarks import step_lines
    step_lines.main([])
    readable = capsys.readouterr().out
    assert "nn/batchnorm.py" in readable and "nn/fast/" not in readable and readable.strip().endswith("(nn)")
    step_lines.main(["--layers", "fast"])
    fast = capsys.readouterr().out
    assert "nn/fast/batchnorm.py" in fast and fast.strip().endswith("(nn.fast)")


# ---------------------------------------------------------------------------- the command-line standard

def refused(main, argv, capsys, *fragments, code=2):
    """``main(argv)`` stops with one error: line holding every fragment, exit ``code``; returns the line."""
    from tests.conftest import one_line_error
    try:
        result = main(argv)
    except SystemExit as stop:
        result = stop.code
    assert result == code, argv
    return one_line_error(capsys, *fragments)


@pytest.mark.parametrize("flags,message", [(["--steps", "0"], "--steps: must be at least 1, got 0"),
                                           (["--steps", "x"], "--steps: 'x' is not an integer"),
                                           (["--threads", "0"], "--threads: must be at least 1, got 0"),
                                           (["--warmup", "-5"], "--warmup: must be 0 or more, got -5"),
                                           (["--cases", "32xabc"], "--cases: '32xabc' is not a comma-separated "
                                                                   "list of SIZExBATCH"),
                                           (["--cases", "32x0"], "--cases: '32x0' is not"),
                                           (["--cases", ""], "--cases: '' is not"),
                                           (["--step", "1"], "unrecognized arguments: --step 1")])
def test_bench_step_bad_values_are_one_line(flags, message, capsys):
    refused(bench_step.main, flags, capsys, message)


def test_bench_step_threads_without_compare_torch_is_refused_before_timing(capsys, monkeypatch):
    """--threads sets PyTorch's threads only; NumPy's BLAS has its own (OMP_NUM_THREADS before start)."""
    monkeypatch.setattr(bench_step, "sgemm_gflops", lambda: pytest.fail("timed before refusing"))
    refused(bench_step.main, ["--threads", "1", "--cases", "32x4"], capsys,
            "--threads", "--compare-torch", "OMP_NUM_THREADS", code=1)


def test_bench_step_without_cupy_is_one_line(capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "cupy", None)
    refused(bench_step.main, ["--backend", "cupy", "--cases", "32x4"], capsys,
            "backend 'cupy' asked for, but CuPy is not installed", code=1)


@pytest.mark.parametrize("flags,message", [(["--repeats", "0"], "--repeats: must be at least 1, got 0"),
                                           (["--sizes-mib", "nan"], "--sizes-mib: 'nan' is not"),
                                           (["--sizes-mib", "inf"], "--sizes-mib: 'inf' is not"),
                                           (["--sizes-mib", "1,0"], "--sizes-mib: '1,0' is not"),
                                           (["--sizes-mib", "1,,2"], "--sizes-mib: '1,,2' is not"),
                                           (["--sizes-mib", "-1"], "--sizes-mib: '-1' is not"),
                                           (["--threads", "0"], "--threads: must be from 2 to 1024, got 0"),
                                           (["--threads", "1"], "--threads: must be from 2 to 1024, got 1"),
                                           (["--threads", "100000"], "--threads: must be from 2 to 1024")])
def test_split_ops_bad_values_are_one_line(flags, message, capsys):
    from benchmarks import split_ops
    refused(split_ops.main, flags, capsys, message)


def test_split_ops_a_size_too_small_to_split_is_one_line(capsys):
    from benchmarks import split_ops
    refused(split_ops.main, ["--threads", "4", "--sizes-mib", "0.000001", "--repeats", "1"], capsys,
            "--sizes-mib 1e-06", "fewer than", code=1)


# ---------------------------------------------------------------------------- ema_study

def ema_flags(tmp_path, *extra, data_dir=None):
    return merged(["--data-dir", data_dir or str(tmp_path / "missing"), "--classifier", str(tmp_path / "c.npz"),
                   "--out", str(tmp_path / "study")], *extra)


@pytest.mark.parametrize("flags,message", [(["--at", "abc"], "--at: 'abc' is not a comma-separated list"),
                                           (["--at", "0"], "--at: '0' is not a comma-separated list"),
                                           (["--decays", "2"], "--decays: '2' is not a comma-separated list"),
                                           (["--decays", "0.9,nan"], "--decays: '0.9,nan' is not"),
                                           (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
                                           (["--n", "0"], "--n: must be at least 1, got 0"),
                                           (["--limit", "-3"], "--limit: must be at least 1, got -3"),
                                           (["--dataset", "cifar10"], "--dataset: invalid choice: 'cifar10'")])
def test_ema_study_bad_values_are_one_line(flags, message, tmp_path, capsys):
    from benchmarks import ema_study
    refused(ema_study.main, ema_flags(tmp_path, *flags), capsys, message)
    assert not (tmp_path / "study").exists()


def test_ema_study_refuses_in_one_line_before_training(tiny_mnist, tiny_classifier, module_no_checksums, tmp_path,
                                                       capsys):
    from benchmarks import ema_study
    refused(ema_study.main, ema_flags(tmp_path, "--at", "3,12"), capsys,
            "--at 12", "--epochs 10", code=1)
    refused(ema_study.main, ema_flags(tmp_path), capsys, "c.npz does not exist", code=1)
    refused(ema_study.main, ema_flags(tmp_path, "--classifier", tiny_classifier), capsys,
            f"the data folder {tmp_path / 'missing'} does not exist", code=1)
    assert not (tmp_path / "study").exists()
    notes = tmp_path / "README.md"
    notes.write_text("mine")
    refused(ema_study.main, ema_flags(tmp_path, "--classifier", tiny_classifier, "--out", str(notes),
                                      data_dir=tiny_mnist), capsys, f"--out {notes}", "it is a file", code=1)
    assert notes.read_text() == "mine"
    earlier = tmp_path / "study"
    earlier.mkdir()
    (earlier / "results.jsonl").write_text('{"seed": 0}\n')
    refused(ema_study.main, ema_flags(tmp_path, "--classifier", tiny_classifier, data_dir=tiny_mnist), capsys,
            "results.jsonl", "--overwrite", code=1)
    assert (earlier / "results.jsonl").read_text() == '{"seed": 0}\n'
    fresh = tmp_path / "fresh"
    err = refused(ema_study.main, ema_flags(tmp_path, "--classifier", tiny_classifier, "--limit", "16", "--out",
                                            str(fresh), "--dataset", "mnist", data_dir=tiny_mnist),
                  capsys, "16 images is fewer than one batch of 128", "raise --limit", code=1)
    assert "--batch-size" not in err                                     # a flag dcgan.py has, this study has not
    assert not fresh.exists()


@pytest.fixture(scope="module")
def batch_of_mnist(tmp_path_factory):
    """An MNIST-format folder of 128 training images: one batch of dcgan.py's default size, what ema_study trains."""
    import numpy as np
    from datasets import write_idx
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    for split, n in (("train", 128), ("t10k", 20)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return str(root)


def test_ema_study_writes_its_rows_and_replaces_an_earlier_study_only_with_overwrite(
        batch_of_mnist, tiny_classifier, tmp_path, capsys, monkeypatch):
    from benchmarks import ema_study
    out = tmp_path / "study"
    flags = ["--dataset", "mnist", "--data-dir", batch_of_mnist, "--classifier", tiny_classifier, "--out", str(out),
             "--epochs", "1", "--at", "1", "--decays", "0.99", "--n", "16"]
    assert ema_study.main(flags) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["generator"] for r in rows] == ["raw G", "ema 0.99 warm-up", "ema 0.99 constant"]
    assert sorted(p.name for p in out.glob("*.npz")) == ["epoch001-ema_0.99_constant.npz",
                                                          "epoch001-ema_0.99_warm-up.npz", "epoch001-raw_G.npz"]
    capsys.readouterr()
    refused(ema_study.main, flags, capsys, "already holds an earlier study", "--overwrite", code=1)
    ran = []
    monkeypatch.setattr(ema_study, "study", lambda args, *rest: ran.append(sorted(os.listdir(args.out))))
    assert ema_study.main(flags + ["--overwrite"]) == 0
    assert ran == [[".lock"]]                                          # the earlier study gone, then this one


def test_a_case_too_large_for_memory_is_one_line_naming_it(capsys, monkeypatch):
    from benchmarks import launches

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 400. GiB")
    monkeypatch.setattr(bench_step, "sgemm_gflops", lambda: 1.0)
    monkeypatch.setattr(bench_step, "make_trainer", no_memory)
    refused(bench_step.main, ["--cases", "32x100000000"], capsys,
            "--cases 32x100000000: out of memory (Unable to allocate 400. GiB): ask for a smaller batch", code=1)
    monkeypatch.setattr(launches, "count_case", no_memory)
    refused(launches.main, ["--cases", "64x100000000"], capsys, "--cases 64x100000000: out of memory", code=1)


def test_bench_step_compare_torch_without_pytorch_says_so_once(capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    monkeypatch.setattr(bench_step, "sgemm_gflops", lambda: 1.0)          # (not what this test is about)
    monkeypatch.setattr(bench_step.launches, "count_case", lambda *args, **kwargs: {"total": 0})
    assert bench_step.main(["--steps", "1", "--warmup", "0", "--cases", "32x4", "--compare-torch"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "note: --compare-torch: PyTorch is not installed here, so only ours is timed\n"
    assert json.loads(captured.out)["torch"] == "not installed"
