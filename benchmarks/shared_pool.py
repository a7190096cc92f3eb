"""The attempt of docs/benchmarks.md "Every core", second round: one thread pool for the GEMMs and
the element-wise work. Run bench_step with numpy.matmul replaced by nn.cores.matmul:

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.shared_pool --cases 32x128 --threads 2
"""
import sys

import numpy as np

from nn import cores

if __name__ == "__main__":
    np.matmul = cores.matmul              # the layers' calls (xp is numpy); cores.gemm stays the BLAS's
    from benchmarks import bench_step
    bench_step.main(sys.argv[1:])
