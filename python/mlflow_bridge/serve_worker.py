"""A model worker of mlflow-bridge-serve, the native model server (docs/decisions/0009).

The server starts it as `<python> serve_worker.py --fd 3 --model <dir>` with its end of a socketpair as fd 3.
It loads the model with MLflow, says it is ready, then answers each prediction request with MLflow's own
request handling (mlflow.pyfunc.scoring_server.invocations), so that every answer (body, status, content type)
is what MLflow's scoring server would send.

Standalone on purpose: the standard library and mlflow only (an image needs nothing else, and this file never
imports the mlflow_bridge package).

Frames, both ways: u32 length (big endian, the bytes after it) | u32 header length | header JSON | payload.
  worker -> server, once: {"type": "ready", "mlflow_version", "flavors", "loader_module", "input_schema",
                            "signature_inputs", "signature_outputs", "pid"}
                      or: {"type": "error", "message"}, then the worker exits with status 1
  server -> worker:       {"type": "predict", "id", "content_type"} + request body (content_type null: no header)
  worker -> server:       {"type": "reply", "id", "status", "content_type"} + response body
The worker exits when the server closes its end. It ignores SIGINT and SIGTERM: the server decides when it
stops (it drains first), so that a signal sent to the whole process group does not cut requests short.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import traceback

_PREFIX = struct.Struct(">II")


class _Link:
    def __init__(self, fd):
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(True)

    def _read_exactly(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._sock.recv_into(view[got:], n - got)
            if k == 0:
                return None
            got += k
        return bytes(buf)

    def read(self):
        """The next frame as (header dict, payload bytes); None once the server closed the link."""
        prefix = self._read_exactly(_PREFIX.size)
        if prefix is None:
            return None
        length, header_length = _PREFIX.unpack(prefix)
        if length < 4 or header_length > length - 4:
            raise ValueError(f"malformed frame: length {length}, header length {header_length}")
        rest = self._read_exactly(length - 4)
        if rest is None:
            return None
        return json.loads(rest[:header_length]), rest[header_length:]

    def write(self, header, payload=b""):
        h = json.dumps(header).encode("utf-8")
        self._sock.sendall(_PREFIX.pack(4 + len(h) + len(payload), len(h)) + h + payload)


def _rendered_content_type(mimetype):
    # What Starlette's Response sends for this media type: text/* gets "; charset=utf-8".
    if mimetype and mimetype.startswith("text/") and "charset=" not in mimetype.lower():
        return mimetype + "; charset=utf-8"
    return mimetype


def _load(model_dir):
    from mlflow.pyfunc import scoring_server

    # As MLflow's scoring server loads it (SERVING_MODEL_CONFIG honoured).
    loader = getattr(scoring_server, "load_model_with_mlflow_config", None)
    if loader is None:
        import mlflow.pyfunc

        loader = mlflow.pyfunc.load_model
    return loader(model_dir)


def _ready_header(model):
    import mlflow

    flavors = dict(getattr(model.metadata, "flavors", None) or {})
    loader_module = (flavors.get("python_function") or {}).get("loader_module")
    return {
        "type": "ready",
        "mlflow_version": getattr(mlflow, "__version__", ""),
        "flavors": sorted(flavors),
        "loader_module": loader_module,
        "input_schema": model.metadata.get_input_schema() is not None,
        # The signature's schemas as MLmodel holds them (JSON text; "" without): the v2 routes' metadata and input form.
        "signature_inputs": _schema_json(model.metadata.get_input_schema()),
        "signature_outputs": _schema_json(model.metadata.get_output_schema()),
        "pid": os.getpid(),
    }


def _schema_json(schema):
    return schema.to_json() if schema is not None else ""


def _answer(scoring_server, mlflow_exception, model, input_schema, content_type, body):
    """(status, content type, body bytes) as MLflow's scoring server answers POST /invocations."""
    try:
        result = scoring_server.invocations(body, content_type, model, input_schema)
        return result.status, _rendered_content_type(result.mimetype), result.response.encode("utf-8")
    except mlflow_exception as e:
        # MLflow's _async_catch_mlflow_exception
        return e.get_http_status_code(), "application/json", e.serialize_as_json().encode("utf-8")
    except Exception:
        # Any other exception reaches Starlette's ServerErrorMiddleware, which logs it and answers this.
        traceback.print_exc()
        return 500, "text/plain; charset=utf-8", b"Internal Server Error"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="this worker's end of its link to the server")
    parser.add_argument("--model", required=True, help="the MLflow model directory")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    link = _Link(args.fd)

    try:
        model = _load(args.model)
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        input_schema = model.metadata.get_input_schema()
        ready = _ready_header(model)
    except BaseException as e:  # noqa: BLE001 - every load failure is reported to the server
        traceback.print_exc()
        link.write({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 1

    # As MLflow's scoring server (scoring_server.init) does once its model is loaded.
    try:
        from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT

        os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"
    except ImportError:  # an MLflow without it
        os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"
    link.write(ready)

    while True:
        frame = link.read()
        if frame is None:
            return 0
        header, body = frame
        if header.get("type") != "predict":
            print(f"serve_worker: unexpected frame {header!r}", file=sys.stderr)
            return 1
        status, content_type, response = _answer(
            scoring_server, MlflowException, model, input_schema, header.get("content_type"), body
        )
        link.write({"type": "reply", "id": header.get("id"), "status": status, "content_type": content_type}, response)


if __name__ == "__main__":
    sys.exit(main())
