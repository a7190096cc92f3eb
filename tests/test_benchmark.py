"""The benchmarks run and print what they promise (smoke tests: no timing is asserted)."""
import json

from benchmarks import bench_step


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
    assert bench_step.parse_case("32x16") == (32, 1, 16) and bench_step.parse_case("64x8") == (64, 3, 8)
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
