"""pyfunc models of the parity corpus (test_serve_parity.py), saved with code_paths so both servers import them."""

import numpy as np
import pandas as pd

import mlflow.pyfunc


class Scale(mlflow.pyfunc.PythonModel):
    """x * scale + shift, with the label and tags params echoed: params of four kinds in the signature."""

    def predict(self, context, model_input, params=None):
        params = params or {}
        out = model_input["x"] * params.get("scale", 1.0) + params.get("shift", 0)
        return pd.DataFrame({"y": out, "label": params.get("label", ""), "tags": len(params.get("tags", []))})


class Tensor(mlflow.pyfunc.PythonModel):
    """A 2-D float tensor in, a 2-D tensor out (x * 2, x + 0.1)."""

    def predict(self, context, model_input, params=None):
        a = np.asarray(model_input, dtype=float)
        return np.stack([a[:, 0] * 2, a[:, 1] + 0.1], axis=1)


class Frame(mlflow.pyfunc.PythonModel):
    """Answers a DataFrame: a string, a float with NaN and -inf, a bool and an int column."""

    def predict(self, context, model_input, params=None):
        x = model_input["x"].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.log(x)
        return pd.DataFrame(
            {"label": np.where(x > 0, "pos", "neg"), "score": x / 3, "log": log, "big": x > 1, "n": model_input["n"]}
        )


class Upper(mlflow.pyfunc.PythonModel):
    """Answers strings: the text column upper-cased, with its length."""

    def predict(self, context, model_input, params=None):
        return [f"{t.upper()}:{len(t)}" for t in model_input["text"]]


class Hinted(mlflow.pyfunc.PythonModel):
    """MLflow 3's type-hint signature: a list of strings in, a list of strings out."""

    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s[::-1] for s in model_input]


class Echo(mlflow.pyfunc.PythonModel):
    """Answers its input as MLflow parsed it (with or without a signature): shows the parsing itself."""

    def predict(self, context, model_input, params=None):
        return model_input
