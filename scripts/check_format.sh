#!/usr/bin/env bash
# Checks that every C++ file under cpp/ and tests/cpp/ is formatted as .clang-format says, with the
# clang-format on PATH (the config was tuned with Debian 12's clang-format 14; other versions may
# disagree on a few lines). Lists the files that are not, says how to fix them, and exits 1 if any.
# Changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format.sh: clang-format is not on PATH. Install it (Debian/Ubuntu: apt-get install clang-format)" >&2
  echo "and run this again." >&2
  exit 2
fi

mapfile -d '' files < <(find cpp tests/cpp -type f \( -name '*.h' -o -name '*.cpp' \) -print0 | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
  echo "check_format.sh: no *.h or *.cpp files under cpp/ or tests/cpp/" >&2
  exit 2
fi

bad=()
for f in "${files[@]}"; do
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if [ "${#bad[@]}" -ne 0 ]; then
  echo "Not formatted as .clang-format says ($(clang-format --version | sed 's/^.*version //')): ${#bad[@]} of ${#files[@]} files"
  printf '  %s\n' "${bad[@]}"
  echo
  echo "See the changes with:  clang-format --dry-run <file>"
  echo "Fix them with:         clang-format -i ${bad[*]}"
  exit 1
fi
echo "All ${#files[@]} C++ files under cpp/ and tests/cpp/ are formatted."
