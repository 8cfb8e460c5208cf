"""examples/databricks_notebook.py stays a Databricks notebook whose calls the targets accept."""

import ast
import os

from mlflow.deployments import get_deploy_client  # noqa: F401 (the targets' entry points load)
from mlflow_bridge.targets import aks, kyma, local, sagemaker_endpoints

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "databricks_notebook.py")
HELP = {
    "local": local.target_help(),
    "sagemaker-endpoints": sagemaker_endpoints.target_help(),
    "kyma": kyma.target_help(),
    "aks": aks.target_help(),
}


def test_notebook_is_in_databricks_source_format():
    text = open(NOTEBOOK).read()
    assert text.startswith("# Databricks notebook source\n")
    cells = text.split("\n# COMMAND ----------\n")
    assert any("%pip install mlflow-bridge" in c for c in cells)
    assert 'mlflow.set_registry_uri("databricks-uc")' in text
    ast.parse(text)  # every cell is Python (magics are comments)


def test_notebook_deploys_with_every_working_target_using_real_config_keys():
    tree = ast.parse(open(NOTEBOOK).read())
    targets = {
        node.args[0].value.split(":")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "get_deploy_client"
    }
    assert targets == set(HELP)
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict":
            keys |= {kw.arg for kw in node.keywords}
    assert keys
    unknown = [k for k in keys if not any(f"  {k} (" in h for h in HELP.values())]
    assert unknown == []
