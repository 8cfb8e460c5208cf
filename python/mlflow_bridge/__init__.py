"""mlflow-bridge: MLflow deployment targets with a native core."""

from mlflow_bridge._core import __version__
from mlflow_bridge._serve import serve_command

__all__ = ["__version__", "serve_command"]
