#!/usr/bin/env bash
# Every test, from nothing: install (scripts/setup.sh), check the include layering and the C++ formatting,
# build the binary wheel (scripts/wheel.sh) and
# install it into .venv, run the C++ tests (CTest) against the wheel's core, the Python tests (pytest)
# against the installed wheel, the C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (compiled while pytest runs), and the wheel on a clean Debian root without a compiler
# (tests/clean_root/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
start=$SECONDS
MLFLOW_BRIDGE_SETUP_PACKAGE=0 ./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
step "the include layering of cpp/ (scripts/check_layering.py)" python scripts/check_layering.py
step "C++ formatting (scripts/check_format.sh)" scripts/check_format.sh
jobs=$(nproc 2>/dev/null || echo 2)
W=$PWD/build/wheel
# The clean Debian root for the wheel's last test is made meanwhile (it waits on the network, not the CPU).
tests/clean_root/run.sh --root-only >build/log/clean-root-debootstrap.log 2>&1 &
root_pid=$!

./scripts/wheel.sh --python .venv/bin/python --out build/dist
wheel=$(ls build/dist/mlflow_bridge-*-cp"$(python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"-*.whl)
step "installing $(basename "$wheel") into .venv" quietly build/log/install-wheel.log \
  python -m pip install --no-deps --force-reinstall "$wheel"

ctest_build() {  # release: the tests linked with the wheel's core; asan: all compiled with the sanitizers
  local variant=$1 args
  if [ "$variant" = release ]; then
    args=(-DCMAKE_BUILD_TYPE=Release -DMLFLOW_BRIDGE_STATIC_DEPS=ON "-DCMAKE_PREFIX_PATH=$W/deps"
          "-DMLFLOW_BRIDGE_CORE_LIBRARY=$W/core/libmlflow_bridge_core.a")
  else
    args=(-DCMAKE_BUILD_TYPE=Debug -DMLFLOW_BRIDGE_SANITIZE=ON)
  fi
  quietly "build/log/ctest-$variant-build.log" bash -c '
    set -e
    cmake -S . -B "build/$0" -G Ninja -DMLFLOW_BRIDGE_BUILD_PYTHON=OFF -DMLFLOW_BRIDGE_BUILD_TESTS=ON "${@:2}"
    cmake --build "build/$0" -j "$1"' "$variant" "$jobs" "${args[@]}"
}
ctest_run() {
  ctest --test-dir "build/$1" -j "$jobs" --output-on-failure | grep -vE '^ *Start +[0-9]+: |^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed'
}
ctest_release() { ctest_build release && ctest_run release; }
step "C++ tests (CTest), the wheel's core" ctest_release

# The sanitizer build compiles (at a lower priority) while pytest runs: pytest waits on subprocesses and
# servers much of the time, and the two together take less than one after the other.
(renice -n 10 "$BASHPID" >/dev/null; ctest_build asan) >build/log/ctest-asan-background.log 2>&1 &
asan_pid=$!
trap 'kill $asan_pid 2>/dev/null || true' EXIT

pytest_all() {  # from tests/python: mlflow_bridge is imported from the installed wheel, not the source tree
  (cd tests/python && python -m pytest -q -p no:cacheprovider --durations=15 .)
}
step "Python tests (pytest; the sanitizer build compiles meanwhile)" pytest_all
asan() {
  wait $asan_pid || { cat build/log/ctest-asan-background.log; return 1; }
  ctest_run asan
}
step "C++ tests (CTest), AddressSanitizer + UndefinedBehaviorSanitizer" asan
clean_root() {
  wait $root_pid || { echo "   making the root failed:"; tail -n 30 build/log/clean-root-debootstrap.log; return 1; }
  tests/clean_root/run.sh "$wheel"
}
step "the wheel on a clean Debian root (debootstrap, no compiler)" clean_root
echo "== all tests passed ($((SECONDS - start)) s)"
