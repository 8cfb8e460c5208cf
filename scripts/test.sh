#!/usr/bin/env bash
# Every test, from nothing: install (scripts/setup.sh), build the binary wheel (scripts/wheel.sh) and
# install it into .venv, run the C++ tests (CTest) against the wheel's core and again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the Python tests (pytest) against the installed wheel,
# and the wheel on a clean Debian root without a compiler (tests/clean_root/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
start=$SECONDS
MLFLOW_BRIDGE_SETUP_PACKAGE=0 ./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
jobs=$(nproc 2>/dev/null || echo 2)
W=$PWD/build/wheel
# The clean Debian root for the wheel's last test is made meanwhile (it waits on the network, not the CPU).
tests/clean_root/run.sh --root-only >build/log/clean-root-debootstrap.log 2>&1 &
root_pid=$!

./scripts/wheel.sh --python .venv/bin/python --out build/dist
wheel=$(ls build/dist/mlflow_bridge-*-cp"$(python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"-*.whl)
step "installing $(basename "$wheel") into .venv" quietly build/log/install-wheel.log \
  python -m pip install --no-deps --force-reinstall "$wheel"

ctest_variant() {  # release: the tests linked with the wheel's core; asan: all compiled with the sanitizers
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
  ctest --test-dir "build/$variant" -j "$jobs" --output-on-failure | grep -vE '^ *Start +[0-9]+: |^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed'
}
step "C++ tests (CTest), the wheel's core" ctest_variant release
step "C++ tests (CTest), AddressSanitizer + UndefinedBehaviorSanitizer" ctest_variant asan

pytest_all() {  # from tests/python: mlflow_bridge is imported from the installed wheel, not the source tree
  (cd tests/python && python -m pytest -q -p no:cacheprovider --durations=15 .)
}
step "Python tests (pytest)" pytest_all
clean_root() {
  wait $root_pid || { echo "   making the root failed:"; tail -n 30 build/log/clean-root-debootstrap.log; return 1; }
  tests/clean_root/run.sh "$wheel"
}
step "the wheel on a clean Debian root (debootstrap, no compiler)" clean_root
echo "== all tests passed ($((SECONDS - start)) s)"
