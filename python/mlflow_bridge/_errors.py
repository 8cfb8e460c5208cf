"""The one place where errors of the native core become MlflowException."""

import functools

from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from mlflow_bridge import _core

# Core status code names are MLflow's error code names.
_CODES = {
    name: getattr(databricks_pb2, name)
    for name in (
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "TEMPORARILY_UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "INTERNAL_ERROR",
    )
}


def to_mlflow_exception(error: "_core.Error") -> MlflowException:
    code = _CODES.get(getattr(error, "code", ""), databricks_pb2.INTERNAL_ERROR)
    return MlflowException(getattr(error, "message", str(error)), error_code=code)


def translate_errors(fn):
    """Decorator: a `_core.Error` raised by `fn` is re-raised as MlflowException."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _core.Error as e:
            raise to_mlflow_exception(e) from None

    return wrapper
