#!/usr/bin/env bash
# Builds the engine with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# a subset of the tests against it (a few minutes once the build is cached).
#
#   tools/sanitize.sh            # build (incrementally) and run the subset
#   tools/sanitize.sh -k lookup  # extra arguments go to pytest
#   SANITIZE_TESTS="tests/engine/test_sizes.py" tools/sanitize.sh   # other test files
#
# The build lives in build/sanitize (its own CMake tree, reused between runs);
# the tests run in build/sanitize/venv, a virtual environment of the test
# dependencies only, with the sanitized extension staged beside a link farm of
# the Python package, so nothing else (an editable install, a wheel) can be
# imported in its place. CPython itself is not instrumented: libasan is
# preloaded, and leak checking is off (the interpreter keeps memory at exit).
# Exits non-zero when the build fails, a test fails, or a sanitizer reports.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD="${DYNAGRAPH_SANITIZE_DIR:-$ROOT/build/sanitize}"
PY="${PYTHON:-python3}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

# Tests that exercise the engine's memory handling: the issue-20 reproductions
# (use-after-free, 64-bit sizes), graph lifetime, every op family's values and
# gradients, autobatching, trainers, and saving/loading.
TESTS=(
  tests/engine/test_param_lifetime.py tests/engine/test_sizes.py tests/engine/test_engine.py tests/engine/test_engine_regressions.py
  tests/ops/test_ops.py tests/ops/shape/test_shape.py tests/ops/reduce/test_reduce.py tests/ops/softmax_loss/test_softmax_loss.py tests/ops/nn/test_nn.py
  tests/ops/conv/test_conv.py tests/ops/noise/test_noise.py tests/engine/test_autobatch.py tests/training/test_trainers.py tests/io/test_io.py
  tests/io/test_file_safety_load.py tests/io/test_file_safety_save.py tests/distributed/test_distributed_engine.py tests/device
)
# SANITIZE_TESTS="tests/engine/test_sizes.py ..." runs those files instead.
if [[ -n "${SANITIZE_TESTS:-}" ]]; then read -r -a TESTS <<<"$SANITIZE_TESTS"; fi

echo "== sanitizer venv ($BUILD/venv)"
VENV="$BUILD/venv"
if [[ ! -x "$VENV/bin/python" ]] || [[ ! -f "$VENV/.ready" ]] || [[ ! -x "$VENV/bin/ninja" ]] || [[ ! -x "$VENV/bin/ray" ]]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # The package's runtime dependencies, the tests' and the build's (pybind11, Eigen).
  "$VENV/bin/python" -m pip install --quiet "numpy>=1.22" "tqdm>=4.60" "scipy-openblas32>=0.3.27" \
    "pytest>=7" "hypothesis>=6" "pybind11>=2.12" "cmeel-eigen>=3.4" "cmake>=3.26" ninja \
    "ray>=2.9" "threadpoolctl>=3"  # dynagraph.distributed: its engine hooks and device-parameter tests
  touch "$VENV/.ready"
fi

echo "== build (ASan + UBSan) in $BUILD/cmake"
if [[ ! -f "$BUILD/cmake/CMakeCache.txt" ]]; then
  "$VENV/bin/cmake" -S "$ROOT" -B "$BUILD/cmake" -G Ninja -DCMAKE_MAKE_PROGRAM="$VENV/bin/ninja" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDYNAGRAPH_SANITIZE=ON -DDYNAGRAPH_OPENMP=OFF \
    -DPython_EXECUTABLE="$VENV/bin/python" \
    -Dpybind11_DIR="$("$VENV/bin/python" -m pybind11 --cmakedir)" >/dev/null
fi
"$VENV/bin/cmake" --build "$BUILD/cmake"

echo "== stage the package with the sanitized extension"
STAGE="$BUILD/stage/dynagraph"
rm -rf "$BUILD/stage"
mkdir -p "$STAGE"
for entry in "$ROOT"/dynagraph/*; do
  case "$(basename "$entry")" in
    _core*.so | __pycache__) ;;
    *) ln -s "$entry" "$STAGE/" ;;
  esac
done
cp "$BUILD"/cmake/_core*.so "$STAGE/"

# libstdc++ is preloaded too: python does not link it, so when only libasan is
# preloaded, ASan's __cxa_throw interceptor finds no real __cxa_throw at start-up
# and aborts ("CHECK failed ... real___cxa_throw") at the first C++ exception the
# engine raises into Python -- every test of an error path.
ASAN_LIB="$(gcc -print-file-name=libasan.so)"
STDCXX_LIB="$(gcc -print-file-name=libstdc++.so)"
export LD_PRELOAD="$ASAN_LIB $STDCXX_LIB"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$BUILD/stage"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONSAFEPATH=1  # not the checkout's own dynagraph/ from the current directory

where="$("$VENV/bin/python" -c 'import dynagraph._core as c; print(c.__file__)')"
case "$where" in
  "$BUILD"/stage/*) ;;
  *) echo "sanitize.sh: imported $where instead of the sanitized build" >&2; exit 1 ;;
esac

echo "== pytest under ASan + UBSan"
# Deselected: a test that caps its child's address space (RLIMIT_AS) to make thread starts fail;
# ASan reserves terabytes of shadow address space, so under it the child cannot even start.
"$VENV/bin/python" -m pytest -x -q -p no:cacheprovider "${TESTS[@]}" \
  --deselect tests/engine/test_engine_regressions.py::test_threads_the_os_refuses_are_an_error_and_fewer_then_work "$@"
