"""benchmarks/launches.py counts what it says it counts (a known sequence, exactly) and runs on a step."""
import numpy as np

from benchmarks import launches
from nn import backend
from tests.backends import using


def test_the_counter_counts_a_known_sequence_exactly():
    launches.COUNTS.clear()
    with backend.stand_in("numpy", launches.CountingNamespace()), using("numpy"):
        xp = backend.xp()
        a = backend.to_device(np.ones((4, 6)))          # a transfer, not a kernel
        b = a * 2.0                                     # 1 elementwise
        b += a                                          # 1 in place
        xp.sum(b, axis=0)                               # 1 reduction
        xp.reshape(b, (6, 4))                           # a view: 0
        xp.permute_dims(b, (1, 0))                      # a view: 0
        xp.reshape(xp.permute_dims(b, (1, 0)), (24,))   # must copy: 1
        c = xp.zeros((3,))                              # 1 fill
        xp.empty((3,))                                  # 0
        c[1:] = 5.0                                     # 1 copy
        xp.matmul(a, xp.matrix_transpose(a))            # 1 GEMM
        t = xp.permute_dims(a, (1, 0))                  # a view: 0
        xp.reshape(t, (24,))                            # must copy: 1
        xp.reshape(t * 2.0, (24,))                      # 1 elementwise; CuPy writes it C-contiguous: a view, 0
    assert launches.COUNTS["other"] == 9
    assert launches.COUNTS["transfers"] == 1


def test_concat_and_stack_count_as_cupy_joins():
    """One copy per array, as CuPy does up to 8 arrays or for large ones; one kernel (and a transfer of the
    table of addresses) for more than 8 small arrays of one dtype."""
    with backend.stand_in("numpy", launches.CountingNamespace()), using("numpy"):
        xp = backend.xp()
        small = [xp.zeros((10,)) for _ in range(9)]
        big = [xp.zeros((600_000,)) for _ in range(9)]              # 2.4 MB each
        for arrays, join, expected in ((small[:4], xp.stack, (4, 0)), (small[:8], xp.concat, (8, 0)),
                                       (small, xp.concat, (1, 1)), (big, xp.concat, (9, 0))):
            launches.COUNTS.clear()
            join(arrays)
            assert (launches.COUNTS["other"], launches.COUNTS["transfers"]) == expected, (len(arrays), expected)


def test_count_step_on_a_tiny_trainer():
    from benchmarks.cases import make_trainer
    from nn import fast
    backend.use("numpy")
    trainer = make_trainer(32, 1, 4, layers=fast)                  # what a GPU runs
    trainer.step(*trainer.next_batch())
    counts = launches.count_step(trainer)
    assert set(launches.PARTS) <= set(counts) and counts["total"] == sum(counts[p] for p in launches.PARTS)
    assert counts["adam"] < 40 and counts["im2col"] > 0 and counts["col2im"] > 0 and counts["gemm"] > 0


def test_bad_cases_are_one_line(capsys):
    import pytest
    from tests.conftest import one_line_error
    for cases in ("32xabc", "32x0", "48x16", "32x8,"):
        with pytest.raises(SystemExit) as stop:
            launches.main(["--cases", cases])
        assert stop.value.code == 2
        one_line_error(capsys, f"--cases: '{cases}' is not a comma-separated list of SIZExBATCH")
