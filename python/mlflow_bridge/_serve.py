"""Where the native model server of this installation is (decision 0009).

The wheel ships the binary `mlflow-bridge-serve` and its worker program `serve_worker.py` together in
mlflow_bridge/serve/; the binary finds the worker next to itself.
"""

import os
from typing import NamedTuple

SERVE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve")


class ServeCommand(NamedTuple):
    binary: str  # mlflow-bridge-serve
    worker_script: str  # serve_worker.py, next to it


def serve_command() -> ServeCommand:
    """The server binary and its worker program. Raises FileNotFoundError when this installation has no
    server (a build with -DMLFLOW_BRIDGE_BUILD_SERVE=OFF, or an in-place build that did not copy it)."""
    binary = os.path.join(SERVE_DIR, "mlflow-bridge-serve")
    worker = os.path.join(SERVE_DIR, "serve_worker.py")
    missing = [p for p in (binary, worker) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"mlflow-bridge's model server is not installed: {', '.join(missing)} missing. Reinstall mlflow-bridge "
            "from a wheel, or build it from source with libevent-dev installed."
        )
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"{binary} is not executable: reinstall mlflow-bridge")
    return ServeCommand(binary, worker)
