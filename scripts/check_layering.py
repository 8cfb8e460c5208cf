#!/usr/bin/env python3
"""Checks that the C++ includes point down the layers (DESIGN.md, "Layout").

Reads every `#include "..."` in cpp/src/**, cpp/bindings/** and cpp/include/** (includes with angle
brackets are ignored) and prints each include that breaks a rule, as

    file -> included header (rule broken)

then exits 1; exits 0 when there is none.

Layers. A file's layer is its first folder under cpp/src/; the ranks are

    common 0 | http 1 | aws, azure, oci, k8s, image, serve 2 (peers) | targets 3 | bindings 4

A public header cpp/include/mlflow_bridge/X.h gets its layer from PUBLIC_HEADERS below (which names the
folder it belongs to; its layer is that folder's first part). cpp/bindings/ is the top layer.

Rules.
  - A file includes headers of its own layer or of a lower rank only.
  - The rank-2 folders are peers: none of them includes another.
  - Nothing under cpp/src includes targets/... except files in targets/ itself. Inside targets/,
    targets/<a>/... may include targets/<a>/..., the files directly in targets/ (shared wiring) and
    targets/kubernetes/... (the Kubernetes core shared by kyma and aks); not another target's folder.
    The files directly in targets/ (the wiring) may include any target folder; the cycle check
    keeps that one-way.
  - cpp/bindings/ includes public headers (mlflow_bridge/*.h) of any layer, nothing else of ours.
  - No cycle between folders (cpp/src folders to two levels, e.g. `aws`, `targets/sagemaker`; public
    headers count as `public:<layer>`).
  - A quoted include is resolved against cpp/src, cpp/include and then the including file's own
    folder; one that resolves to nothing is reported (a typo?) unless it is a known third-party header
    (THIRD_PARTY below).
  - A file in a folder that is no layer, or a public header missing from PUBLIC_HEADERS, is reported.

Usage:
    scripts/check_layering.py            check; exit 1 and list what breaks a rule
    scripts/check_layering.py --graph    print the folder-level arrows with their include counts
    scripts/check_layering.py --root DIR check another tree (the tests build small fake ones)
"""

import argparse
import collections
import os
import re
import sys

RANK = {
    "common": 0,
    "http": 1,
    "aws": 2, "azure": 2, "oci": 2, "k8s": 2, "image": 2, "serve": 2,
    "targets": 3,
    "bindings": 4,
}

# Public header (cpp/include/mlflow_bridge/<name>) -> the folder it belongs to; its layer is that
# folder's first part. A new public header must be added here.
PUBLIC_HEADERS = {
    "status.h": "common",
    "clock.h": "common",
    "config.h": "common",
    "logging.h": "common",
    "retry.h": "common",
    "http.h": "http",
    "aws.h": "aws",
    "image.h": "image",
    "deployment_target.h": "targets",
    "targets.h": "targets",
    "local_client.h": "targets/local",
    "sagemaker_client.h": "targets/sagemaker",
    "kubernetes_client.h": "targets/kubernetes",
}

# Quoted includes that are someone else's headers: a prefix of the path as written.
THIRD_PARTY = (
    "pybind11/", "gtest/", "gmock/", "curl/", "openssl/", "yaml-cpp/", "nlohmann/", "absl/",
    "archive.h", "archive_entry.h", "zlib.h", "zconf.h", "Python.h",
)

# The shared Kubernetes core that the targets/kyma and targets/aks folders may include.
SHARED_TARGET = "kubernetes"

SOURCE_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".inc", ".ipp", ".c", ".cc", ".cpp", ".cxx")
TREES = ("cpp/src", "cpp/include", "cpp/bindings")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.MULTILINE)


def strip_comments(text):
    """Blanks out // and /* */ comments (keeping newlines), minding string, char and raw literals."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two == "//":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif two == "/*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "R" and text[i + 1:i + 2] == '"' and re.search(r"(^|[^\w])(u8|u|U|L)?$", text[max(0, i - 3):i]):
            m = re.match(r'R"([^()\\ \t\n]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:j])
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Unit:
    """Where a file sits: kind (src, public, bindings, other), layer, folder (graph node), target."""

    def __init__(self, path):
        self.path = path
        self.kind, self.layer, self.folder, self.target, self.problem = "other", None, path, None, None
        self.where = ""
        parts = path.split("/")
        if path.startswith("cpp/src/"):
            self.kind = "src"
            dirs = parts[2:-1]
            self.folder = "/".join(dirs[:2]) or "(cpp/src)"
            if dirs and dirs[0] in RANK and dirs[0] != "bindings":
                self.layer = dirs[0]
                if dirs[0] == "targets" and len(dirs) > 1:
                    self.target = dirs[1]
            else:
                self.where = "cpp/src/" + dirs[0] + "/ is not a layer folder" if dirs else "it is directly in cpp/src/"
                self.problem = "file is in no layer: %s; the layers are the folders %s" % (
                    self.where, ", ".join(sorted(k for k in RANK if k != "bindings")))
        elif path.startswith("cpp/include/"):
            self.kind, self.folder = "public", "public:?"
            name = path[len("cpp/include/"):]
            if not name.startswith("mlflow_bridge/") or name.count("/") != 1:
                self.problem = "public headers live directly in cpp/include/mlflow_bridge/"
            elif name[len("mlflow_bridge/"):] not in PUBLIC_HEADERS:
                self.problem = ("public header with no layer: add %r with its layer to PUBLIC_HEADERS "
                                "in scripts/check_layering.py" % name[len("mlflow_bridge/"):])
            else:
                home = PUBLIC_HEADERS[name[len("mlflow_bridge/"):]].split("/")
                self.layer = home[0]
                self.target = home[1] if home[0] == "targets" and len(home) > 1 else None
                self.folder = "public:" + self.layer
        elif path.startswith("cpp/bindings/"):
            self.kind, self.layer, self.folder = "bindings", "bindings", "bindings"


def source_files(root):
    for tree in TREES:
        top = os.path.join(root, tree)
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(SOURCE_SUFFIXES):
                    yield os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")


def resolve(root, including, header):
    """The repo-relative path an include names, or None: cpp/src, cpp/include, then the own folder."""
    bases = ("cpp/src", "cpp/include", os.path.dirname(including))
    for base in bases:
        candidate = os.path.normpath(os.path.join(base, header)).replace(os.sep, "/")
        if candidate.startswith("../"):
            continue
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return None


def is_third_party(header):
    return header.startswith(THIRD_PARTY)


def rule_broken(src, dst):
    """The rule an arrow src -> dst breaks, or None."""
    if src.layer is None:
        return None  # the file itself is reported once
    if dst.kind == "other":
        return "includes a file outside cpp/src, cpp/include and cpp/bindings"
    if dst.layer is None:
        if dst.kind == "public":
            return "included public header is missing from PUBLIC_HEADERS"
        return "included header is in no layer: " + dst.where
    if src.kind == "bindings":
        if dst.kind != "public":
            return "bindings may include only public headers mlflow_bridge/*.h"
        return None
    if dst.kind == "bindings":
        return "nothing includes cpp/bindings/"
    if dst.layer == "targets" and src.layer != "targets" and dst.kind == "src":
        return "only files in targets/ may include targets/..."
    if RANK[dst.layer] > RANK[src.layer]:
        return "upward include: %s (rank %d) may not include %s (rank %d)" % (
            src.layer, RANK[src.layer], dst.layer, RANK[dst.layer])
    if src.layer != dst.layer and RANK[src.layer] == RANK[dst.layer]:
        return "peer include: %s may not include %s (the rank-2 folders do not include each other)" % (
            src.layer, dst.layer)
    if src.layer == "targets" and dst.layer == "targets" and src.target is not None:
        if dst.target not in (None, src.target, SHARED_TARGET):
            return ("cross-target include: targets/%s may include targets/%s/..., files directly in "
                    "targets/ and targets/%s/... only" % (src.target, src.target, SHARED_TARGET))
    return None


def scan(root):
    """-> (problems, edges): problems[(file, header or None)] is the list of rules broken there;
    edges[(a, b)] the list of (file, header, broken rule or None) on the folder arrow a -> b."""
    problems = collections.defaultdict(list)
    edges = collections.defaultdict(list)
    for path in source_files(root):
        src = Unit(path)
        if src.problem:
            problems[(path, None)].append(src.problem)
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = strip_comments(f.read())
        for header in INCLUDE.findall(text):
            target = resolve(root, path, header)
            if target is None:
                if not is_third_party(header):
                    problems[(path, header)].append(
                        "resolves to no file under cpp/src, cpp/include or the including folder: a typo? "
                        "if it is a third-party header, add it to THIRD_PARTY in scripts/check_layering.py")
                continue
            dst = Unit(target)
            broken = rule_broken(src, dst)
            if broken:
                problems[(path, header)].append(broken)
            edges[(src.folder, dst.folder)].append((path, header, broken))
    return problems, edges


def cycles(edges):
    """One cycle (a list of folders, first repeated last) for every strongly connected set of folders."""
    graph = collections.defaultdict(set)
    for a, b in edges:
        if a != b:
            graph[a].add(b)
    nodes = sorted(set(graph) | {b for bs in graph.values() for b in bs})
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def connect(v):  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.add(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(scc)

    sys.setrecursionlimit(max(1000, 4 * len(nodes) + 100))
    for v in nodes:
        if v not in index:
            connect(v)
    found = []
    for scc in sccs:
        start = min(scc)
        came_from = {start: None}
        queue = collections.deque([start])
        path = None
        while queue and path is None:  # breadth first: the shortest way from start back to start
            v = queue.popleft()
            for w in sorted(graph[v] & scc):
                if w == start:
                    path = []
                    while v is not None:
                        path.append(v)
                        v = came_from[v]
                    path = list(reversed(path)) + [start]
                    break
                if w not in came_from:
                    came_from[w] = v
                    queue.append(w)
        found.append(path)
    return sorted(found)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.dirname(here), help="repository root (default: this script's)")
    parser.add_argument("--graph", action="store_true", help="print the folder-level arrows with counts")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    if not os.path.isdir(os.path.join(root, "cpp")):
        parser.error("no cpp/ folder under %s" % root)
    problems, edges = scan(root)

    if args.graph:
        flagged = False
        for (a, b), arrows in sorted(edges.items()):
            if a == b:
                continue
            mark = "  !" if any(broken for _, _, broken in arrows) else ""
            flagged = flagged or bool(mark)
            print("%s -> %s (%d)%s" % (a, b, len(arrows), mark))
        if flagged:
            print("(! = an include on that arrow breaks a rule; run without --graph for the list)")
        return 0

    for cycle in cycles(edges):
        loop = " -> ".join(cycle)
        for a, b in zip(cycle, cycle[1:]):
            for path, header, _ in edges[(a, b)]:
                problems[(path, header)].append("folder cycle: " + loop)
    if problems:
        for (path, header), rules in sorted(problems.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            arrow = path if header is None else "%s -> %s" % (path, header)
            print("%s (%s)" % (arrow, "; ".join(dict.fromkeys(rules))))
        print("\n%d include(s) or file(s) break the layering rules (see the docstring of "
              "scripts/check_layering.py and DESIGN.md, \"Layout\")." % len(problems))
        return 1
    print("layering OK: %d includes in %d files" % (
        sum(len(v) for v in edges.values()), len(list(source_files(root)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
