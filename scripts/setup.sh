#!/usr/bin/env bash
# Installs what mlflow-bridge needs on a fresh Debian machine: Debian packages,
# a virtualenv in .venv, PyPI packages, and mlflow-bridge itself. Safe to run
# again: it only installs what is missing and rebuilds the package.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(g++ make pkg-config libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libarchive-dev zlib1g-dev libyaml-cpp-dev libgtest-dev libgmock-dev
      docker-registry skopeo umoci apache2-utils)  # the last line: image tests (a real registry and its clients)
# kubectl for the Kubernetes tests: Debian's kubernetes-client only when none is on PATH (it conflicts with newer ones).
command -v kubectl >/dev/null 2>&1 || DEBS+=(kubernetes-client)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "== installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating the virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
echo "== installing PyPI packages and mlflow-bridge"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "setuptools>=77" wheel "pybind11>=2.12" "cmake>=3.20" ninja
.venv/bin/python -m pip install -q --no-build-isolation ".[test]"
