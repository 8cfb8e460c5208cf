#!/usr/bin/env bash
# Every test, from nothing: install, build and run the C++ tests (CTest) in a
# normal build and under AddressSanitizer + UndefinedBehaviorSanitizer, then
# the Python tests (pytest), which use the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
jobs=$(nproc 2>/dev/null || echo 2)

for variant in release asan; do
  sanitize=OFF; type=RelWithDebInfo
  [ "$variant" = asan ] && { sanitize=ON; type=Debug; }
  echo "== C++ tests ($variant)"
  cmake -S . -B "build/$variant" -G Ninja -DCMAKE_BUILD_TYPE=$type -DMLFLOW_BRIDGE_BUILD_PYTHON=OFF \
    -DMLFLOW_BRIDGE_BUILD_TESTS=ON -DMLFLOW_BRIDGE_SANITIZE=$sanitize >/dev/null
  cmake --build "build/$variant" -j "$jobs"
  ctest --test-dir "build/$variant" --output-on-failure -j "$jobs"
done

echo "== Python tests"
cd tests/python   # import mlflow_bridge from the installed package, not the source tree
python -m pytest -q -p no:cacheprovider --durations=15 .
