"""The suite passes from a plain clone: nothing in it reads outside the repository, and the reference
data it reads is in tests/data/ with its licences."""

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
# A path that leaves the repository: the folder beside it, three levels up, or its "reference" folder
# joined as path parts.
OUTSIDE = re.compile(r"""\.\./\.\./\.\.|\.\./shared|["']shared["']\s*[,/)]\s*["']reference["']|["']\.\.["']\s*,\s*["']\.\.["']\s*,\s*["']\.\.["']""")


def sources():
    for top in ("tests", "cpp", "scripts", "bench", "examples"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d not in ("data", "__pycache__")]
            for f in files:
                if f.endswith((".py", ".cpp", ".h", ".sh", ".txt")) and f != "test_repository.py":
                    yield os.path.join(folder, f)
    yield os.path.join(ROOT, "CMakeLists.txt")


def test_no_source_reads_outside_the_repository():
    offenders = []
    for path in sources():
        for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
            if OUTSIDE.search(line) or re.search(r'__FILE__.*"\.\."\s*/\s*"\.\."\s*/\s*"\.\."', line):
                offenders.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_pattern_sees_what_it_is_for():
    assert OUTSIDE.search('os.path.join(here, "..", "..", "..", "shared")')
    beside = ".." + "/" + "shared"  # (spelled in parts, so that this file does not name the path itself)
    assert OUTSIDE.search(f"CRD = '{beside}/reference/kyma/x.yaml'")
    assert OUTSIDE.search('p / "' + "shared" + '" / "reference"')
    assert not OUTSIDE.search('os.path.join(here, "..", "data", "kyma")')


def test_reference_data_carries_its_licences():
    for folder in ("aws-sigv4-test-suite", "kyma", "oci", "azureml"):
        names = os.listdir(os.path.join(DATA, folder))
        assert any(n.upper().startswith("LICENSE") for n in names), folder
    assert "NOTICE" in os.listdir(os.path.join(DATA, "aws-sigv4-test-suite"))
    cases = os.listdir(os.path.join(DATA, "aws-sigv4-test-suite", "aws-sig-v4-test-suite"))
    assert len(cases) >= 20
