#!/usr/bin/env bash
# Fills tools/gpu_wheels/ (git-ignored) with the wheels tools/gpu_check.sh needs
# on a GPU machine without network whose image lacks them (CPython 3.12,
# manylinux x86_64). The image is expected to hold numpy, pytest, hypothesis,
# tqdm, CMake, ninja, scikit-build-core, pybind11, CuPy and the cuda-toolkit
# wheels; name more packages as arguments to fetch them too.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=tools/gpu_wheels
mkdir -p "$DEST"
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any; do
  PLATFORMS+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "cmeel-eigen>=3.4" cmeel "scipy-openblas32>=0.3.27" "$@"
ls -l "$DEST"
du -sh "$DEST"
