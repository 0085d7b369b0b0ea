#!/usr/bin/env bash
# The GPU check of issue 21, for a machine with a GPU and no network:
#   1. builds the CUDA backend (system nvcc when there is one, else the
#      cuda-toolkit wheel) into a venv that sees the packages of the python3 it
#      starts from (a GPU image's own venv: numpy, pytest, CuPy, CMake, ...) and
#      installs only what that lacks, offline, from tools/gpu_wheels/
#      (git-ignored; `tools/fetch_gpu_wheels.sh` fills it here, where there is
#      network: cmeel-eigen, cmeel, scipy-openblas32 for CPython 3.12);
#   2. runs the `cuda` tests with DYNAGRAPH_REQUIRE_GPU=1 (no GPU is a failure,
#      not a skip) and the emulated-device tests;
#   3. runs the GPU benchmark (benchmarks/gpu.py): Tree-LSTM and a dim-1024
#      chain on GPU:0 against the CPU (and PyTorch eager on the GPU if installed).
# Budget: under 8 minutes (one architecture, the quick benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
WHEELS="$PWD/tools/gpu_wheels"
VENV="${DYNAGRAPH_GPU_VENV:-$PWD/.gpu-venv}"
PIP_OFFLINE=()
if [ -d "$WHEELS" ]; then PIP_OFFLINE=(--no-index --find-links "$WHEELS"); fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"

# The image's python3 is often a venv itself, whose packages a plain
# --system-site-packages venv would not see: a .pth file adds its folders.
BASE_SITE=$(python3 -c 'import sysconfig; p = sysconfig.get_paths(); print(p["purelib"]); print(p["platlib"])' | sort -u)
python3 -m venv --system-site-packages "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
echo "$BASE_SITE" > "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_gpu_image_site.pth"
python -m pip install --quiet "${PIP_OFFLINE[@]}" "scikit-build-core>=0.11" "pybind11>=2.12" "cmeel-eigen>=3.4" cmake ninja \
  numpy tqdm scipy-openblas32 pytest hypothesis
if command -v nvcc >/dev/null; then
  echo "== nvcc: $(command -v nvcc) ($(nvcc --version | tail -1))"
  export CMAKE_ARGS="-DCMAKE_CUDA_COMPILER=$(command -v nvcc) ${CMAKE_ARGS:-}"  # preferred over the wheel
else
  echo "== nvcc: none on PATH, using the cuda-toolkit wheel"
  pip install --quiet "${PIP_OFFLINE[@]}" "cuda-toolkit[nvcc,cudart,cublas,cccl]==13.0.3.0"
fi
# CuPy for the DLPack / CuPy-input tests (a GPU machine of this project has it; install if offered).
python -c "import cupy" 2>/dev/null || pip install --quiet "${PIP_OFFLINE[@]}" cupy-cuda13x || true

echo "== build (DYNAGRAPH_BACKEND=cuda, sm_90)"
DYNAGRAPH_BACKEND=cuda DYNAGRAPH_CUDA_ARCHITECTURES="${DYNAGRAPH_CUDA_ARCHITECTURES:-90-real}" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" timeout 300 \
  pip install --quiet --no-build-isolation --no-deps "${PIP_OFFLINE[@]}" -e .
python -c "import dynagraph as dy; print('devices:', dy.available_devices())"

echo "== cuda tests (a missing GPU fails) and the emulated-device tests"
DYNAGRAPH_REQUIRE_GPU=1 timeout 180 pytest -q -p no:cacheprovider tests/device/test_cuda.py tests/device/test_device.py \
  tests/device/test_device_ops.py tests/device/test_device_training.py

echo "== GPU benchmark"
timeout 120 python benchmarks/gpu.py --quick
echo "== gpu_check done in $(( $(date +%s) - START )) s"
