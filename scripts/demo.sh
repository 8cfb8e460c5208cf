#!/usr/bin/env bash
# The main job, from nothing: install, train a tiny scikit-learn model, log and
# register it in a local MLflow store, deploy it with `mlflow deployments
# create -t local`, score a few rows with `mlflow deployments predict`, print
# the predictions, and remove the deployment again.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export MLFLOW_TRACKING_URI="sqlite:///$PWD/.demo/mlflow.db"
export MLFLOW_BRIDGE_HOME="$PWD/.demo/bridge"
mkdir -p .demo

echo "== training and registering the model"
version=$(cd .demo && python ../examples/train_tiny_model.py | tail -n 1)   # artifacts in .demo/mlruns
model_uri="models:/demo-iris/$version"

echo "== deploying $model_uri"
mlflow deployments delete -t local --name demo-iris >/dev/null   # from an earlier run, if any
mlflow deployments create -t local --name demo-iris -m "$model_uri"
mlflow deployments get -t local --name demo-iris | grep -E '^(status|url|model_uri):'

echo "== scoring"
python examples/train_tiny_model.py --write-input .demo/input.json
mlflow deployments predict -t local --name demo-iris --input-path .demo/input.json --output-path .demo/predictions.json
echo "predictions: $(cat .demo/predictions.json)"

mlflow deployments delete -t local --name demo-iris
