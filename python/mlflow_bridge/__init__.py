"""mlflow-bridge: MLflow deployment targets with a native core."""

from mlflow_bridge._core import __version__

__all__ = ["__version__"]
