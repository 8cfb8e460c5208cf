# Databricks notebook source
# MAGIC %md
# MAGIC # Serve a Unity Catalog model with mlflow-bridge
# MAGIC
# MAGIC One notebook, one set of calls, every platform: the model version below is served on this
# MAGIC cluster's driver (`local`), on AWS SageMaker, on SAP BTP Kyma and on AKS, and scored with
# MAGIC `predict`. No docker, kubectl or AWS CLI is needed: the binary wheel carries its native core.
# MAGIC
# MAGIC Runs on Databricks Runtime 14.3 LTS and newer (Ubuntu 22.04+, Python 3.10 to 3.12) and on
# MAGIC serverless environments 1 to 4. The credentials each target needs come from a Databricks
# MAGIC secret scope (here `mlflow-bridge`); make it once with the Databricks CLI, e.g.
# MAGIC
# MAGIC     databricks secrets create-scope mlflow-bridge
# MAGIC     databricks secrets put-secret mlflow-bridge aws-access-key-id
# MAGIC     databricks secrets put-secret mlflow-bridge aws-secret-access-key
# MAGIC     databricks secrets put-secret mlflow-bridge kyma-kubeconfig < kyma-sa-kubeconfig.yaml
# MAGIC     databricks secrets put-secret mlflow-bridge aks-kubeconfig < aks-kubeconfig.yaml
# MAGIC     databricks secrets put-secret mlflow-bridge acr-sp-id
# MAGIC     databricks secrets put-secret mlflow-bridge acr-sp-secret
# MAGIC
# MAGIC Run the cells of the targets you use; each section stands alone after the first three cells.

# COMMAND ----------

# MAGIC %pip install mlflow-bridge

# COMMAND ----------

dbutils.library.restartPython()  # noqa: F821 (dbutils is a Databricks notebook global)

# COMMAND ----------

import os
import stat
import tempfile

import mlflow
import pandas as pd
from mlflow.deployments import get_deploy_client

mlflow.set_registry_uri("databricks-uc")  # models:/<catalog>.<schema>.<model>/<version> from Unity Catalog

dbutils.widgets.text("model", "main.default.churn")  # noqa: F821
dbutils.widgets.text("version", "1")  # noqa: F821
MODEL_URI = f"models:/{dbutils.widgets.get('model')}/{dbutils.widgets.get('version')}"  # noqa: F821
NAME = dbutils.widgets.get("model").split(".")[-1].replace("_", "-")  # noqa: F821 (a DNS label for Kubernetes)
SCOPE = "mlflow-bridge"


def secret(key):
    """A secret of the scope; Databricks redacts its value in notebook output."""
    return dbutils.secrets.get(scope=SCOPE, key=key)  # noqa: F821


def private_file(text, suffix):
    """Writes a secret (a kubeconfig) to a file only this user can read; returns its path."""
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path

print(MODEL_URI)

# COMMAND ----------

# MAGIC %md
# MAGIC Give the rows to score: a DataFrame with the model's input columns (here taken from the
# MAGIC model's input example, when it was logged with one).

# COMMAND ----------

from mlflow.models import Model

model_dir = mlflow.artifacts.download_artifacts(MODEL_URI)
example = Model.load(model_dir).load_input_example(model_dir)
if example is None:
    raise ValueError(f"{MODEL_URI} has no input example: set rows = pd.DataFrame(...) with its input columns")
rows = pd.DataFrame(example)
display(rows)  # noqa: F821

# COMMAND ----------

# MAGIC %md
# MAGIC ## `local`: a model server on the driver
# MAGIC Useful to try the model before it goes anywhere; it lives as long as the cluster.

# COMMAND ----------

local = get_deploy_client("local")
local.create_deployment(NAME, MODEL_URI, config={"workers": "1"})
print(local.predict(NAME, rows))
print(local.get_deployment(NAME)["url"])

# COMMAND ----------

local.delete_deployment(NAME)

# COMMAND ----------

# MAGIC %md
# MAGIC ## `sagemaker-endpoints`: AWS SageMaker real-time endpoint
# MAGIC The model is uploaded to S3 and served with MLflow's `mlflow-pyfunc` image from your ECR (or, with
# MAGIC `registry=`, an image of its own built here without docker). The role is the SageMaker execution
# MAGIC role; the keys are an IAM user's (or leave them out on a cluster with an instance profile).

# COMMAND ----------

os.environ["AWS_ACCESS_KEY_ID"] = secret("aws-access-key-id")
os.environ["AWS_SECRET_ACCESS_KEY"] = secret("aws-secret-access-key")

sagemaker = get_deploy_client("sagemaker-endpoints:/eu-west-1")
sagemaker.create_deployment(
    NAME,
    MODEL_URI,
    config={
        "execution_role_arn": "arn:aws:iam::123456789012:role/sagemaker-execution",
        "instance_type": "ml.m5.large",
        "image_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-pyfunc:" + mlflow.__version__,
    },
)
print(sagemaker.predict(NAME, rows))

# COMMAND ----------

sagemaker.delete_deployment(NAME)

# COMMAND ----------

# MAGIC %md
# MAGIC ## `kyma`: SAP BTP Kyma
# MAGIC The model's image is built here and pushed to your registry (an ACR with a service principal
# MAGIC here), then served by a Deployment behind an APIRule at `https://<name>.<cluster domain>`.
# MAGIC The kubeconfig is a service account's (a token kubeconfig: Kyma's default OIDC kubeconfig
# MAGIC needs a browser login); `KUBECONFIG` points every call of the client at it, as for kubectl.

# COMMAND ----------

os.environ["KUBECONFIG"] = private_file(secret("kyma-kubeconfig"), ".yaml")
kyma = get_deploy_client("kyma:/models")
kyma_config = {
    "registry": f"myregistry.azurecr.io/{NAME}",
    "registry_username": secret("acr-sp-id"),
    "registry_password": secret("acr-sp-secret"),
}
kyma.create_deployment(NAME, MODEL_URI, config=kyma_config)
print(kyma.get_deployment(NAME)["url"])
print(kyma.predict(NAME, rows))

# COMMAND ----------

kyma.delete_deployment(NAME)

# COMMAND ----------

# MAGIC %md
# MAGIC ## `aks`: Azure Kubernetes Service
# MAGIC The same image on AKS, behind an ingress-nginx Ingress at the host you name (or
# MAGIC `expose=loadbalancer` for a public IP).

# COMMAND ----------

os.environ["KUBECONFIG"] = private_file(secret("aks-kubeconfig"), ".yaml")
aks = get_deploy_client("aks:/models")
aks_config = dict(kyma_config, host=f"{NAME}.example.com")
aks.create_deployment(NAME, MODEL_URI, config=aks_config)
print(aks.predict(NAME, rows))

# COMMAND ----------

aks.delete_deployment(NAME)
