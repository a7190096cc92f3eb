#!/usr/bin/env bash
# The GPU check in one command: every figure issue "On a real GPU" asks for, into one folder.
#
#   bash benchmarks/gpu_check.sh                     # on a machine with an NVIDIA GPU and CuPy
#
# Steps (each logged to its own file; a failing step is recorded and the script goes on):
#   env.txt          GPU, driver, CUDA runtime, CuPy, NumPy, PyTorch versions
#   pytest.txt       the whole test suite; with a usable GPU every layer test also runs on CuPy,
#                    float64 gradient checks included, and fused kernels are compared with unfused (dtypes too)
#   kernels.txt      tests/test_cupy_kernels.py with this machine's CuPy: every fused kernel traced,
#                    compiled for sm_75/80/90, float32 throughout (what CI proves without a GPU)
#   train.txt, run/  dcgan.py --backend cupy, $EPOCHS epochs of Fashion-MNIST: s/epoch, grid, losses.png
#   generate.txt     dcgan.py generate from the run's checkpoint
#   classifier.txt   examples/train_classifier.py on the GPU, then
#   evaluate.txt     dcgan.py evaluate (FCD, coverage, confidence) -> quality.json
#   bench*.txt       benchmarks/bench_step.py --compare-torch, CuPy's float32 GEMMs without and with TF32,
#                    and without fused kernels (DCGAN_FUSE=0: what nn/fast/fuse.py saves)
#   summary.txt      one line per step: exit code and seconds
#
# Every step runs even when one before it failed; at the end a failed step makes the script say which
# ("error: 2 of 8 steps failed: train, evaluate ...", on stderr) and exit 1, else it exits 0.
#
# Settings (environment variables):
#   DATA_DIR   the four Fashion-MNIST .gz files (default .device-data/fashion-mnist: carry them there)
#   OUT        the result folder (default gpu-check/)
#   BACKEND    cupy (default); numpy runs the same steps on the CPU (how the tests check this script)
#   EPOCHS     training epochs (default 5);  TRAIN_FLAGS, CLASSIFIER_FLAGS, EVAL_FLAGS, BENCH_FLAGS: extra flags
#   PYTEST     1 (default) runs the test suite, 0 skips it
set -uo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${DATA_DIR:-.device-data/fashion-mnist}"
OUT="${OUT:-gpu-check}"
BACKEND="${BACKEND:-cupy}"
EPOCHS="${EPOCHS:-5}"
PYTHON="${PYTHON:-python}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: > "$summary"
failed=()    # the steps that exited non-zero, in order

step() {   # step NAME COMMAND...: run it, log stdout+stderr to OUT/NAME.txt, record exit code and time
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name: $*" | tee "$OUT/$name.txt"
    "$@" >> "$OUT/$name.txt" 2>&1
    local rc=$?
    local command="$*"
    printf '%-12s rc=%-3s %5ss  %s\n' "$name" "$rc" "$((SECONDS - start))" "${command%%$'\n'*}" | tee -a "$summary"
    [ "$rc" -eq 0 ] || failed+=("$name")
    return 0     # the next steps still run: each is worth its figures on its own
}

step env "$PYTHON" -c '
import platform, subprocess, numpy
print("python", platform.python_version(), "numpy", numpy.__version__)
try:
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip())
except OSError:
    print("nvidia-smi: not found")
try:
    import cupy
    rt = cupy.cuda.runtime
    print("cupy", cupy.__version__, "CUDA runtime", rt.runtimeGetVersion(), "driver", rt.driverGetVersion())
except Exception as e:
    print("cupy: not usable:", type(e).__name__, e)
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
          "matmul tf32", torch.backends.cuda.matmul.allow_tf32, "cudnn tf32", torch.backends.cudnn.allow_tf32)
except ImportError:
    print("torch: not installed")
'

if [ "${PYTEST:-1}" = "1" ]; then
    step pytest "$PYTHON" -m pytest -q
    # CI's check of every fused kernel (traced by CuPy, compiled by NVRTC, float32), with the CuPy installed here
    cupy_site="$("$PYTHON" -c 'import os, cupy; print(os.path.dirname(os.path.dirname(cupy.__file__)))')"
    step kernels env DCGAN_CUPY_DIRS="$cupy_site" "$PYTHON" -m pytest -q tests/test_cupy_kernels.py
fi

data=(--dataset fashion-mnist --data-dir "$DATA_DIR")
# shellcheck disable=SC2086
# --overwrite: a second run of this script replaces its own results (they are this script's, in $OUT)
step train "$PYTHON" dcgan.py "${data[@]}" --backend "$BACKEND" --epochs "$EPOCHS" --out "$OUT/run" \
    --overwrite --no-progress ${TRAIN_FLAGS:-}
step generate "$PYTHON" dcgan.py generate --checkpoint "$OUT/run/checkpoint.npz" --n 64 \
    --out "$OUT/generated" --overwrite --backend "$BACKEND"
# shellcheck disable=SC2086
step classifier "$PYTHON" -m examples.train_classifier "${data[@]}" --backend "$BACKEND" \
    --out "$OUT/classifier.npz" --overwrite ${CLASSIFIER_FLAGS:-}
# shellcheck disable=SC2086
step evaluate "$PYTHON" dcgan.py evaluate --checkpoint "$OUT/run/checkpoint.npz" --classifier "$OUT/classifier.npz" \
    --backend "$BACKEND" --json "$OUT/quality.json" --overwrite ${EVAL_FLAGS:-}
# shellcheck disable=SC2086
step bench env CUPY_TF32=0 "$PYTHON" -m benchmarks.bench_step --backend "$BACKEND" --compare-torch ${BENCH_FLAGS:-}
# shellcheck disable=SC2086
step bench_tf32 env CUPY_TF32=1 "$PYTHON" -m benchmarks.bench_step --backend "$BACKEND" --compare-torch ${BENCH_FLAGS:-}
# shellcheck disable=SC2086
step bench_unfused env CUPY_TF32=0 DCGAN_FUSE=0 "$PYTHON" -m benchmarks.bench_step --backend "$BACKEND" ${BENCH_FLAGS:-}

echo "results in $OUT/ (summary.txt)"
if [ "${#failed[@]}" -gt 0 ]; then
    steps=$(wc -l < "$summary")
    names=$(printf '%s, ' "${failed[@]}")
    echo "error: ${#failed[@]} of $((steps)) steps failed: ${names%, }" \
         "(their logs: $OUT/NAME.txt; summary.txt has every step)" >&2
    exit 1
fi
