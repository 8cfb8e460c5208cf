#!/usr/bin/env bash
# Every test, from nothing: install (scripts/setup.sh), check the include layering and the C++ formatting,
# build the binary wheel (scripts/wheel.sh) and
# install it into .venv, run the C++ tests (CTest) against the wheel's core, the Python tests (pytest)
# against the installed wheel, the C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the wheel on a clean Debian root without a compiler (tests/clean_root/run.sh).
#
# What waits on the network or on servers leaves a core idle, and the machine may have two: the sanitizer
# build compiles from the start at a lower priority (through the downloads, the single-threaded configure
# scripts of the wheel's libraries, the test runs and pytest's waits), the clean root is made meanwhile, and
# the wheel's test on it runs alongside pytest. Each step's output still comes in order.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
start=$SECONDS
MLFLOW_BRIDGE_SETUP_PACKAGE=0 ./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
jobs=$(nproc 2>/dev/null || echo 2)
W=$PWD/build/wheel

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

# In the background, at a lower priority: the sanitizer build (it needs only what setup.sh installed), and the
# clean Debian root for the wheel's last test (it waits on the network, not the CPU).
mkdir -p build/log
(renice -n 10 "$BASHPID" >/dev/null; ctest_build asan) >build/log/ctest-asan-background.log 2>&1 &
asan_pid=$!
tests/clean_root/run.sh --root-only >build/log/clean-root-debootstrap.log 2>&1 &
root_pid=$!
clean_pid=
trap 'kill $asan_pid $root_pid $clean_pid 2>/dev/null || true' EXIT

step "the include layering of cpp/ (scripts/check_layering.py)" python scripts/check_layering.py
step "C++ formatting (scripts/check_format.sh)" scripts/check_format.sh

./scripts/wheel.sh --python .venv/bin/python --out build/dist
wheel=$(ls build/dist/mlflow_bridge-*-cp"$(python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"-*.whl)
step "installing $(basename "$wheel") into .venv" quietly build/log/install-wheel.log \
  python -m pip install --no-deps --force-reinstall "$wheel"

ctest_release() { ctest_build release && ctest_run release; }
step "C++ tests (CTest), the wheel's core" ctest_release

# The wheel's test on the clean root runs alongside pytest (pip in the root waits on the network much of the
# time), once the root is made; its output follows pytest's.
root_made=0
wait $root_pid && root_made=1
root_pid=
if [ $root_made = 1 ]; then
  (renice -n 10 "$BASHPID" >/dev/null; begun=$SECONDS; tests/clean_root/run.sh "$wheel" && echo "   (alongside pytest: $((SECONDS - begun)) s)") \
    >build/log/clean-root.log 2>&1 &
  clean_pid=$!
fi

pytest_all() {  # from tests/python: mlflow_bridge is imported from the installed wheel, not the source tree
  (cd tests/python && python -m pytest -q -p no:cacheprovider --durations=15 .)
}
step "Python tests (pytest; the sanitizer build compiles and the clean root's test runs meanwhile)" pytest_all
asan() {
  local rc=0
  wait $asan_pid || rc=$?
  asan_pid=
  [ $rc = 0 ] || { cat build/log/ctest-asan-background.log; return 1; }
  ctest_run asan
}
step "C++ tests (CTest), AddressSanitizer + UndefinedBehaviorSanitizer" asan
clean_root() {
  [ $root_made = 1 ] || { echo "   making the root failed:"; tail -n 30 build/log/clean-root-debootstrap.log; return 1; }
  local rc=0
  wait $clean_pid || rc=$?
  clean_pid=
  cat build/log/clean-root.log
  return $rc
}
step "the wheel on a clean Debian root (debootstrap, no compiler)" clean_root
echo "== all tests passed ($((SECONDS - start)) s)"
