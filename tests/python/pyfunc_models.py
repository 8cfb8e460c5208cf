"""pyfunc models used by the tests (saved with code_paths, so the server can import them)."""

import mlflow.pyfunc


class Scale(mlflow.pyfunc.PythonModel):
    """Predicts x * params['scale']."""

    def predict(self, context, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        return (model_input["x"] * scale).tolist()


class Gated(mlflow.pyfunc.PythonModel):
    """Waits until the file params['gate'] exists (a test creates it when it wants the answer), then predicts x for
    each row: a request held in flight for exactly as long as a test needs."""

    def predict(self, context, model_input, params=None):
        import os
        import time

        gate = (params or {}).get("gate", "")
        deadline = time.monotonic() + 600  # a bound for a broken test
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        return model_input["x"].tolist()


class CrashAtLoad(mlflow.pyfunc.PythonModel):
    """A model whose server cannot start."""

    def load_context(self, context):
        raise RuntimeError("boom: this model refuses to load (api_token=tok-SECRET-123)")

    def predict(self, context, model_input, params=None):
        return model_input


class Sleepy(mlflow.pyfunc.PythonModel):
    """Sleeps params['seconds'] (default 0), then predicts x for each row: a request that stays in flight."""

    def predict(self, context, model_input, params=None):
        import time

        time.sleep(float((params or {}).get("seconds", 0.0)))
        return model_input["x"].tolist()
