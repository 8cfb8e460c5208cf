#!/usr/bin/env bash
# The binary wheel on a machine that has never seen a compiler: a minimal Debian root made with
# debootstrap (python3, python3-venv and ca-certificates; no compiler, no -dev packages), the wheel
# installed there with pip into a virtualenv, then tests/clean_root/check.py inside it: `mlflow
# deployments help -t kyma`, the local target's create, predict and delete on a small model, and TLS
# with the bundled libcurl finding the CA certificates on a Debian and on a Red Hat-style layout and
# from CURL_CA_BUNDLE / SSL_CERT_FILE. A library the wheel forgot to bundle fails here.
#
#   tests/clean_root/run.sh dist/mlflow_bridge-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl
#   tests/clean_root/run.sh --root-only    # only make the root (scripts/test.sh does it while compiling)
#
# Needs root (debootstrap, chroot, mounts) and Debian's debootstrap; the root is kept in
# build/clean-root/root for the next run (delete it to start over). DEBOOTSTRAP_MIRROR picks the mirror.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WHEEL=${1:?usage: run.sh WHEEL | --root-only}
WORK=$REPO/build/clean-root
ROOT=$WORK/root
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [ ! -f "$WORK/.root-ready" ]; then
  echo "   debootstrap $suite (minbase + python3, python3-venv, ca-certificates) into $ROOT"
  $SUDO rm -rf "$ROOT"
  mkdir -p "$WORK"
  $SUDO debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$suite" "$ROOT" \
    "${DEBOOTSTRAP_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log"; exit 1; }
  touch "$WORK/.root-ready"
fi
[ "$WHEEL" = --root-only ] && exit 0
WHEEL=$(realpath "$WHEEL")

mounted=()
cleanup() {
  # Whatever the check left running inside the root (a model server) goes before the mounts do.
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && $SUDO kill -9 "${p#/proc/}" 2>/dev/null
  done
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do $SUDO umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

root_python=$($SUDO chroot "$ROOT" python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
case $(basename "$WHEEL") in
  *-"$root_python"-*) ;;
  *) echo "run.sh: the clean root's Python is $root_python; $(basename "$WHEEL") is for another one" >&2; exit 2 ;;
esac
for tool in gcc cc g++ c++ clang; do
  if $SUDO chroot "$ROOT" sh -c "command -v $tool" >/dev/null; then
    echo "run.sh: the clean root has a compiler ($tool): not a clean machine" >&2
    exit 1
  fi
done

# What pip in the root needs to reach PyPI as this machine does: its name service and its CA bundle.
$SUDO cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -f /etc/hosts ] && $SUDO cp /etc/hosts "$ROOT/etc/hosts"
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
$SUDO cp "$host_ca" "$ROOT/etc/pip-ca.pem"
$SUDO mkdir -p "$ROOT/proc" "$ROOT/check" "$ROOT/root/.cache/pip"
$SUDO mount -t proc proc "$ROOT/proc" && mounted+=("$ROOT/proc")
cache=$("$REPO/.venv/bin/python" -m pip cache dir 2>/dev/null || true)
if [ -n "$cache" ] && [ -d "$cache" ] && $SUDO mount --bind "$cache" "$ROOT/root/.cache/pip"; then
  mounted+=("$ROOT/root/.cache/pip")  # this machine's pip cache: fewer downloads
fi

# The check's files: the wheel, the script, and a test CA with a server certificate (made here with
# trustme, which the root does not have).
$SUDO rm -rf "$ROOT/check"/*
$SUDO cp "$WHEEL" "$HERE/check.py" "$ROOT/check/"
"$REPO/.venv/bin/python" - "$WORK/tls" <<'PY'
import pathlib, sys, trustme
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
ca, other = trustme.CA(), trustme.CA()
ca.cert_pem.write_to_path(str(out / "ca.pem"))
other.cert_pem.write_to_path(str(out / "other-ca.pem"))
server = ca.issue_cert("localhost", "127.0.0.1")
server.private_key_and_cert_chain_pem.write_to_path(str(out / "server.pem"))
PY
$SUDO cp -r "$WORK/tls" "$ROOT/check/tls"

in_root() { $SUDO chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
echo "   installing $(basename "$WHEEL") with pip into a virtualenv in the root"
in_root sh -c 'rm -rf /opt/venv && python3 -m venv /opt/venv' 
in_root PIP_CERT=/etc/pip-ca.pem PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/venv/bin/python -m pip install -q \
  "/check/$(basename "$WHEEL")" >"$WORK/pip.log" 2>&1 || { tail -n 30 "$WORK/pip.log"; exit 1; }
in_root /opt/venv/bin/python -W ignore /check/check.py
