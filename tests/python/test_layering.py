"""scripts/check_layering.py: the real tree keeps the layering rules, and the script sees each kind of
include that breaks them (on small fake trees built under tmp_path and passed with --root)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_layering.py"

# A tree that keeps every rule: each layer includes its own and lower ones, kyma and aks include the
# shared Kubernetes core and the wiring directly in targets/, bindings include public headers only.
CLEAN = {
    "cpp/include/mlflow_bridge/status.h": "#pragma once\n#include <string>\n",
    "cpp/include/mlflow_bridge/http.h": '#pragma once\n#include "mlflow_bridge/status.h"\n',
    "cpp/include/mlflow_bridge/aws.h": '#pragma once\n#include "mlflow_bridge/http.h"\n',
    "cpp/include/mlflow_bridge/deployment_target.h": '#pragma once\n#include "mlflow_bridge/status.h"\n',
    "cpp/include/mlflow_bridge/sagemaker_client.h": (
        '#pragma once\n#include "mlflow_bridge/aws.h"\n#include "mlflow_bridge/deployment_target.h"\n'),
    "cpp/include/mlflow_bridge/kubernetes_client.h": '#pragma once\n#include "mlflow_bridge/deployment_target.h"\n',
    "cpp/src/common/strings.h": "#pragma once\n",
    "cpp/src/common/status.cpp": '#include "mlflow_bridge/status.h"\n#include "common/strings.h"\n',
    "cpp/src/http/curl_transport.cpp": (
        '#include "mlflow_bridge/http.h"\n#include "common/strings.h"\n#include <curl/curl.h>\n'),
    "cpp/src/aws/sigv4.h": '#pragma once\n#include "mlflow_bridge/aws.h"\n',
    "cpp/src/aws/sigv4.cpp": '#include "aws/sigv4.h"\n#include "common/strings.h"\n// #include "targets/x.h"\n',
    "cpp/src/image/registry_client.h": '#pragma once\n#include "mlflow_bridge/http.h"\n',
    "cpp/src/k8s/kube_client.h": '#pragma once\n#include "mlflow_bridge/http.h"\n',
    "cpp/src/targets/registry_logins.h": '#pragma once\n#include "aws/sigv4.h"\n#include "image/registry_client.h"\n',
    "cpp/src/targets/sagemaker/client.cpp": (
        '#include "mlflow_bridge/sagemaker_client.h"\n#include "aws/sigv4.h"\n#include "targets/registry_logins.h"\n'),
    "cpp/src/targets/kubernetes/core.h": '#pragma once\n#include "k8s/kube_client.h"\n',
    "cpp/src/targets/kubernetes/client.cpp": (
        '#include "mlflow_bridge/kubernetes_client.h"\n#include "targets/kubernetes/core.h"\n'),
    "cpp/src/targets/aks/routes.cpp": '#include "targets/kubernetes/core.h"\n#include "targets/registry_logins.h"\n',
    "cpp/bindings/module.cpp": (
        '#include <pybind11/pybind11.h>\n#include "mlflow_bridge/sagemaker_client.h"\n'
        '#include "mlflow_bridge/kubernetes_client.h"\n'),
}


def run(*args):
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def tree(tmp_path, extra=None):
    """Writes CLEAN plus the extra files ({path: text}) under tmp_path; returns it as the --root."""
    files = dict(CLEAN, **(extra or {}))
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def flagged(tmp_path, extra):
    code, out = run("--root", tree(tmp_path, extra))
    assert code == 1, out
    return out


def test_the_real_tree_keeps_the_layering():
    code, out = run()
    assert code == 0, out


def test_a_clean_tree_passes(tmp_path):
    code, out = run("--root", tree(tmp_path))
    assert code == 0, out
    assert "layering OK" in out


def test_kyma_may_include_the_shared_kubernetes_core(tmp_path):
    code, out = run("--root", tree(tmp_path, {"cpp/src/targets/kyma/apirule.cpp": (
        '#include "targets/kubernetes/core.h"\n#include "mlflow_bridge/kubernetes_client.h"\n')}))
    assert code == 0, out


def test_an_upward_include(tmp_path):
    out = flagged(tmp_path, {"cpp/src/common/retry.cpp": '#include "mlflow_bridge/http.h"\n',
                  "cpp/src/common/url.cpp": '#include "http/curl_transport.cpp"\n'})
    assert "cpp/src/common/retry.cpp -> mlflow_bridge/http.h (upward include: common (rank 0)" in out
    assert "cpp/src/common/url.cpp -> http/curl_transport.cpp (upward include: common (rank 0)" in out


def test_a_peer_include(tmp_path):
    out = flagged(tmp_path, {"cpp/src/image/builder.cpp": '#include "aws/sigv4.h"\n'})
    assert "cpp/src/image/builder.cpp -> aws/sigv4.h (peer include: image may not include aws" in out


def test_targets_included_from_k8s(tmp_path):
    out = flagged(tmp_path, {"cpp/src/k8s/kubeconfig.cpp": '#include "targets/registry_logins.h"\n'})
    assert "cpp/src/k8s/kubeconfig.cpp -> targets/registry_logins.h (only files in targets/ may include" in out


def test_a_cross_target_include(tmp_path):
    out = flagged(tmp_path, {"cpp/src/targets/local/client.cpp": (
        '#include "targets/sagemaker/client.cpp"\n#include "targets/registry_logins.h"\n')})
    assert "cpp/src/targets/local/client.cpp -> targets/sagemaker/client.cpp (cross-target include" in out
    assert "targets/registry_logins.h (" not in out


def test_a_cycle_between_folders(tmp_path):
    out = flagged(tmp_path, {"cpp/src/aws/sts/client.h": '#pragma once\n#include "aws/credentials/chain.h"\n',
                  "cpp/src/aws/credentials/chain.h": '#pragma once\n#include "aws/sts/client.h"\n'})
    cycle = "folder cycle: aws/credentials -> aws/sts -> aws/credentials"
    assert f"cpp/src/aws/credentials/chain.h -> aws/sts/client.h ({cycle})" in out
    assert f"cpp/src/aws/sts/client.h -> aws/credentials/chain.h ({cycle})" in out


def test_bindings_including_a_private_header(tmp_path):
    out = flagged(tmp_path, {"cpp/bindings/adapter.cpp": '#include "mlflow_bridge/aws.h"\n#include "aws/sigv4.h"\n'})
    assert "cpp/bindings/adapter.cpp -> aws/sigv4.h (bindings may include only public headers" in out
    assert "mlflow_bridge/aws.h (" not in out


def test_an_unknown_public_header(tmp_path):
    out = flagged(tmp_path, {"cpp/include/mlflow_bridge/widget.h": '#pragma once\n',
                  "cpp/bindings/widget.cpp": '#include "mlflow_bridge/widget.h"\n'})
    assert "cpp/include/mlflow_bridge/widget.h (public header with no layer: add 'widget.h'" in out
    assert "cpp/bindings/widget.cpp -> mlflow_bridge/widget.h (included public header is missing" in out


def test_a_folder_that_is_no_layer_and_an_include_that_names_nothing(tmp_path):
    out = flagged(tmp_path, {"cpp/src/auth/sigv4.cpp": '#include "common/strings.h"\n',
                  "cpp/src/http/ca_bundle.cpp": '#include "common/strngs.h"\n#include "yaml-cpp/yaml.h"\n'})
    assert "cpp/src/auth/sigv4.cpp (file is in no layer: cpp/src/auth/" in out
    assert "cpp/src/http/ca_bundle.cpp -> common/strngs.h (resolves to no file" in out
    assert "yaml-cpp" not in out


def test_the_graph_counts_the_folder_arrows(tmp_path):
    code, out = run("--root", tree(tmp_path), "--graph")
    assert code == 0, out
    lines = out.splitlines()
    assert "targets/aks -> targets/kubernetes (1)" in lines
    assert "targets/sagemaker -> aws (1)" in lines
    assert "bindings -> public:targets (2)" in lines
    assert lines == sorted(lines)
