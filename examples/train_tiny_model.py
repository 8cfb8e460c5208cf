"""Trains a tiny scikit-learn classifier on iris, logs it to the MLflow store of
MLFLOW_TRACKING_URI and registers it as `demo-iris`; prints the new version.

With --write-input PATH, writes a few rows in the form `mlflow deployments
predict --input-path` reads (pandas records JSON) instead.
"""

import argparse
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-input", metavar="PATH")
    args = parser.parse_args()

    iris = load_iris(as_frame=True)
    x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    if args.write_input:
        x.iloc[[0, 60, 120]].to_json(args.write_input, orient="records")
        return

    import mlflow
    from mlflow.models import infer_signature

    model = LogisticRegression(max_iter=500).fit(x, iris.target)
    mlflow.set_experiment("mlflow-bridge-demo")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="demo-iris",
            signature=infer_signature(x, model.predict(x)),
            input_example=x.head(3),
        )
    print(info.registered_model_version, file=sys.stdout)


if __name__ == "__main__":
    main()
