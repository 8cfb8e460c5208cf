#!/usr/bin/env bash
# Installs what mlflow-bridge needs on a fresh Debian machine: Debian packages,
# a virtualenv in .venv, PyPI packages, and mlflow-bridge itself (compiled from
# this source tree). Safe to run again: it only installs what is missing and
# rebuilds the package. Each step says what it does and how long it took; the
# full output of the long ones is in build/log/.
#
# MLFLOW_BRIDGE_SETUP_PACKAGE=0 installs everything but mlflow-bridge itself
# (scripts/test.sh installs the binary wheel that scripts/wheel.sh builds).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
LOG=$PWD/build/log

debian_packages() {
  local debs=(g++ make pkg-config libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libarchive-dev zlib1g-dev
              libyaml-cpp-dev libgtest-dev libgmock-dev dpkg-dev
              libevent-dev                                 # mlflow-bridge-serve (its static libraries)
              docker-registry skopeo umoci apache2-utils  # image tests: a real registry and its clients
              debootstrap                                  # the wheel's test on a clean Debian root
              clang-format)                                # scripts/check_format.sh
  # kubectl for the Kubernetes tests: Debian's kubernetes-client only when none is on PATH (it conflicts with newer ones).
  command -v kubectl >/dev/null 2>&1 || debs+=(kubernetes-client)
  local missing=() p
  for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "   all there"
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "   installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >"$LOG/apt.log" 2>&1 ||
    { tail -n 30 "$LOG/apt.log"; return 1; }
}

virtualenv() {
  if [ -x .venv/bin/python ]; then
    echo "   there: $(.venv/bin/python --version)"
  else
    "${PYTHON:-python3}" -m venv .venv
    echo "   made with $(.venv/bin/python --version)"
  fi
}

# The dependencies and the test tools, as pyproject.toml lists them (read with setuptools' own reader).
pypi_packages() {
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  quietly "$LOG/pip-build-tools.log" .venv/bin/python -m pip install "setuptools>=77" wheel "pybind11>=2.12" "cmake>=3.20" ninja
  .venv/bin/python -c '
from setuptools.config.pyprojecttoml import read_configuration
project = read_configuration("pyproject.toml")["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))' >build/requirements.txt
  quietly "$LOG/pip-packages.log" .venv/bin/python -m pip install -r build/requirements.txt
}

package() {
  quietly "$LOG/package.log" .venv/bin/python -m pip install -v --no-deps --no-build-isolation --force-reinstall .
}

mkdir -p "$LOG"
step "Debian packages" debian_packages
step "the virtualenv .venv" virtualenv
step "PyPI packages (mlflow, build and test tools)" pypi_packages
if [ "${MLFLOW_BRIDGE_SETUP_PACKAGE:-1}" != 0 ]; then
  step "compiling the C++ core and installing mlflow-bridge into .venv" package
fi
